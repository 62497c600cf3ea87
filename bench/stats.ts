/** Pure statistics for the bench's figures. */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median: values must not be empty");
  for (const v of values) {
    if (!Number.isFinite(v)) throw new Error(`median: values must be finite numbers (got ${v})`);
  }
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1
    ? (s[mid] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const m = median(values);
  return { n: values.length, median: m, min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Growth of the program's cost from 10 to 50 members relative to 1 to 10:
 * (t50 − t1) / (t10 − t1). Linear cost gives 49/9 ≈ 5.44; more means super-linear.
 */
export function growthFactor(t1: number, t10: number, t50: number): number {
  if (!(t10 > t1)) {
    throw new Error(`growthFactor: t10 must exceed t1 to define a slope (t1=${t1}, t10=${t10})`);
  }
  return (t50 - t1) / (t10 - t1);
}

/** The growth factor of a perfectly linear cost (see growthFactor). */
export const LINEAR_GROWTH = 49 / 9;
