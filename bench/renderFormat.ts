/** Formatting shared by the page's parts: Markdown tables, summaries, rates, hosts. */
import type { Measured } from "./results";
import type { Summary } from "./stats";

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

/** "measured 2026-12-01T23:10Z by `…`, load 1.2 1.5 2.0 → 2.4 2.1 2.2". */
export function measuredLine(m: Measured | undefined): string {
  if (!m) return "";
  return `Measured ${m.date.slice(0, 16)}Z by \`${m.command}\` in ${(m.seconds / 60).toFixed(1)} min on ${hostOf(m)}; host load average (1/5/15 min) ${m.loadStart} at the start, ${m.loadEnd} at the end (other jobs shared the host).`;
}

export function hostOf(m: Measured): string {
  return m.machine
    ? `${m.machine.nproc} CPUs (${m.machine.cpu}), kernel ${m.machine.kernel}`
    : "a host this result did not record";
}
