/**
 * How the NTP Pool judges a member, in one place: how a monitor takes a check, how a check
 * is scored, and which answers the pool's add form accepts. The outside check
 * (verify/outsideCheck.ts), `pool register`, `pool monitor` (pool/) and the lab all judge
 * with {@link judgeCheck}, so they cannot disagree about one answer. Pure: no I/O.
 *
 * Sources: ntppool/monitor client/monitor/monitor.go `CheckHost` (3 samples, 2 s headway,
 * 3 s timeout, the lowest round trip counts, a kiss-o'-death in any sample ends the
 * check); scorer/statusscore/statusscore.go (`Stratum == 0` → −5, stratum ≥ 8 or
 * |offset| > 3 s → −4; the leap indicator is recorded, not scored); the step table and the
 * threshold of 10 the pool publishes for its scores; the add form at manage.ntppool.org
 * (stratum 1–5); RFC 5905 for what a client discards.
 */

/** Every constant of the pool's rules; the CLI and check defaults derive from these. */
export const POOL_RULES = {
  /** Samples per monitor check (monitor.go CheckHost: `cfg.Samples = 3`). */
  samples: 3,
  /** Milliseconds between two samples (monitor.go: "minimum headway time is 2 seconds"). */
  sampleGapMs: 2000,
  /** Milliseconds a monitor waits for one reply (monitor.go: `Timeout: 3 * time.Second`). */
  timeoutMs: 3000,
  /** |offset| up to which a check earns the full +1, milliseconds. */
  fullStepMs: 25,
  /**
   * |offset| at which the step has shrunk to +0.5, milliseconds. A steady step s settles the
   * score at s / (1 − decay) = 20·s, so beyond this the score settles below the threshold.
   */
  inPoolMs: 100,
  /** Score = step + decay × previous score. */
  decay: 0.95,
  /** A member is in the pool at this score or above. */
  threshold: 10,
  /** A new server's score. */
  startScore: 0,
  /** The stratum range the add form at manage.ntppool.org accepts. */
  minStratum: 1,
  maxStratum: 5,
} as const;

/** What one check found, as the scorer sees it. */
export type CheckOutcome =
  | { readonly kind: "answer"; readonly offsetMs: number; readonly stratum: number }
  | { readonly kind: "no-answer" }
  /** A kiss-o'-death (stratum 0) with its code: RATE, DENY, RSTR, INIT, ... */
  | { readonly kind: "kiss"; readonly code: string };

/**
 * The score step for one check (the pool's published rules):
 *
 * | outcome                          | step                                  |
 * |----------------------------------|---------------------------------------|
 * | \|offset\| ≤ 25 ms               | +1                                    |
 * | 25 ms < \|offset\| ≤ 100 ms      | linear from +1 down to +0.5           |
 * | 100 ms < \|offset\| ≤ 750 ms     | linear from +0.5 down to −1           |
 * | \|offset\| > 750 ms              | −2                                    |
 * | \|offset\| > 3 s or stratum ≥ 8  | −4                                    |
 * | no answer                        | −5                                    |
 * | KoD RATE                         | −3.5                                  |
 * | KoD DENY / RSTR                  | −10                                   |
 * | other kiss codes (INIT, …)       | −5 (stratum 0 is scored as no answer) |
 *
 * The last row follows statusscore.go (`Stratum == 0` → −5). That file's current offset
 * curve differs from the published table (+1 up to 75 ms, then −4·s+1 to −2 at 750 ms);
 * this follows the published table.
 */
export function monitorStep(outcome: CheckOutcome): number {
  switch (outcome.kind) {
    case "no-answer":
      return -5;
    case "kiss":
      if (outcome.code === "RATE") return -3.5;
      if (outcome.code === "DENY" || outcome.code === "RSTR") return -10;
      return -5;
    case "answer": {
      const abs = Math.abs(outcome.offsetMs);
      const { fullStepMs, inPoolMs } = POOL_RULES;
      if (abs > 3000 || outcome.stratum >= 8) return -4;
      if (abs > 750) return -2;
      if (abs > inPoolMs) return 0.5 - (1.5 * (abs - inPoolMs)) / (750 - inPoolMs);
      if (abs > fullStepMs) return 1 - (0.5 * (abs - fullStepMs)) / (inPoolMs - fullStepMs);
      return 1;
    }
  }
}

/** The pool's running score: the new step plus 95 % of the previous score. */
export function nextScore(previous: number, step: number): number {
  return step + POOL_RULES.decay * previous;
}

/** The parts of an answered sample the judgement reads (an `NtpSample` fits). */
export interface JudgedSample {
  readonly header: {
    readonly leap: number;
    readonly stratum: number;
    readonly refid: string;
  };
  /** Milliseconds; relative to a reference when the caller measured one. */
  readonly offsetMs: number;
  /** Round trip, milliseconds. */
  readonly delayMs: number;
}

/** The pool's view of one check. */
export interface Judgement<S extends JudgedSample> {
  readonly outcome: CheckOutcome;
  /** The sample that counts: the answer with the lowest round trip (none on a kiss). */
  readonly best?: S;
  /** The monitor's score step for this check. */
  readonly step: number;
  /**
   * "pass": the add form accepts it and the score climbs to the full 20; "warn": accepted,
   * but each check scores less than +1; "fail": refused, or the score settles below 10.
   */
  readonly verdict: "pass" | "warn" | "fail";
  /** Why not "pass", worded to follow the address ("203.0.113.7 is at stratum 6; ..."). */
  readonly reason: string;
}

/**
 * Judges the samples of one check (undefined = no reply) the way the pool does; `relativeTo`
 * names what the offsets were measured against, for the reason's wording.
 *
 * Beyond the score, an answer with leap indicator 3 fails: the pool monitor does not score
 * the leap indicator (statusscore.go only records it), but every RFC 5905 client discards
 * such a server (Appendix A.5.2 `fit()`: `leap == NOSYNC` is unfit), so a member answering
 * it serves no one.
 */
export function judgeCheck<S extends JudgedSample>(
  samples: readonly (S | undefined)[],
  relativeTo?: string,
): Judgement<S> {
  const answers = samples.filter((s): s is S => s !== undefined);
  // A kiss-o'-death in any sample ends the check with that code (monitor.go CheckHost).
  const kiss = answers.find((s) => s.header.stratum === 0);
  if (kiss !== undefined) {
    const outcome: CheckOutcome = { kind: "kiss", code: kiss.header.refid };
    return { outcome, step: monitorStep(outcome), verdict: "fail", reason: kissReason(kiss) };
  }
  if (answers.length === 0) {
    const outcome: CheckOutcome = { kind: "no-answer" };
    return {
      outcome,
      step: monitorStep(outcome),
      verdict: "fail",
      reason: `did not answer any of ${samples.length} queries (the pool scores -5 per check)`,
    };
  }
  const best = answers.reduce((a, b) => (b.delayMs < a.delayMs ? b : a));
  const h = best.header;
  const outcome: CheckOutcome = { kind: "answer", offsetMs: best.offsetMs, stratum: h.stratum };
  const judged = { outcome, best, step: monitorStep(outcome) };
  const fail = (reason: string) => ({ ...judged, verdict: "fail" as const, reason });
  if (h.leap === 3 || h.stratum >= 16) return fail(unsynchronised(h));
  const { minStratum, maxStratum, fullStepMs, inPoolMs } = POOL_RULES;
  if (h.stratum < minStratum || h.stratum > maxStratum) {
    return fail(`is at stratum ${h.stratum}; the pool accepts only ${minStratum}-${maxStratum}`);
  }
  const abs = Math.abs(best.offsetMs);
  const offset = `${best.offsetMs.toFixed(3)} ms${relativeTo === undefined ? "" : ` relative to ${relativeTo}`}`;
  if (abs > inPoolMs) {
    return fail(`is off by ${offset}: above ${inPoolMs} ms its pool score settles below 10`);
  }
  if (abs > fullStepMs) {
    return {
      ...judged,
      verdict: "warn",
      reason: `is off by ${offset} (pool scores full points only up to ${fullStepMs} ms)`,
    };
  }
  return { ...judged, verdict: "pass", reason: "" };
}

function unsynchronised(h: JudgedSample["header"]): string {
  return `answers but is not synchronised (leap=${h.leap}, stratum=${h.stratum}, refid=${h.refid})`;
}

function kissReason(s: JudgedSample): string {
  const code = s.header.refid;
  if (code === "RATE") {
    return "sent a kiss-o'-death RATE: it rate-limited this check (is another poller on this address?)";
  }
  if (code === "DENY" || code === "RSTR") {
    return `sent a kiss-o'-death ${code}: it refuses time service (the pool scores DENY/RSTR -10): check 'restrict default' in ntp.conf`;
  }
  // INIT and STEP: ntpd runs but has no time to give yet (RFC 5905 §7.4).
  if (code === "INIT" || code === "STEP") return unsynchronised(s.header);
  return `sent a kiss-o'-death ${code} (the pool scores it as no answer, -5)`;
}
