/**
 * `pool monitor <address>…`: scores addresses from this machine the way the pool's monitors
 * do, so a member can be judged before (or without) the pool watching it.
 *
 * - A check is `samples` NTP queries `gapMs` apart, each with a 3 s timeout; the answered
 *   sample with the lowest round trip counts, and a kiss-o'-death in any sample ends the
 *   check with that code (ntppool/monitor client/monitor/monitor.go, CheckHost).
 * - The offset is judged against a reference the user names (`--reference`): member offset
 *   minus reference offset, both measured from here in the same sample slot, so this
 *   machine's own clock error drops out (as verify/outsideCheck.ts does). Without one, it is
 *   the offset to this machine's clock, which is what a pool monitor (with a good clock) sees.
 * - The check is judged, and its step scored, by ntp/poolRules.ts judgeCheck and monitorStep
 *   (the rules every check of this project shares); score = step + 0.95 × previous score.
 *
 * Addresses are checked in rounds: in each sample slot every address and the reference are
 * asked once, concurrently, so the reference is asked once per slot however many addresses
 * there are (a reference asked faster than every 2 s would rate-limit us: NTPsec's `limited`,
 * which test/real/verify-outside.test.ts floods into KoD RATE).
 */
import { lookup } from "node:dns/promises";
import { writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { type NtpSample, NtpTimeoutError, type QueryOptions, queryNtp } from "../ntp/client";
import {
  type CheckOutcome,
  type JudgedSample,
  type Judgement,
  judgeCheck,
  nextScore,
} from "../ntp/poolRules";
import { type Point, renderSvgChart, renderTerminalChart } from "./chart";
import { POOL_DEFAULTS } from "./defaults";
import { svgPathFor } from "./status";

/** One address's result for one check. */
interface CheckResult {
  readonly address: string;
  /** 1-based. */
  readonly check: number;
  /** Unix seconds at the start of the check. */
  readonly ts: number;
  readonly outcome: CheckOutcome;
  /** Round trip of the counted sample, milliseconds (answers only). */
  readonly delayMs?: number;
  /** Samples answered out of those sent. */
  readonly answered: number;
  readonly sent: number;
  /** Null when the reference did not answer in the slot that counted: not scored. */
  readonly step: number | null;
  readonly score: number;
  /**
   * Set when an answer scores but is not a clean pass (ntp/poolRules.ts judgeCheck): the add
   * form refuses its stratum, it is unsynchronised, or its offset costs points.
   */
  readonly verdict?: "warn" | "fail";
  readonly reason?: string;
}

function signed(n: number, digits: number): string {
  return `${n >= 0 ? "+" : ""}${n.toFixed(digits)}`;
}

/** One line per check (pure). */
function renderCheckLine(r: CheckResult, checks: number): string {
  const head = `check ${r.check}/${checks} ${r.address}:`;
  const o = r.outcome;
  const what =
    o.kind === "answer"
      ? `offset ${signed(o.offsetMs, 3)} ms, delay ${(r.delayMs ?? 0).toFixed(3)} ms, stratum ${o.stratum}`
      : o.kind === "kiss"
        ? `kiss-o'-death ${o.code}`
        : "no answer";
  const step =
    r.step === null ? "not scored (reference did not answer)" : `step ${signed(r.step, 2)}`;
  const verdict = r.verdict === undefined ? "" : `; ${r.verdict}: ${r.reason ?? ""}`;
  return `${head} ${what} (${r.answered}/${r.sent} answered); ${step}; score ${r.score.toFixed(2)}${verdict}`;
}

/** The report for one address after the last check (pure). */
function renderAddressReport(
  address: string,
  results: readonly CheckResult[],
  options: { threshold: number; chartWidth: number; chartHeight: number },
): string {
  const last = results.at(-1);
  const score = last?.score ?? POOL_DEFAULTS.monitorStartScore;
  const verdict =
    score >= options.threshold
      ? `would be IN the pool (score >= ${options.threshold})`
      : `would NOT be in the pool (score < ${options.threshold})`;
  const chart = renderTerminalChart(toPoints(results), {
    width: options.chartWidth,
    height: options.chartHeight,
    threshold: options.threshold,
  });
  return `${address}: score ${score.toFixed(2)} after ${results.length} checks: ${verdict}\n${chart}`;
}

function toPoints(results: readonly CheckResult[]): Point[] {
  return results.map((r) => ({ ts: r.ts, score: r.score }));
}

/** I/O of a run; tests replace it. */
export interface MonitorDeps {
  readonly query: (o: QueryOptions) => Promise<NtpSample>;
  readonly resolve: (host: string) => Promise<string>;
  readonly sleep: (ms: number) => Promise<void>;
  /** Unix milliseconds. */
  readonly now: () => number;
}

const defaultMonitorDeps: MonitorDeps = {
  query: queryNtp,
  resolve: async (host) => (isIP(host) ? host : (await lookup(host)).address),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => Date.now(),
};

export interface MonitorOptions {
  readonly addresses: readonly string[];
  readonly reference?: string;
  readonly checks?: number;
  readonly intervalSeconds?: number;
  readonly threshold?: number;
  readonly samples?: number;
  readonly gapMs?: number;
  readonly timeoutMs?: number;
  readonly port?: number;
  readonly svg?: string;
  readonly write: (text: string) => void;
}

/** A sample or, on timeout, undefined; other errors (no route, bad address) propagate. */
async function ask(deps: MonitorDeps, q: QueryOptions): Promise<NtpSample | undefined> {
  try {
    return await deps.query(q);
  } catch (e) {
    if (e instanceof NtpTimeoutError) return undefined;
    throw e;
  }
}

interface Slot {
  readonly member: NtpSample | undefined;
  readonly reference: NtpSample | undefined;
}

/** A member answer with its offset taken relative to the reference of the same slot. */
interface SlotSample extends JudgedSample {
  /** False when the reference did not answer in that slot (the offset is then raw). */
  readonly referenced: boolean;
}

/**
 * Judges one address's samples of one check (pure, exported for tests): the shared
 * judgement over member offsets minus the reference's of the same slot. When the sample
 * that counts has no reference answer beside it, the check is not scored.
 */
export function judgeSlots(
  slots: readonly Slot[],
  withReference: boolean,
): {
  judgement: Judgement<SlotSample>;
  delayMs?: number;
  scored: boolean;
  answered: number;
} {
  const answered = slots.filter((s) => s.member !== undefined).length;
  const samples = slots.map((s): SlotSample | undefined => {
    if (s.member === undefined) return undefined;
    const referenced = withReference && s.reference?.verdict === "ok";
    const offsetMs = s.member.offsetMs - (referenced ? (s.reference as NtpSample).offsetMs : 0);
    return { header: s.member.header, offsetMs, delayMs: s.member.delayMs, referenced };
  });
  const judgement = judgeCheck(samples, withReference ? "the reference" : "this machine's clock");
  const best = judgement.best;
  return {
    judgement,
    ...(best === undefined ? {} : { delayMs: best.delayMs }),
    scored: best === undefined || !withReference || best.referenced,
    answered,
  };
}

/** Runs the checks, prints each, the charts and `score <lowest>`; resolves with the exit code. */
export async function runMonitor(
  opts: MonitorOptions,
  deps: MonitorDeps = defaultMonitorDeps,
): Promise<number> {
  const checks = opts.checks ?? POOL_DEFAULTS.monitorChecks;
  const intervalMs = (opts.intervalSeconds ?? POOL_DEFAULTS.monitorIntervalSeconds) * 1000;
  const threshold = opts.threshold ?? POOL_DEFAULTS.threshold;
  const samples = opts.samples ?? POOL_DEFAULTS.monitorSamples;
  const gapMs = opts.gapMs ?? POOL_DEFAULTS.monitorSampleGapMs;
  const timeoutMs = opts.timeoutMs ?? POOL_DEFAULTS.probeTimeoutMs;
  const port = opts.port ?? 123;

  const addresses = await Promise.all(opts.addresses.map((a) => deps.resolve(a)));
  const reference = opts.reference === undefined ? undefined : await deps.resolve(opts.reference);
  opts.write(
    `monitoring ${addresses.join(", ")}: ${checks} checks every ${intervalMs / 1000} s, ${samples} samples ${gapMs / 1000} s apart, offsets relative to ${reference === undefined ? "this machine's clock" : `reference ${opts.reference} (${reference})`}\n`,
  );

  const results = new Map<string, CheckResult[]>(addresses.map((a) => [a, []]));
  const scores = new Map<string, number>(
    addresses.map((a) => [a, POOL_DEFAULTS.monitorStartScore]),
  );
  for (let check = 1; check <= checks; check++) {
    const startedAt = deps.now();
    const slots = new Map<string, Slot[]>(addresses.map((a) => [a, []]));
    for (let i = 0; i < samples; i++) {
      if (i > 0) await deps.sleep(gapMs);
      const refSample =
        reference === undefined ? undefined : ask(deps, { address: reference, port, timeoutMs });
      const answers = await Promise.all(
        addresses.map((address) => ask(deps, { address, port, timeoutMs })),
      );
      const ref = await refSample;
      addresses.forEach((a, k) => {
        slots.get(a)?.push({ member: answers[k], reference: ref });
      });
    }
    for (const address of addresses) {
      const j = judgeSlots(slots.get(address) ?? [], reference !== undefined);
      const step = j.scored ? j.judgement.step : null;
      const score =
        step === null
          ? (scores.get(address) ?? 0)
          : nextScore(scores.get(address) ?? POOL_DEFAULTS.monitorStartScore, step);
      scores.set(address, score);
      const r: CheckResult = {
        address,
        check,
        ts: startedAt / 1000,
        outcome: j.judgement.outcome,
        ...(j.judgement.verdict === "pass" || j.judgement.outcome.kind !== "answer"
          ? {}
          : { verdict: j.judgement.verdict, reason: j.judgement.reason }),
        ...(j.delayMs === undefined ? {} : { delayMs: j.delayMs }),
        answered: j.answered,
        sent: samples,
        step,
        score,
      };
      results.get(address)?.push(r);
      opts.write(`${renderCheckLine(r, checks)}\n`);
    }
    if (check < checks) {
      await deps.sleep(Math.max(gapMs, startedAt + intervalMs - deps.now()));
    }
  }

  for (const [k, address] of addresses.entries()) {
    const list = results.get(address) ?? [];
    opts.write(
      renderAddressReport(opts.addresses[k] ?? address, list, {
        threshold,
        chartWidth: POOL_DEFAULTS.chartWidth,
        chartHeight: POOL_DEFAULTS.chartHeight,
      }),
    );
    if (opts.svg !== undefined) {
      const file = svgPathFor(opts.svg, address, addresses.length);
      writeFileSync(
        file,
        renderSvgChart(toPoints(list), {
          title: `${address}: local monitor score (now ${(scores.get(address) ?? 0).toFixed(2)})`,
          threshold,
        }),
      );
      opts.write(`  chart written to ${file}\n`);
    }
  }
  const lowest = Math.min(...addresses.map((a) => scores.get(a) ?? 0));
  opts.write(`score ${lowest.toFixed(2)}\n`);
  return lowest >= threshold ? 0 : 1;
}
