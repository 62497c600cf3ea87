/** Pure Markdown rendering of bench results (the console table and BENCHMARKS.md). */
import { criticalPath, pathTotal } from "./criticalPath";
import type {
  BenchResults,
  CapacityConfig,
  CapacityResults,
  LabResults,
  ProgramResults,
  SyncResults,
} from "./results";
import { median, type Summary } from "./stats";
import { LOSS_LIMIT } from "./steps";

/** A GitHub Markdown table; `|` inside cells is escaped, line breaks become spaces. */
export function markdownTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  for (const [i, r] of rows.entries()) {
    if (r.length !== head.length)
      throw new Error(`table row ${i}: ${r.length} cells for ${head.length} columns`);
  }
  const cell = (c: string) =>
    c
      .trim()
      .replace(/\s*\n\s*/g, " ")
      .replaceAll("|", "\\|");
  return [
    `| ${head.map(cell).join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** "9.16 s (9.10–9.21, n=5)". */
export function fmtSummary(s: Summary | undefined, unit = "s", digits = 2): string {
  if (!s) return "—";
  return `${s.median.toFixed(digits)} ${unit} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)}, n=${s.n})`;
}

/** 40000 → "40k/s", 1500 → "1.5k/s". */
export function fmtRate(r: number | null): string {
  if (r === null) return "—";
  return r >= 1000 ? `${Number((r / 1000).toFixed(1))}k/s` : `${Math.round(r)}/s`;
}

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

function syncRow(
  label: string,
  s: SyncResults | undefined,
  a: "ntpsec" | "ntpsec-default-tos",
  note: string,
): string[] {
  return [
    label,
    fmtSummary(s?.summary[a]),
    a === "ntpsec" ? fmtSummary(s?.summary.chrony) : "—",
    note,
  ];
}

function labRow(l: LabResults | undefined): string[] {
  if (!l) return ["lab start → verified member (`npm run lab`)", "not run", "—", ""];
  if (!l.available)
    return [
      "lab start → verified member (`npm run lab`)",
      `lab not available: ${l.reason ?? "?"}`,
      "—",
      "no figure",
    ];
  return [
    "lab start → verified member (`npm run lab`)",
    fmtSummary(l.labSeconds, "s", 1),
    "—",
    `droplet created → ntpd synchronised inside: ${fmtSummary(l.syncSeconds, "s", 1)}`,
  ];
}

export function summaryTable(r: BenchResults): string {
  const rows: string[][] = [];
  if (r.sync) {
    const poll = median(r.sync.runs.map((x) => x.pollSeconds));
    rows.push(
      syncRow(
        "ntpd start → synchronised (leap 00, stratum 2, system peer)",
        r.sync,
        "ntpsec",
        `state polled every ~${poll.toFixed(2)} s`,
      ),
    );
    if (r.sync.summary["ntpsec-default-tos"]) {
      rows.push(
        syncRow(
          "… reference: our config without `tos minclock 4 minsane 3`",
          r.sync,
          "ntpsec-default-tos",
          "NTPsec defaults (minsane 1)",
        ),
      );
    }
  }
  if (r.lab || r.options.only === null || r.options.only === "sync") rows.push(labRow(r.lab));
  if (r.capacity) {
    const c = r.capacity;
    const ntp = c.configs.filter((x) => x.kind === "ntpsec");
    const chr = c.configs.filter((x) => x.kind === "chrony");
    for (let i = 0; i < Math.max(ntp.length, chr.length); i++) {
      const n = ntp[i];
      const ch =
        chr.find((x) => x.rcvbuf === (n?.rcvbuf ?? Number.NaN)) ?? (i === 0 ? chr[0] : undefined);
      rows.push([
        `capacity, < ${LOSS_LIMIT * 100}% loss: ${n?.rcvbuf ? `socket buffer ${n.rcvbuf / 1_048_576} MiB` : "kernel default socket buffer (208 KiB)"}`,
        n ? capacityCell(n) : "—",
        ch ? capacityCell(ch) : "—",
        `${c.sources.toLocaleString("en-US")} sources, ${c.stepSeconds} s steps${c.pinned ? ", daemon on 1 core" : ""}`,
      ]);
    }
    rows.push([
      "load generator vs drop-everything target",
      `unpaced ${fmtRate(c.generator.unpacedRate)}; paced ${fmtRate(c.generator.pacedTarget)} → ${fmtRate(c.generator.pacedAchieved)}`,
      "—",
      "must exceed every rate above",
    ]);
  }
  if (r.program) {
    const p = r.program;
    rows.push([
      "program under mocks, 1 / 10 / 50 members (median in-program ms)",
      `${p.rows.map((x) => `${x.medianMs.toFixed(0)}`).join(" / ")} ms`,
      "—",
      `growth (t50−t1)/(t10−t1) = ${p.growth === null ? "n/a" : p.growth.toFixed(2)} (linear: ${p.linear.toFixed(2)})`,
    ]);
  }
  return markdownTable(["measure", "NTPsec (our config)", "chrony (equivalent)", "notes"], rows);
}

function syncSection(s: SyncResults): string {
  const rows = s.runs.map((x, i) => [
    String(i + 1),
    x.variant,
    x.seconds.toFixed(2),
    x.pollSeconds.toFixed(2),
  ]);
  return [
    "### 1a. Daemon start → synchronised, every run",
    "",
    "4 NTPsec orphan-mode stratum-1 upstreams in their own namespaces (`tos orphan 1`), one",
    "member namespace per daemon, runs interleaved. NTPsec gets OUR ntp.conf",
    "(`cloud-init/ntpConf.ts renderNtpConf`, only the drift and leap file paths moved into",
    "the scratch dir; the leap file is the host's with a fresh expiry) and the deployed",
    "options `-g -N`. chrony 4.3 (Debian package, extracted) gets the same servers with",
    "`iburst`, `minsources 3` (= `tos minsane 3`), `allow`, `ratelimit`; it runs with `-x`.",
    "Both run under `capsh --drop=cap_sys_time`. Synchronised = leap ≠ 11, stratum 2, a system",
    "peer (`ntpq -c rv -c peers` / `chronyc tracking` + `sources`), polled on loopback; the",
    "time is the middle of the first synchronised poll.",
    "",
    markdownTable(["#", "variant", "seconds", "poll period s"], rows),
  ].join("\n");
}

function labSection(l: LabResults): string {
  const rows = l.runs.map((x, i) => [
    String(i + 1),
    x.ok ? "verified" : "FAILED",
    x.labSeconds?.toFixed(1) ?? "—",
    x.syncSeconds?.toFixed(1) ?? "—",
    x.bootSeconds?.toFixed(1) ?? "—",
    x.wallSeconds.toFixed(1),
    x.error ? x.error.slice(0, 160) : "",
  ]);
  return [
    "### 1b. Lab start → verified member",
    "",
    l.available
      ? "`npm run lab -- --report F` per run; figures from the lab's JSON report."
      : `**Lab not available: ${l.reason ?? "?"}** — no figure is given.`,
    "",
    rows.length > 0
      ? markdownTable(
          [
            "#",
            "result",
            "lab s (start → verified)",
            "droplet → synced s",
            "droplet → booted s",
            "process s",
            "error",
          ],
          rows,
        )
      : "",
  ].join("\n");
}

function capacitySection(c: CapacityResults): string {
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

function programSection(p: ProgramResults): string {
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

export function criticalPathSection(firstSync: number | null, lab?: LabResults): string {
  const steps = criticalPath(firstSync);
  const total = pathTotal(steps);
  const syncStep = steps.find((s) => s.step.startsWith("ntpd start"));
  const rows = steps.map((s, i) => [
    String(i + 1),
    s.step,
    `${s.low}–${s.high}`,
    s.source,
    s.keptShort,
  ]);
  return [
    "## 4. Deployment critical path, on paper (boot → verified on a real droplet)",
    "",
    "Not measurable here (no DigitalOcean account, no Pulumi CLI): each step names its source.",
    "",
    markdownTable(["#", "step", "seconds", "source", "what keeps it short"], rows),
    "",
    `Serial total: about ${total.low}–${total.high} s (${(total.low / 60).toFixed(1)}–${(total.high / 60).toFixed(1)} min) from \`pulumi up\` creating the droplet to both checks passing.`,
    `The first sync is ${Math.round((100 * ((syncStep?.low ?? 0) + (syncStep?.high ?? 0))) / (total.low + total.high))}% of the path; droplet creation and the apt steps dominate.`,
    "",
    labStagesLine(lab),
  ].join("\n");
}

/** The lab's measured boot of the same user-data (first verified run), for comparison. */
export function labStagesLine(lab: LabResults | undefined): string {
  const run = lab?.runs.find((x) => x.ok && x.stages.length > 0);
  if (!run) return "No lab run verified a member in this bench run, so no measured boot is shown.";
  const stages = run.stages.map((s) => `${s.name} ${s.seconds} s`).join(", ");
  return [
    "Measured in the lab on this machine (the same user-data through real cloud-init 22.4.2 in a",
    "debootstrap Debian 12 root; packages come from a LOCAL apt repository, so apt's download",
    `time is missing): ${stages}; droplet created → cloud-init done ${run.bootSeconds?.toFixed(1) ?? "?"} s,`,
    `→ ntpd synchronised ${run.syncSeconds?.toFixed(1) ?? "?"} s; lab start → both checks passed ${run.labSeconds?.toFixed(1) ?? "?"} s.`,
  ].join("\n");
}

/** The whole BENCHMARKS.md. `decisions` is the hand-written section (bench/decisions.md). */
export function renderBenchmarksMd(r: BenchResults, decisions: string, command: string): string {
  const m = r.machine;
  const parts = [
    "# Benchmarks",
    "",
    `Generated by \`${command}\` (bench/run.ts) — do not edit by hand; rerun it. Raw data: bench-results.json.`,
    "",
    `Machine: ${m.nproc} CPUs (${m.cpu}), kernel ${m.kernel}, ${m.ntpsec}, chrony ${m.chrony ?? "n/a"}, node ${m.node}.`,
    `Run: ${m.date}, ${(r.seconds / 60).toFixed(1)} min. Load average at start ${m.loadStart}, at end ${m.loadEnd ?? "?"}`,
    "(other jobs shared this 2-core host; treat differences under ~15% as noise).",
    "",
    "## Summary",
    "",
    summaryTable(r),
    "",
  ];
  if (r.errors.length > 0)
    parts.push("**Errors in this run:**", "", ...r.errors.map((e) => `- ${e}`), "");
  parts.push(decisions.trim(), "", "## Details", "");
  if (r.sync) parts.push(syncSection(r.sync), "");
  if (r.lab) parts.push(labSection(r.lab), "");
  if (r.capacity) parts.push(capacitySection(r.capacity), "");
  if (r.program) parts.push(programSection(r.program), "");
  parts.push(criticalPathSection(r.sync?.summary.ntpsec?.median ?? null, r.lab), "");
  return parts.join("\n");
}
