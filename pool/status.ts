/**
 * `pool status [--watch]`: the score of each member address, per-monitor detail and a chart.
 * Exit code 0 when every address is at or above the threshold, 1 otherwise, 2 when the score
 * could not be read at all (so cron/CI can tell "bad" from "unknown").
 */
import { writeFileSync } from "node:fs";
import { renderSvgChart, renderTerminalChart } from "./chart";
import { POOL_DEFAULTS } from "./defaults";
import {
  type FetchScoresOptions,
  fetchScores,
  ScoreFetchError,
  type ScoreSummary,
  summariseScores,
} from "./scores";

function fmtScore(score: number | null): string {
  return score === null ? "none" : score.toFixed(1);
}

function fmtOffset(seconds: number | null): string {
  return seconds === null ? "no answer" : `${(seconds * 1000).toFixed(2)} ms`;
}

/** One address's report as text (pure). */
function renderStatus(
  summary: ScoreSummary,
  options: { threshold: number; chartWidth: number; chartHeight: number },
): string {
  const verdict = summary.inPool
    ? `IN the pool (score >= ${options.threshold})`
    : `NOT in the pool (score < ${options.threshold})`;
  const lines = [
    `${summary.ip}: score ${fmtScore(summary.score)} (${summary.scoreSource}): ${verdict}`,
  ];
  if (summary.monitors.length === 0) {
    lines.push("  no monitors have checked this address yet");
  } else {
    const nameWidth = Math.max(7, ...summary.monitors.map((m) => m.name.length));
    lines.push(
      `  ${"monitor".padEnd(nameWidth)}  status    score   last offset    avg rtt`,
      ...summary.monitors.map((m) =>
        `  ${m.name.padEnd(nameWidth)}  ${m.status.padEnd(8)}  ${m.score.toFixed(1).padStart(5)}  ${fmtOffset(m.offset).padStart(12)}  ${m.avgRtt === null ? "" : `${m.avgRtt.toFixed(1)} ms`}`.trimEnd(),
      ),
    );
  }
  lines.push(`  ${summary.seriesLabel} over time:`);
  lines.push(
    renderTerminalChart(summary.series, {
      width: options.chartWidth,
      height: options.chartHeight,
      threshold: options.threshold,
    }).trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

export interface StatusOptions extends FetchScoresOptions {
  threshold?: number;
  /** Write an SVG chart here; with several addresses, `{ip}` in the name is replaced. */
  svg?: string;
  chartWidth?: number;
  chartHeight?: number;
  write?: (text: string) => void;
  writeError?: (text: string) => void;
}

/** The file an address's SVG goes to: `{ip}` is substituted, else ip is inserted before .svg. */
export function svgPathFor(template: string, ip: string, addressCount: number): string {
  const safeIp = ip.replace(/:/g, "_");
  if (template.includes("{ip}")) {
    return template.replaceAll("{ip}", safeIp);
  }
  if (addressCount === 1) {
    return template;
  }
  return template.endsWith(".svg")
    ? `${template.slice(0, -4)}-${safeIp}.svg`
    : `${template}-${safeIp}.svg`;
}

/** One round over every address; resolves with the exit code. */
export async function statusOnce(
  ips: readonly string[],
  options: StatusOptions = {},
): Promise<number> {
  const threshold = options.threshold ?? POOL_DEFAULTS.threshold;
  const write = options.write ?? ((t: string) => process.stdout.write(t));
  const writeError = options.writeError ?? ((t: string) => process.stderr.write(t));
  let below = 0;
  let failed = 0;
  for (const ip of ips) {
    try {
      const summary = summariseScores(await fetchScores(ip, options), threshold);
      write(
        renderStatus(summary, {
          threshold,
          chartWidth: options.chartWidth ?? POOL_DEFAULTS.chartWidth,
          chartHeight: options.chartHeight ?? POOL_DEFAULTS.chartHeight,
        }),
      );
      if (options.svg !== undefined) {
        const path = svgPathFor(options.svg, ip, ips.length);
        writeFileSync(
          path,
          renderSvgChart(summary.series, {
            title: `${ip}: ${summary.seriesLabel} (now ${fmtScore(summary.score)})`,
            threshold,
          }),
        );
        write(`  chart written to ${path}\n`);
      }
      if (!summary.inPool) {
        below++;
      }
    } catch (err) {
      if (!(err instanceof ScoreFetchError)) {
        throw err;
      }
      failed++;
      writeError(`${err.kind === "unknown-ip" ? "unknown address" : "error"}: ${err.message}\n`);
    }
  }
  if (failed > 0) {
    return 2;
  }
  return below > 0 ? 1 : 0;
}

export interface WatchOptions extends StatusOptions {
  /** Seconds between rounds; raised to the API's cache time when lower. */
  intervalSeconds?: number;
  /** Stop after this many rounds (tests, cron); unbounded when absent. */
  maxRounds?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** Set to stop the loop between rounds (SIGINT). */
  signal?: AbortSignal;
}

/** The interval actually used: never below the API's ~2 min cache (docs/decisions.md#score-history). */
export function effectiveWatchInterval(requestedSeconds: number | undefined): number {
  return Math.max(
    requestedSeconds ?? POOL_DEFAULTS.watchIntervalSeconds,
    POOL_DEFAULTS.watchIntervalSeconds,
  );
}

/** Repeats `statusOnce`; resolves with the last round's exit code. */
export async function watchStatus(
  ips: readonly string[],
  options: WatchOptions = {},
): Promise<number> {
  const intervalSeconds = effectiveWatchInterval(options.intervalSeconds);
  // The default sleep ends early on abort, so Ctrl-C does not wait out a 2-minute interval.
  const sleep =
    options.sleep ??
    ((ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        options.signal?.addEventListener(
          "abort",
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      }));
  const now = options.now ?? (() => new Date());
  const write = options.write ?? ((t: string) => process.stdout.write(t));
  if (options.intervalSeconds !== undefined && options.intervalSeconds < intervalSeconds) {
    write(
      `note: --interval ${options.intervalSeconds}s raised to ${intervalSeconds}s: the score API caches for ~2 minutes\n`,
    );
  }
  let code = 0;
  for (let round = 1; options.maxRounds === undefined || round <= options.maxRounds; round++) {
    write(`=== ${now().toISOString()} (round ${round}, every ${intervalSeconds}s) ===\n`);
    code = await statusOnce(ips, options);
    if (
      options.signal?.aborted ||
      (options.maxRounds !== undefined && round >= options.maxRounds)
    ) {
      break;
    }
    await sleep(intervalSeconds * 1000);
    if (options.signal?.aborted) {
      break;
    }
  }
  return code;
}
