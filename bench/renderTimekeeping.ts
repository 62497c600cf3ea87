/** The "Time keeping" section of BENCHMARKS.md: issue 13's scenario results and figures. */
import { markdownTable, measuredLine } from "./renderFormat";
import type { TimekeepingFigure, TimekeepingResults } from "./results";

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
