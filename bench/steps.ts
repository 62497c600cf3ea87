/**
 * Pure rate-step logic of the capacity bench: which rate to try next, how a step is judged,
 * and what the capacity is. The issue defines capacity as the highest request rate answered
 * with < 1% loss.
 */

/** A step fails at this loss or more (issue 7: "< 1% loss"). */
export const LOSS_LIMIT = 0.01;
/**
 * A step whose generator reached less than this share of the target rate measures the
 * generator, not the daemon: it is neither a pass nor a fail, and the climb stops there.
 */
const GENERATOR_SHORTFALL = 0.97;

/** What the generator reports for one step (bench/ntpload.c), plus the target. */
export interface StepResult {
  /** Target requests per second. */
  readonly rate: number;
  readonly sent: number;
  /** Distinct requests that got a normal (non-KoD) answer. */
  readonly replies: number;
  /** Distinct requests answered with a Kiss-o'-Death (rate limiting), not counted as served. */
  readonly kod: number;
  /** Requests per second the generator actually sent. */
  readonly achievedRate: number;
}

export type Verdict = "pass" | "fail" | "generator-short";

/** Share of sent requests that got no normal answer (KoD counts as not served). */
export function lossOf(s: StepResult): number {
  if (s.sent <= 0) throw new Error(`step at ${s.rate}/s: sent must be > 0 (got ${s.sent})`);
  return Math.max(0, 1 - s.replies / s.sent);
}

export function verdictOf(s: StepResult): Verdict {
  if (s.achievedRate < s.rate * GENERATOR_SHORTFALL) return "generator-short";
  return lossOf(s) < LOSS_LIMIT ? "pass" : "fail";
}

export interface Capacity {
  /** Highest passing rate below the lowest failing one; null if nothing passed. */
  readonly rate: number | null;
  /**
   * "measured": a failing step above it was seen; "at-least": no step failed (the ladder
   * or the generator ended first), so the real capacity is higher.
   */
  readonly bound: "measured" | "at-least";
  /** Lowest failing rate, if any. */
  readonly firstFail: number | null;
}

export function capacityOf(history: readonly StepResult[]): Capacity {
  const fails = history.filter((s) => verdictOf(s) === "fail").map((s) => s.rate);
  const firstFail = fails.length > 0 ? Math.min(...fails) : null;
  const passes = history
    .filter((s) => verdictOf(s) === "pass" && (firstFail === null || s.rate < firstFail))
    .map((s) => s.rate);
  return {
    rate: passes.length > 0 ? Math.max(...passes) : null,
    bound: firstFail === null ? "at-least" : "measured",
    firstFail,
  };
}

export interface StepPlan {
  /** Ascending target rates to climb. */
  readonly ladder: readonly number[];
  /** Bisection steps between the last pass and the first fail, after the climb. */
  readonly refine: number;
  /** Refined rates are rounded to a multiple of this (requests/s). */
  readonly quantum: number;
}

/**
 * The next rate to try, or undefined when done. Climbs the ladder while steps pass; the
 * first fail (or a generator shortfall) ends the climb; then up to `refine` geometric
 * bisections between the highest pass and the lowest fail.
 */
export function nextRate(plan: StepPlan, history: readonly StepResult[]): number | undefined {
  for (let i = 1; i < plan.ladder.length; i++) {
    if ((plan.ladder[i] as number) <= (plan.ladder[i - 1] as number)) {
      throw new Error(`ladder: rates must be ascending (got ${plan.ladder.join(", ")})`);
    }
  }
  if (history.some((s) => verdictOf(s) === "generator-short")) return undefined;
  const climbing = history.every((s) => verdictOf(s) === "pass");
  if (climbing) {
    const top = history.length > 0 ? Math.max(...history.map((s) => s.rate)) : 0;
    return plan.ladder.find((r) => r > top);
  }
  const ladderSet = new Set(plan.ladder);
  const refined = history.filter((s) => !ladderSet.has(s.rate)).length;
  if (refined >= plan.refine) return undefined;
  const cap = capacityOf(history);
  if (cap.firstFail === null) return undefined;
  const low = cap.rate ?? 0;
  const mid = Math.round(Math.sqrt(Math.max(low, 1) * cap.firstFail) / plan.quantum) * plan.quantum;
  if (mid <= low || mid >= cap.firstFail || history.some((s) => s.rate === mid)) return undefined;
  return mid;
}
