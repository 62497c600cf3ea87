/** Part 1b of BENCHMARKS.md, lab start → verified member: its summary row, verdict and runs. */
import { LAB_TARGET_SECONDS } from "./labRuns";
import { fmtSummary, markdownTable, measuredLine } from "./renderFormat";
import type { CriticalSplit, LabResults } from "./results";
import { median, type Summary } from "./stats";

const LAB_LABEL = "lab start → verified member (`npm run lab`, both verification phases)";

export function labRow(l: LabResults | undefined): string[] {
  if (!l) return [LAB_LABEL, "not run", "—", ""];
  if (!l.available) return [LAB_LABEL, `lab not available: ${l.reason ?? "?"}`, "—", "no figure"];
  const v = l.steps?.verified ?? l.labSeconds;
  return [
    LAB_LABEL,
    fmtSummary(v, "s", 1),
    "—",
    `${targetVerdict(v)}; droplet created → ntpd synchronised inside: ${fmtSummary(l.syncSeconds, "s", 1)}`,
  ];
}

/** The measured median against issue 10's target, said plainly. */
export function targetVerdict(s: Summary | undefined): string {
  if (!s) return `target ≤ ${LAB_TARGET_SECONDS} s median: no figure`;
  const met = s.median <= LAB_TARGET_SECONDS;
  return `target ≤ ${LAB_TARGET_SECONDS} s median (issue 10, set before the pre-check existed): ${met ? "met" : `NOT met, ${(s.median - LAB_TARGET_SECONDS).toFixed(1)} s over`}`;
}

const SPLIT_ROWS: readonly [keyof CriticalSplit, string][] = [
  ["toDroplet", "lab start → droplet active (topology, program start, API create)"],
  ["boot", "droplet active → cloud-init done (boot)"],
  ["sync", "boot done → ntpd synchronised (first sync)"],
  ["precheckAfterSync", "synchronised → pre-check passed (on the droplet's own address)"],
  ["assignment", "pre-check passed → reserved IPv4 assigned"],
  ["postcheck", "assigned → post-assignment checks passed (on the reserved addresses)"],
];

const f1 = (x: number | null | undefined) => (typeof x === "number" ? x.toFixed(1) : "—");

export function labSection(l: LabResults): string {
  const rows = l.runs.map((x, i) => [
    String(i + 1),
    x.ok ? "verified" : "FAILED",
    f1(x.timeline?.dropletActive),
    f1(x.timeline?.precheckPassed),
    f1(x.timeline?.ipv4Assigned),
    f1(x.timeline?.verified),
    f1(x.labSeconds),
    f1(x.syncSeconds),
    f1(x.bootSeconds),
    x.load ?? "?",
    x.error ? x.error.slice(0, 160) : "",
  ]);
  const st = l.steps;
  const parts = [
    "### 1b. Lab start → verified member",
    "",
    l.available
      ? "`npm run lab -- --report F` per run (the dev stack: one member). Each step is the lab log's time (seconds from lab start) of the resource that ends it: the Droplet, the last `<member>-precheck-*` command (checks on the droplet's own public address), the reserved IPv4 assignment, the last `<member>-verify-*` command (checks on the reserved addresses). Boot and sync come from the lab's JSON report (counted from the droplet's creation)."
      : `**Lab not available: ${l.reason ?? "?"}** — no figure is given.`,
    "",
    measuredLine(l.measured),
    "",
  ];
  if (rows.length > 0)
    parts.push(
      markdownTable(
        [
          "#",
          "result",
          "→ droplet active s",
          "→ pre-check passed s",
          "→ IPv4 assigned s",
          "→ verified s",
          "lab report s",
          "droplet → synced s",
          "droplet → booted s",
          "load after",
          "error",
        ],
        rows,
      ),
      "",
    );
  if (st) {
    parts.push(
      markdownTable(
        ["from lab start to", "median (min–max, n)"],
        [
          ["droplet active", fmtSummary(st.dropletActive, "s", 1)],
          ["pre-check passed", fmtSummary(st.precheckPassed, "s", 1)],
          ["reserved IPv4 assigned", fmtSummary(st.ipv4Assigned, "s", 1)],
          ["verified", fmtSummary(st.verified, "s", 1)],
        ],
      ),
      "",
      `${targetVerdict(st.verified)}.`,
      "",
    );
    if (st.split)
      parts.push(
        "Critical path, consecutive segments (they add up to start → verified in each run):",
        "",
        markdownTable(
          ["segment", "median (min–max, n)"],
          SPLIT_ROWS.map(([k, label]) => [label, fmtSummary(st.split?.[k], "s", 1)]),
        ),
        "",
      );
    const cmds = commandDurations(l);
    if (cmds.length > 0)
      parts.push(
        "Each check command's own duration (lab log), median over the verified runs: " +
          cmds.map(([n, s]) => `\`${n}\` ${s.toFixed(1)} s`).join(", ") +
          ".",
        "",
      );
  }
  return parts.join("\n");
}

/** Median duration of each check command over the verified runs, in the order first seen. */
export function commandDurations(l: LabResults): [string, number][] {
  const by = new Map<string, number[]>();
  for (const r of l.runs) {
    if (!r.ok) continue;
    for (const [n, s] of Object.entries(r.timeline?.commands ?? {})) {
      by.set(n, [...(by.get(n) ?? []), s]);
    }
  }
  return [...by.entries()].map(([n, v]) => [n, median(v)]);
}
