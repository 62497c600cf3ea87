/**
 * The SVG score chart checked as an image: rendered to PNG by a real SVG renderer
 * (rsvg-convert, Debian librsvg2-bin), decoded here, and the pixels where the data should be
 * inspected. Catches what text checks cannot: markup a renderer rejects, strokes that do not
 * paint, points drawn off the canvas.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { imageSpawnSync } from "../../lab/imageExec";
import { renderSvgChart, SVG_LAYOUT, svgScales } from "../../pool/chart";
import { requireRealTools } from "../helpers/realTools";

interface Image {
  width: number;
  height: number;
  /** RGBA at (x, y). */
  px: (x: number, y: number) => [number, number, number, number];
}

/** Minimal PNG decoder: 8-bit RGB/RGBA, non-interlaced (what rsvg-convert writes). */
function decodePng(buf: Buffer): Image {
  expect(buf.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString("latin1", pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      const color = data[9];
      expect({ depth, interlace: data[12] }).toEqual({ depth: 8, interlace: 0 });
      channels = color === 6 ? 4 : color === 2 ? 3 : 0;
      expect(channels, `unsupported PNG colour type ${color}`).toBeGreaterThan(0);
    } else if (type === "IDAT") {
      idat.push(Buffer.from(data));
    }
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i] ?? 0;
      const a = i >= channels ? (out[y * stride + i - channels] ?? 0) : 0;
      const b = y > 0 ? (out[(y - 1) * stride + i] ?? 0) : 0;
      const c = y > 0 && i >= channels ? (out[(y - 1) * stride + i - channels] ?? 0) : 0;
      let v: number;
      switch (filter) {
        case 0:
          v = x;
          break;
        case 1:
          v = x + a;
          break;
        case 2:
          v = x + b;
          break;
        case 3:
          v = x + Math.floor((a + b) / 2);
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          throw new Error(`PNG filter ${filter} unknown`);
      }
      out[y * stride + i] = v & 0xff;
    }
  }
  return {
    width,
    height,
    px: (x, y) => {
      const o = Math.round(y) * stride + Math.round(x) * channels;
      return [
        out[o] ?? 0,
        out[o + 1] ?? 0,
        out[o + 2] ?? 0,
        channels === 4 ? (out[o + 3] ?? 0) : 255,
      ];
    },
  };
}

function render(svg: string): Image {
  // rsvg-convert from the lab's tools image, not the host.
  const tools = requireRealTools(["rsvg-convert"]);
  const dir = mkdtempSync(join(tmpdir(), "pool-chart-"));
  try {
    const svgPath = join(dir, "chart.svg");
    const pngPath = join(dir, "chart.png");
    writeFileSync(svgPath, svg);
    const r = imageSpawnSync(["rsvg-convert", "-f", "png", "-o", pngPath, svgPath], {
      root: tools,
      binds: [{ host: dir }],
    });
    expect(r.status, r.stderr).toBe(0);
    return decodePng(readFileSync(pngPath));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Any pixel within 1 px of (x, y) satisfying `test`: strokes are antialiased at their edges. */
function near(img: Image, x: number, y: number, test: (c: number[]) => boolean): boolean {
  for (let dx = -1; dx <= 1; dx++) {
    for (let dy = -1; dy <= 1; dy++) {
      const px = Math.min(Math.max(x + dx, 0), img.width - 1);
      const py = Math.min(Math.max(y + dy, 0), img.height - 1);
      if (test(img.px(px, py))) return true;
    }
  }
  return false;
}

const isBlue = ([r, g, b]: number[]) => (b ?? 0) > 150 && (r ?? 0) < 100 && (g ?? 0) < 140;
const isRed = ([r, g, b]: number[]) => (r ?? 0) > 150 && (g ?? 0) < 120 && (b ?? 0) < 120;
const isWhite = ([r, g, b]: number[]) => (r ?? 0) > 240 && (g ?? 0) > 240 && (b ?? 0) > 240;

describe("score chart rendered to PNG", () => {
  const T0 = 1_800_000_000;
  const points = [
    { ts: T0, score: -5 },
    { ts: T0 + 600, score: 4 },
    { ts: T0 + 1200, score: 15 },
    { ts: T0 + 1800, score: 19 },
  ];
  const svg = renderSvgChart(points, { title: "192.0.2.10", threshold: 10 });
  const img = render(svg);
  const { x, y } = svgScales(points);

  it("has the declared size", () => {
    expect([img.width, img.height]).toEqual([SVG_LAYOUT.width, SVG_LAYOUT.height]);
  });

  it("paints the score line through every data point", () => {
    for (const p of points) {
      expect(near(img, x(p.ts), y(p.score), isBlue), `no line at score ${p.score}`).toBe(true);
    }
  });

  it("paints the line between points, and not far away from it", () => {
    const a = points[1] as { ts: number; score: number };
    const b = points[2] as { ts: number; score: number };
    const midX = (x(a.ts) + x(b.ts)) / 2;
    const midY = (y(a.score) + y(b.score)) / 2;
    expect(near(img, midX, midY, isBlue)).toBe(true);
    // 40 px above the midpoint is empty plot area.
    expect(isWhite(img.px(midX, midY - 40))).toBe(true);
  });

  it("draws the in-pool threshold in red at score 10", () => {
    const ty = y(10);
    const row = Array.from({ length: 40 }, (_, i) => img.px(SVG_LAYOUT.left + 2 + i, ty));
    expect(row.some(isRed)).toBe(true);
    // The threshold is dashed: the gaps show the grey grid line under it, not red.
    expect(row.some((c) => !isRed(c))).toBe(true);
  });
});
