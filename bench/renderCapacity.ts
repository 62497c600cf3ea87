/** Part 2 of BENCHMARKS.md, capacity: a configuration's figure and every step of its ladders. */
import { fmtRate, markdownTable } from "./renderFormat";
import type { CapacityConfig, CapacityResults } from "./results";
import { median } from "./stats";

/** One configuration's capacity over its ladders: the median, with every run's figure. */
export function capacityCell(c: CapacityConfig): string {
  const caps = c.runs.map((r) => r.capacity);
  const rates = caps.map((x) => x.rate);
  if (rates.some((r) => r === null)) {
    return `< ${fmtRate(Math.min(...caps.map((x) => x.firstFail ?? Number.POSITIVE_INFINITY)))} (lowest step failed)`;
  }
  const m = median(rates as number[]);
  const atLeast = caps.some((x) => x.bound === "at-least");
  const each = caps.map((x) => `${fmtRate(x.rate)}${x.bound === "at-least" ? "+" : ""}`).join(", ");
  return `${atLeast ? "≥ " : ""}${fmtRate(m)} (runs: ${each})`;
}

export function capacitySection(c: CapacityResults): string {
  const parts = [
    "### 2. Capacity, every step",
    "",
    `Generator: bench/ntpload.c (sendmmsg, one socket, per-packet source address via`,
    `IP_PKTINFO from ${c.sources.toLocaleString("en-US")} addresses of 198.18.0.0/15 owned by the loader namespace`,
    "through an AnyIP route). Each step sends at a fixed rate for",
    `${c.stepSeconds} s and counts distinct answered requests (KoD counts as lost) for 0.3 s more;`,
    "steps climb a ladder until one fails, then bisect twice between the last pass and the",
    `first fail. ${c.pinned ? "The daemon is pinned to CPU 1 with its namespace's receive path steered there (RPS), the generator to CPU 0: CPU 1 does what a one-vCPU droplet's CPU does for NTP." : "Not pinned (fewer than 2 CPUs)."}`,
    'The member namespace has the deployed notrack nftables table loaded. "member drops" =',
    "UDP RcvbufErrors in the member's namespace (requests dropped because the daemon's socket",
    'buffer was full); "gen drops" = the same in the generator\'s namespace (must be 0).',
    "",
    `Generator check (target drops every request in raw prerouting): unpaced ${fmtRate(c.generator.unpacedRate)};`,
    `paced at ${fmtRate(c.generator.pacedTarget)} it sent ${fmtRate(c.generator.pacedAchieved)}.`,
  ];
  for (const cfg of c.configs) {
    parts.push("", `#### ${cfg.name}`, "");
    parts.push(
      `Socket receive buffer observed (ss \`rb\`): ${cfg.observedRcvbuf ?? "?"} bytes. Capacity: ${capacityCell(cfg)}.`,
      "",
    );
    const rows: string[][] = [];
    for (const [i, run] of cfg.runs.entries()) {
      for (const s of run.steps) {
        rows.push([
          String(i + 1),
          fmtRate(s.rate),
          fmtRate(s.achievedRate),
          `${(s.loss * 100).toFixed(2)}%`,
          String(s.kod),
          String(s.memberRcvbufErrors),
          String(s.loaderRcvbufErrors),
          s.rateLimited === null ? "?" : String(s.rateLimited),
          s.verdict,
        ]);
      }
    }
    parts.push(
      markdownTable(
        [
          "run",
          "target",
          "sent",
          "loss",
          "KoD",
          "member drops",
          "gen drops",
          "rate-limited",
          "verdict",
        ],
        rows,
      ),
    );
  }
  return parts.join("\n");
}
