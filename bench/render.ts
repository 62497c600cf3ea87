/** Pure Markdown rendering of bench results (the console table and BENCHMARKS.md). */
import { criticalPath, pathTotal } from "./criticalPath";
import { LAB_TARGET_SECONDS } from "./labRuns";
import type {
  BenchResults,
  CapacityConfig,
  CapacityResults,
  CriticalSplit,
  LabResults,
  Measured,
  ProgramResults,
  SyncResults,
  TimekeepingFigure,
  TimekeepingResults,
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

const LAB_LABEL = "lab start → verified member (`npm run lab`, both verification phases)";

function labRow(l: LabResults | undefined): string[] {
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
  if (r.lab || r.options.only === null || r.options.only === "lab") rows.push(labRow(r.lab));
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
  if (r.timekeeping) {
    const t = r.timekeeping;
    const passed = t.tests.filter((x) => x.status === "passed").length;
    rows.push([
      "time keeping (issue 13): lab-tier scenarios, FIGURE lines",
      t.available
        ? `${passed} of ${t.tests.length} tests passed, ${t.figures.length} figures`
        : `not available: ${t.reason ?? "?"}`,
      "—",
      "see Time keeping below",
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

/** "measured 2026-12-01T23:10Z by `…`, load 1.2 1.5 2.0 → 2.4 2.1 2.2". */
function measuredLine(m: Measured | undefined): string {
  if (!m) return "";
  return `Measured ${m.date.slice(0, 16)}Z by \`${m.command}\` in ${(m.seconds / 60).toFixed(1)} min on ${hostOf(m)}; host load average (1/5/15 min) ${m.loadStart} at the start, ${m.loadEnd} at the end (other jobs shared the host).`;
}

function hostOf(m: Measured): string {
  return m.machine
    ? `${m.machine.nproc} CPUs (${m.machine.cpu}), kernel ${m.machine.kernel}`
    : "a host this result did not record";
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

function labSection(l: LabResults): string {
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

/** A figure's field by dotted path ("a.b.0"), or undefined. */
function at(v: unknown, key: string): unknown {
  let x: unknown = v;
  for (const k of key.split(".")) {
    if (x === null || typeof x !== "object") return undefined;
    x = (x as Record<string, unknown>)[k];
  }
  return x;
}

/** A number with `d` decimals and a sign for offsets, "?" when absent. */
function n(v: unknown, d = 3, sign = false): string {
  if (typeof v !== "number") return "?";
  return `${sign && v > 0 ? "+" : ""}${v.toFixed(d)}`;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** ntpq's leap indicator as its two bits ("11": unsynchronised), as ntpq -c rv prints it. */
function leapBits(v: unknown): string {
  return typeof v === "number" ? v.toString(2).padStart(2, "0") : String(v ?? "?");
}

/**
 * One figure of the timekeeping-*.test.ts scenarios (test/lab/, test/lab-long/) in words.
 * Known figures (the names the tests print) get their key numbers; any other figure is shown
 * as its JSON.
 */
export function figureSummary(f: TimekeepingFigure): string {
  const v = f.value;
  const warnings = (k: string) => {
    const w = list(at(v, k));
    return w.length === 0
      ? "no warning"
      : `${w.length} warning(s): ${w.map((x) => `\`${String(x)}\``).join("; ")}`;
  };
  switch (f.name) {
    case "falseticker-1of4":
      return `1 of 4 upstreams +2 s: first sync ${n(at(v, "secondsToFirstSync"), 1)} s, system peer ${String(at(v, "systemPeer") ?? "?")}, the falseticker's tallies ${list(
        at(v, "falsetickerTallies"),
      )
        .map((t) => `\`${String(t)}\``)
        .join(
          " ",
        )} at ${n(at(v, "falsetickerOffsetMs"), 1, true)} ms; outside offset against a good upstream ${n(at(v, "outsideOffsetMsVsGoodUpstream.ipv4"), 3, true)} ms (IPv4), ${n(at(v, "outsideOffsetMsVsGoodUpstream.ipv6"), 3, true)} ms (IPv6); ${warnings("warnings")}`;
    case "falseticker-2of4":
      return `2 of 4 agreeing +2 s: synchronised within 45 s: ${at(v, "synchronisedWithin45s") === true ? "yes" : "no"} (leap ${leapBits(at(v, "leap"))}, stratum ${String(at(v, "stratum") ?? "?")}); the on-droplet check fails with \`${String(at(v, "message") ?? "?")}\``;
    case "leap-unsync-kod":
      return `a leap-announcing, an unsynchronised and a KoD-RATE upstream among three good ones: first sync ${n(at(v, "secondsToFirstSync"), 1)} s, member leap ${String(at(v, "memberLeap") ?? "?")} (the leap upstream's extra leap second: ${String(at(v, "leapUpstream.fakeLeapSecond") ?? "?")}); ${warnings("warnings")}`;
    case "wide-area": {
      const ups = list(at(v, "perUpstream"))
        .map(
          (u) =>
            `${String(at(u, "upstream"))}: delay ${n(at(u, "delayMs"), 1)} ms, offset ${n(at(u, "offsetMs"), 2, true)} ms (predicted ${n(at(u, "predictedOffsetMs"), 1, true)})`,
        )
        .join("; ");
      return `wide-area paths: first sync ${n(at(v, "secondsToFirstSync"), 1)} s; per upstream from the member ${ups}; from the deployer against a symmetric upstream ${n(at(v, "outsideVsSymmetricUpstreamMs.ipv4"), 2, true)} ms (IPv4), ${n(at(v, "outsideVsSymmetricUpstreamMs.ipv6"), 2, true)} ms (IPv6), against the asymmetric one ${n(at(v, "outsideVsAsymmetricUpstreamMs.ipv4"), 2, true)} ms (predicted ${n(at(v, "outsideVsAsymmetricUpstreamMs.predicted"), 1, true)}); ${warnings("verificationWarnings")}`;
    }
    case "reboot":
      return `droplet reboot through the API (doctl droplet-action reboot): serving again after ${n(at(v, "servingAgainSeconds.ipv4"), 1)} s (IPv4), ${n(at(v, "servingAgainSeconds.ipv6"), 1)} s (IPv6) from the request (the reboot action completed after ${n(at(v, "rebootActionCompletedSeconds"), 1)} s; probes every ${String(at(v, "probeEverySeconds") ?? "?")} s)`;
    case "restart":
      return `ntpd restart: first start serving after ${n(at(v, "firstBootServingSeconds"), 1)} s; after a restart (drift file ${n(at(v, "driftFilePpm"), 2, true)} ppm) serving again after ${n(at(v, "afterRestartServingSeconds.ipv4"), 1)} s (IPv4), ${n(at(v, "afterRestartServingSeconds.ipv6"), 1)} s (IPv6)`;
    case "late-dns": {
      const after = at(v, "answeringPeerAfterPublishSeconds");
      return `late DNS: the 4th upstream's name resolves ${n(at(v, "nameResolvableAfterStartSeconds"), 0)} s after ntpd started; ${typeof after === "number" ? `an answering peer ${after.toFixed(1)} s after it resolves` : `not picked up within ${n(at(v, "limitSeconds"), 0)} s`} (no restart)`;
    }
    case "monitor-soak":
      return `monitor soak: ${String(at(v, "monitors"))} monitors × ${String(at(v, "checksEach"))} checks, ${String(at(v, "samplesAnswered"))} of ${String(at(v, "samples"))} samples answered, ${String(at(v, "kissOrLost"))} checks with a kiss or a loss; final scores ${list(
        at(v, "finalScores"),
      )
        .map((x) => n(x, 1))
        .join(
          ", ",
        )}; max |offset| ${n(at(v, "maxAbsOffsetMs"), 3)} ms; background ${String(at(v, "backgroundLoad.requestsPerSecond"))} requests/s from ${String(at(v, "backgroundLoad.sources"))} addresses (${String(at(v, "backgroundLoad.sent"))} sent, ${String(at(v, "backgroundLoad.replies"))} replies, ${String(at(v, "backgroundLoad.kod"))} KoD)`;
    case "lab-falseticker":
      return `whole lab, upstream 1 of 4 +2 s: droplet → synced ${n(at(v, "syncSeconds"), 1)} s, offset from outside ${n(at(v, "offsetMs"), 3, true)} ms; ${String(at(v, "verification") ?? "?")}`;
    default:
      return `\`${JSON.stringify(v)}\``;
  }
}

/** The "Time keeping" section of BENCHMARKS.md (issue 13's figures, one run of each scenario). */
export function timekeepingSection(t: TimekeepingResults): string {
  const parts = [
    "## Time keeping",
    "",
    "The lab-tier scenarios of issue 13 (`test/lab*/timekeeping-*.test.ts`: real NTPsec daemons",
    "in network namespaces, the member on the shipped ntp.conf, the shipped checks, scores from",
    "`npm run pool -- monitor`), run by `npm run bench -- --only timekeeping` through",
    "`vitest run --project lab --project lab-long`; each test prints its figure as a",
    "`FIGURE <name>: <json>` line (raw values in bench-results.json). One run of each scenario",
    "(n = 1), each with its test's assertions.",
    "",
    measuredLine(t.measured),
    "",
  ];
  if (!t.available) parts.push(`**Not available: ${t.reason ?? "?"}** — no figure is given.`, "");
  if (t.tests.length > 0)
    parts.push(
      markdownTable(
        ["test file", "test", "result", "seconds"],
        t.tests.map((x) => [
          `\`${x.file}\``,
          x.title,
          x.status === "passed" ? "passed" : `**${x.status}**${x.failure ? `: ${x.failure}` : ""}`,
          x.seconds === null ? "—" : x.seconds.toFixed(0),
        ]),
      ),
      "",
    );
  if (t.figures.length > 0)
    parts.push(
      markdownTable(
        ["figure", "what was measured"],
        t.figures.map((f) => [`\`${f.name}\``, figureSummary(f)]),
      ),
      "",
    );
  return parts.join("\n");
}

function criticalPathSection(firstSync: number | null, lab?: LabResults): string {
  const steps = criticalPath(firstSync, {
    precheckAfterSync: lab?.steps?.split?.precheckAfterSync?.median ?? null,
    postcheck: lab?.steps?.split?.postcheck?.median ?? null,
  });
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
    `Serial total: about ${total.low}–${total.high} s (${(total.low / 60).toFixed(1)}–${(total.high / 60).toFixed(1)} min) from \`pulumi up\` creating the droplet to both verification phases passing.`,
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
    `→ ntpd synchronised ${run.syncSeconds?.toFixed(1) ?? "?"} s; lab start → both verification phases passed ${run.labSeconds?.toFixed(1) ?? "?"} s.`,
  ].join("\n");
}

/** Parts measured later, alone (`--only`), with when and under what load. */
export function remeasured(r: BenchResults, command: string): string[] {
  const later = (
    [
      ["lab", r.lab?.measured],
      ["time keeping", r.timekeeping?.measured],
    ] as const
  ).filter(([, m]) => m !== undefined && m.command !== command.trim());
  return later.map(
    ([name, m]) =>
      `The ${name} part: \`${m?.command}\` on ${m?.date.slice(0, 16)}Z on ${m ? hostOf(m) : "?"}, load average ${m?.loadStart} → ${m?.loadEnd} (merged into the saved results; the machine line below is the full run's).`,
  );
}

/** The whole BENCHMARKS.md. `decisions` is the hand-written section (bench/decisions.md). */
export function renderBenchmarksMd(r: BenchResults, decisions: string, command: string): string {
  const m = r.machine;
  const parts = [
    "# Benchmarks",
    "",
    `Generated by \`${command}\` (bench/run.ts) — do not edit by hand; rerun it. Raw data: bench-results.json.`,
    ...remeasured(r, command),
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
  if (r.timekeeping) parts.push(timekeepingSection(r.timekeeping), "");
  return parts.join("\n");
}
