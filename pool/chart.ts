/**
 * Score-over-time charts: plain text for the terminal and SVG for files. Pure functions of
 * the series; both share one scale so they agree on what "in the pool" looks like.
 */

export interface Point {
  /** Unix seconds. */
  ts: number;
  score: number;
}

/** Top of the score axis: the pool caps scores near 20 (docs/decisions.md#scoring). */
const SCORE_AXIS_MAX = 20;

interface ScoreScale {
  min: number;
  max: number;
}

/** Score axis: 0..20 normally, extended downwards in steps of 10 to fit negative scores. */
function scoreScale(points: readonly Point[]): ScoreScale {
  const lowest = Math.min(0, ...points.map((p) => p.score));
  const highest = Math.max(SCORE_AXIS_MAX, ...points.map((p) => p.score));
  return { min: Math.floor(lowest / 10) * 10, max: Math.ceil(highest / 10) * 10 };
}

function timeRange(points: readonly Point[]): { start: number; end: number } {
  const ts = points.map((p) => p.ts);
  return { start: Math.min(...ts), end: Math.max(...ts) };
}

function isoMinute(ts: number): string {
  return `${new Date(ts * 1000).toISOString().slice(0, 16).replace("T", " ")}Z`;
}

/**
 * A text chart `width` columns by `height` rows: `*` marks the newest score in each column,
 * `-` the threshold row where no score sits. Rows are labelled with the score they stand for.
 */
export function renderTerminalChart(
  points: readonly Point[],
  options: { width: number; height: number; threshold: number },
): string {
  if (points.length === 0) {
    return "  (no score history yet)\n";
  }
  const { width, height, threshold } = options;
  const scale = scoreScale(points);
  const { start, end } = timeRange(points);
  const span = end - start;
  const rowOf = (score: number) =>
    Math.round(((scale.max - score) / (scale.max - scale.min)) * (height - 1));
  const colOf = (ts: number) =>
    span === 0 ? Math.floor((width - 1) / 2) : Math.round(((ts - start) / span) * (width - 1));

  const grid: string[][] = Array.from({ length: height }, () => Array(width).fill(" "));
  const thresholdRow = rowOf(threshold);
  if (thresholdRow >= 0 && thresholdRow < height) {
    grid[thresholdRow]?.fill("-");
  }
  const newestInColumn = new Map<number, Point>();
  for (const p of [...points].sort((a, b) => a.ts - b.ts)) {
    newestInColumn.set(colOf(p.ts), p);
  }
  for (const [col, p] of newestInColumn) {
    const row = grid[rowOf(p.score)];
    if (row !== undefined) {
      row[col] = "*";
    }
  }
  const labelWidth =
    Math.max(String(scale.max).length, String(scale.min).length, String(threshold).length) + 1;
  const lines = grid.map((cells, r) => {
    // The threshold row is labelled with the threshold itself: with few rows it stands for
    // a band of scores, and "10" is what the operator is looking for.
    const label =
      r === thresholdRow
        ? String(threshold)
        : r === 0
          ? String(scale.max)
          : r === height - 1
            ? String(scale.min)
            : "";
    return `${label.padStart(labelWidth)} |${cells.join("")}`;
  });
  lines.push(`${" ".repeat(labelWidth)} +${"-".repeat(width)}`);
  const left = isoMinute(start);
  const right = isoMinute(end);
  const gap = Math.max(1, width - left.length - right.length);
  lines.push(`${" ".repeat(labelWidth + 2)}${left}${" ".repeat(gap)}${right}`);
  return `${lines.join("\n")}\n`;
}

/** SVG geometry, exported so tests can map points back to scores. */
export const SVG_LAYOUT = {
  width: 640,
  height: 260,
  left: 48,
  right: 16,
  top: 32,
  bottom: 36,
} as const;

export interface SvgScales {
  x: (ts: number) => number;
  y: (score: number) => number;
  scale: ScoreScale;
}

export function svgScales(points: readonly Point[]): SvgScales {
  const L = SVG_LAYOUT;
  const scale = scoreScale(points);
  const { start, end } = points.length > 0 ? timeRange(points) : { start: 0, end: 0 };
  const plotW = L.width - L.left - L.right;
  const plotH = L.height - L.top - L.bottom;
  const span = end - start;
  return {
    scale,
    x: (ts) => (span === 0 ? L.left + plotW / 2 : L.left + ((ts - start) / span) * plotW),
    y: (score) => L.top + ((scale.max - score) / (scale.max - scale.min)) * plotH,
  };
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * A standalone SVG: one `polyline.score` through every point (oldest first), a dashed
 * `line.threshold` at the in-pool score, horizontal grid lines every 10 points, and the
 * time range under the axis.
 */
export function renderSvgChart(
  points: readonly Point[],
  options: { title: string; threshold: number },
): string {
  const L = SVG_LAYOUT;
  const sorted = [...points].sort((a, b) => a.ts - b.ts);
  const { x, y, scale } = svgScales(sorted);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${L.width}" height="${L.height}" fill="#ffffff"/>`,
    `<text x="${L.left}" y="18" font-size="13">${escapeXml(options.title)}</text>`,
  ];
  for (let v = scale.min; v <= scale.max; v += 10) {
    const gy = round2(y(v));
    parts.push(
      `<line class="grid" x1="${L.left}" y1="${gy}" x2="${L.width - L.right}" y2="${gy}" stroke="#e0e0e0"/>`,
      `<text x="${L.left - 6}" y="${gy + 4}" text-anchor="end">${v}</text>`,
    );
  }
  const ty = round2(y(options.threshold));
  parts.push(
    `<line class="threshold" x1="${L.left}" y1="${ty}" x2="${L.width - L.right}" y2="${ty}" stroke="#d04040" stroke-width="2" stroke-dasharray="4 3"/>`,
  );
  if (sorted.length === 0) {
    parts.push(
      `<text class="empty" x="${L.width / 2}" y="${L.height / 2}" text-anchor="middle">no score history yet</text>`,
    );
  } else {
    const coords = sorted.map((p) => `${round2(x(p.ts))},${round2(y(p.score))}`).join(" ");
    parts.push(
      `<polyline class="score" points="${coords}" fill="none" stroke="#1060c0" stroke-width="2"/>`,
    );
    const first = sorted[0] as Point;
    const last = sorted[sorted.length - 1] as Point;
    const axisY = L.height - L.bottom + 16;
    parts.push(
      `<text x="${L.left}" y="${axisY}">${isoMinute(first.ts)}</text>`,
      `<text x="${L.width - L.right}" y="${axisY}" text-anchor="end">${isoMinute(last.ts)}</text>`,
    );
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
