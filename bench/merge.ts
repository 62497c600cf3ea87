/** Parts of the bench, and how a part measured alone joins the saved results. Pure. */
import type { BenchResults } from "./results";

export const PARTS = ["sync", "lab", "capacity", "program", "timekeeping"] as const;
export type Part = (typeof PARTS)[number];

/**
 * The results to write: a full run as measured; a run with --only merged into the saved
 * results (the measured part replaces its entry, the others and the machine are kept).
 */
export function mergeResults(
  saved: (BenchResults & { command?: string }) | undefined,
  fresh: BenchResults & { command: string },
  only: Part | undefined,
): BenchResults & { command: string } {
  if (only === undefined || saved === undefined) return fresh;
  const part = fresh[only];
  return {
    ...saved,
    command: saved.command ?? "npm run bench",
    ...(part !== undefined ? { [only]: part } : {}),
    errors: [
      ...saved.errors.filter((e) => !e.startsWith(`${only}:`)),
      ...fresh.errors.map((e) => (e.startsWith(`${only}:`) ? e : `${only}: ${e}`)),
    ],
  } as BenchResults & { command: string };
}
