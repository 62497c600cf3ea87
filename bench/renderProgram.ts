/** Part 3 of BENCHMARKS.md, program cost: index.ts under Pulumi's mock runtime, by members. */
import { markdownTable } from "./renderFormat";
import type { ProgramResults } from "./results";

export function programSection(p: ProgramResults): string {
  const rows = p.rows.map((x) => [
    String(x.members),
    String(x.resources),
    x.medianMs.toFixed(0),
    x.ms.map((v) => v.toFixed(0)).join(", "),
    x.medianWallMs.toFixed(0),
    (x.medianMs / x.members).toFixed(1),
  ]);
  return [
    "### 3. Program cost (index.ts under Pulumi's mock runtime, bench/evalProgram.ts)",
    "",
    "Each run is a fresh process. In-program ms = require(index.ts) until every output and",
    "resource registration settled; process ms includes node + tsx start-up.",
    "",
    markdownTable(
      [
        "members",
        "resources",
        "median in-program ms",
        "runs ms",
        "median process ms",
        "ms per member",
      ],
      rows,
    ),
    "",
    `Growth factor (t50 − t1)/(t10 − t1) = ${p.growth === null ? "n/a (t10 ≤ t1)" : p.growth.toFixed(2)}; linear would be 49/9 = ${p.linear.toFixed(2)}.`,
  ].join("\n");
}
