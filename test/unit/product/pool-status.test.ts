import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { renderSvgChart, renderTerminalChart, SVG_LAYOUT } from "../../../pool/chart";
import { runCli } from "../../../pool/cli";
import { fetchScores, parseScores, scoresUrl, summariseScores } from "../../../pool/scores";
import { effectiveWatchInterval, statusOnce, svgPathFor, watchStatus } from "../../../pool/status";
import { type FakeScoreApi, scoreBody, startFakeScoreApi } from "../../helpers/poolFakes";
import { tempDir } from "../../helpers/tempDir";

const apis: FakeScoreApi[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((a) => a.close()));
});

const GOOD_IP = "192.0.2.10";
const LOW_IP = "192.0.2.20";
const V6_IP = "2001:db8::10";
const T0 = 1_800_000_000;

const good = scoreBody(GOOD_IP, {
  overall: {
    id: 24,
    score: 17.3,
    points: [
      [T0, 1],
      [T0 + 900, 8],
      [T0 + 1800, 12.5],
      [T0 + 2700, 17.3],
    ],
  },
  monitors: [
    { id: 101, name: "deams1-1a2b3c", score: 19.1, offset: 0.0012 },
    { id: 102, name: "usnyc2-4d5e6f", score: 15.4, offset: -0.0031 },
    { id: 103, name: "sgsin1-778899", score: -4, status: "testing", offset: null },
  ],
});
const low = scoreBody(LOW_IP, {
  overall: {
    id: 24,
    score: -12.4,
    points: [
      [T0, 5],
      [T0 + 600, -3],
      [T0 + 1200, -12.4],
    ],
  },
  monitors: [{ id: 101, name: "deams1-1a2b3c", score: -12, offset: null }],
});
const empty = { history: [], monitors: [], server: { ip: V6_IP } };

async function api() {
  const a = await startFakeScoreApi({
    [GOOD_IP]: { kind: "json", body: good },
    [LOW_IP]: { kind: "json", body: low },
    [V6_IP]: { kind: "json", body: empty },
    "192.0.2.50": { kind: "status", status: 500, body: "<html>Internal Server Error</html>" },
    "192.0.2.60": { kind: "hang" },
    "192.0.2.70": { kind: "json", body: { history: "nope" } },
  });
  apis.push(a);
  return a;
}

function sink() {
  const s = { out: "", err: "" };
  return {
    s,
    write: (t: string) => {
      s.out += t;
    },
    writeError: (t: string) => {
      s.err += t;
    },
  };
}

describe("fetchScores against a local score API", () => {
  it("follows the 301 from /scores/<ip>/json to the data API, keeping limit and monitor", async () => {
    const a = await api();
    const data = await fetchScores(GOOD_IP, { apiBase: a.base, limit: 50 });
    expect(data.server.ip).toBe(GOOD_IP);
    expect(a.requests).toEqual([
      `/scores/${GOOD_IP}/json?limit=50&monitor=*`,
      `/api/data/server/scores/${GOOD_IP}/json?limit=50&monitor=*`,
    ]);
  });

  it("404: says the pool does not know the address", async () => {
    const a = await api();
    await expect(fetchScores("192.0.2.99", { apiBase: a.base })).rejects.toMatchObject({
      kind: "unknown-ip",
      message: expect.stringMatching(/192\.0\.2\.99: the pool does not know this address/),
    });
  });

  it("500: names the status and a snippet of the body", async () => {
    const a = await api();
    await expect(fetchScores("192.0.2.50", { apiBase: a.base })).rejects.toMatchObject({
      kind: "http",
      message: expect.stringMatching(/HTTP 500 .*Internal Server Error/),
    });
  });

  it("timeout: gives up after the configured time with a clear message", async () => {
    const a = await api();
    await expect(
      fetchScores("192.0.2.60", { apiBase: a.base, timeoutMs: 300 }),
    ).rejects.toMatchObject({
      kind: "timeout",
      message: expect.stringMatching(/no answer from .* within 0.3 s/),
    });
  });

  it("unexpected shape: names the field", async () => {
    const a = await api();
    await expect(fetchScores("192.0.2.70", { apiBase: a.base })).rejects.toMatchObject({
      kind: "shape",
      message: expect.stringMatching(/history/),
    });
  });

  it("network error: says the API cannot be reached", async () => {
    const a = await api();
    const base = a.base;
    await a.close();
    apis.splice(0);
    await expect(fetchScores(GOOD_IP, { apiBase: base, timeoutMs: 2000 })).rejects.toMatchObject({
      kind: "network",
    });
  });

  it("builds the documented URL, encoding IPv6", () => {
    expect(scoresUrl("https://www.ntppool.org/", "2001:db8::1", 10)).toBe(
      "https://www.ntppool.org/scores/2001%3Adb8%3A%3A1/json?limit=10&monitor=*",
    );
  });
});

describe("summariseScores", () => {
  it("takes the overall score from the aggregate and per-monitor offsets from history", () => {
    const s = summariseScores(parseScores(good, GOOD_IP), 10);
    expect(s.score).toBe(17.3);
    expect(s.inPool).toBe(true);
    expect(s.series.map((p) => p.score)).toEqual([1, 8, 12.5, 17.3]);
    expect(s.monitors.map((m) => [m.name, m.offset])).toEqual([
      ["deams1-1a2b3c", 0.0012],
      ["usnyc2-4d5e6f", -0.0031],
      ["sgsin1-778899", null],
    ]);
  });

  it("is not in the pool below the threshold, and the threshold is a parameter", () => {
    const s = summariseScores(parseScores(good, GOOD_IP), 18);
    expect(s.inPool).toBe(false);
    expect(summariseScores(parseScores(low, LOW_IP), 10).inPool).toBe(false);
  });

  it("empty history: no score, not in the pool", () => {
    const s = summariseScores(parseScores(empty, V6_IP), 10);
    expect(s).toMatchObject({ score: null, inPool: false, series: [] });
  });

  it("without an aggregate, charts the monitors' checks and takes no overall score", () => {
    const onlyMonitors = {
      history: [
        { ts: T0, offset: 0.001, step: 1, score: 3, monitor_id: 7, rtt: 20 },
        { ts: T0 + 60, offset: 0.001, step: 1, score: 4, monitor_id: 7, rtt: 20 },
      ],
      monitors: [
        { id: 7, name: "m7", type: "monitor", ts: null, score: 4, status: "active", avg_rtt: 20 },
      ],
      server: { ip: GOOD_IP },
    };
    const s = summariseScores(parseScores(onlyMonitors, GOOD_IP), 10);
    expect(s.score).toBeNull();
    expect(s.series.map((p) => p.score)).toEqual([3, 4]);
    expect(s.seriesLabel).toMatch(/no aggregate/);
  });
});

/** Pulls `points` of the first `polyline.score` out of the SVG text. */
function polylinePoints(svg: string): [number, number][] {
  const m = svg.match(/<polyline class="score" points="([^"]+)"/);
  if (!m?.[1]) throw new Error("no score polyline in SVG");
  return m[1].split(" ").map((pair) => pair.split(",").map(Number) as [number, number]);
}

function lineY(svg: string, cls: string): number {
  const m = svg.match(new RegExp(`<line class="${cls}" x1="[^"]+" y1="([^"]+)"`));
  if (!m?.[1]) throw new Error(`no ${cls} line`);
  return Number(m[1]);
}

describe("SVG chart", () => {
  const points = [
    { ts: T0 + 2700, score: 17.3 },
    { ts: T0, score: 1 },
    { ts: T0 + 900, score: 8 },
    { ts: T0 + 1800, score: 12.5 },
  ];
  const svg = renderSvgChart(points, { title: "a <test> & chart", threshold: 10 });
  const L = SVG_LAYOUT;

  it("is a standalone SVG document with the title escaped", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("a &lt;test&gt; &amp; chart");
  });

  it("has one vertex per sample, oldest first, spanning the plot width", () => {
    const pts = polylinePoints(svg);
    expect(pts).toHaveLength(4);
    expect(pts[0]?.[0]).toBe(L.left);
    expect(pts[3]?.[0]).toBe(L.width - L.right);
    // Evenly spaced timestamps give evenly spaced x.
    const dx = pts.slice(1).map((p, i) => p[0] - (pts[i]?.[0] ?? 0));
    for (const d of dx) expect(d).toBeCloseTo(dx[0] ?? 0, 1);
  });

  it("maps scores linearly onto y, with the threshold line where score 10 would be", () => {
    const pts = polylinePoints(svg);
    const scores = [1, 8, 12.5, 17.3];
    const ys = pts.map((p) => p[1]);
    // Higher score = smaller y (SVG y grows downwards).
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThan(ys[i - 1] ?? 0);
    // Linear: y(score) = a + b*score fitted from two points predicts the others.
    const b = ((ys[3] ?? 0) - (ys[0] ?? 0)) / (17.3 - 1);
    const a = (ys[0] ?? 0) - b * 1;
    for (let i = 0; i < 4; i++) expect(ys[i]).toBeCloseTo(a + b * (scores[i] ?? 0), 1);
    expect(lineY(svg, "threshold")).toBeCloseTo(a + b * 10, 1);
    // The axis tops out at 20 and bottoms at 0 for these scores.
    expect(a + b * 20).toBeCloseTo(L.top, 1);
    expect(a).toBeCloseTo(L.height - L.bottom, 1);
  });

  it("extends the axis below zero for negative scores", () => {
    const neg = renderSvgChart(
      [
        { ts: T0, score: 5 },
        { ts: T0 + 60, score: -37 },
      ],
      { title: "neg", threshold: 10 },
    );
    const ys = polylinePoints(neg).map((p) => p[1]);
    // The axis now runs -40..20: -37 sits 57/60 of the plot height below the top.
    const plotH = L.height - L.top - L.bottom;
    expect(ys[1]).toBeCloseTo(L.top + (57 / 60) * plotH, 1);
    expect(ys[0]).toBeCloseTo(L.top + (15 / 60) * plotH, 1);
    expect(neg).toContain(">-40</text>");
  });

  it("says so when there is no history", () => {
    const none = renderSvgChart([], { title: "none", threshold: 10 });
    expect(none).not.toContain("<polyline");
    expect(none).toContain("no score history yet");
  });
});

describe("terminal chart", () => {
  it("puts a rising series lower-left to upper-right, with the threshold row marked", () => {
    const text = renderTerminalChart(
      [
        { ts: T0, score: 0 },
        { ts: T0 + 100, score: 20 },
      ],
      { width: 20, height: 5, threshold: 10 },
    );
    const rows = text.split("\n");
    const plot = rows.slice(0, 5).map((r) => r.slice(r.indexOf("|") + 1));
    expect(plot[0]?.[19]).toBe("*");
    expect(plot[4]?.[0]).toBe("*");
    expect(plot[2]).toMatch(/^-+$/);
    expect(rows[2]).toMatch(/^\s*10 \|/);
    expect(text).toContain("2027-01-15 08:00Z");
  });

  it("labels the threshold row with the threshold even when rows are coarse", () => {
    const text = renderTerminalChart([{ ts: T0, score: 15 }], {
      width: 10,
      height: 10,
      threshold: 10,
    });
    const thresholdLine = text.split("\n").find((l) => /\|-+/.test(l.replace(/\*/g, "-")));
    expect(thresholdLine).toMatch(/^\s*10 \|/);
  });

  it("prints a note for an empty series", () => {
    expect(renderTerminalChart([], { width: 10, height: 3, threshold: 10 })).toMatch(/no score/);
  });
});

describe("statusOnce exit codes and output", () => {
  it("0 when every address is in the pool; shows score, monitors, offsets and chart", async () => {
    const a = await api();
    const { s, write, writeError } = sink();
    const code = await statusOnce([GOOD_IP], { apiBase: a.base, write, writeError });
    expect(code).toBe(0);
    expect(s.out).toMatch(/192\.0\.2\.10: score 17\.3 .*IN the pool/);
    expect(s.out).toMatch(/deams1-1a2b3c\s+active\s+19\.1\s+1\.20 ms/);
    expect(s.out).toMatch(/sgsin1-778899\s+testing\s+-4\.0\s+no answer/);
    expect(s.out).toMatch(/\*/);
  });

  it("1 when one address is below the threshold", async () => {
    const a = await api();
    const { s, write, writeError } = sink();
    const code = await statusOnce([GOOD_IP, LOW_IP], { apiBase: a.base, write, writeError });
    expect(code).toBe(1);
    expect(s.out).toMatch(/192\.0\.2\.20: score -12\.4 .*NOT in the pool/);
  });

  it("2 when an address cannot be read, with the reason on stderr", async () => {
    const a = await api();
    const { s, write, writeError } = sink();
    const code = await statusOnce([GOOD_IP, "192.0.2.99"], { apiBase: a.base, write, writeError });
    expect(code).toBe(2);
    expect(s.err).toMatch(/unknown address: 192\.0\.2\.99/);
  });

  it("empty history is 'not in the pool', not an error", async () => {
    const a = await api();
    const { s, write, writeError } = sink();
    expect(await statusOnce([V6_IP], { apiBase: a.base, write, writeError })).toBe(1);
    expect(s.out).toMatch(/score none/);
    expect(s.out).toMatch(/no monitors have checked/);
  });

  it("writes one SVG per address", async () => {
    const a = await api();
    const dir = tempDir("pool-svg-");
    const { write, writeError } = sink();
    await statusOnce([GOOD_IP, V6_IP], {
      apiBase: a.base,
      svg: join(dir, "score.svg"),
      write,
      writeError,
    });
    const svg = readFileSync(join(dir, "score-192.0.2.10.svg"), "utf8");
    expect(polylinePoints(svg)).toHaveLength(4);
    expect(readFileSync(join(dir, "score-2001_db8__10.svg"), "utf8")).toContain("no score");
  });

  it("svgPathFor substitutes {ip} and keeps a single file name as given", () => {
    expect(svgPathFor("/t/{ip}.svg", "::1", 2)).toBe("/t/__1.svg");
    expect(svgPathFor("/t/a.svg", "192.0.2.1", 1)).toBe("/t/a.svg");
  });
});

describe("watch", () => {
  it("never polls faster than every 120 s", () => {
    expect(effectiveWatchInterval(5)).toBe(120);
    expect(effectiveWatchInterval(undefined)).toBe(120);
    expect(effectiveWatchInterval(600)).toBe(600);
  });

  it("sleeps the effective interval between rounds and stops after maxRounds", async () => {
    const a = await api();
    const sleeps: number[] = [];
    const { s, write, writeError } = sink();
    const code = await watchStatus([GOOD_IP], {
      apiBase: a.base,
      intervalSeconds: 10,
      maxRounds: 3,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      now: () => new Date("2027-01-15T08:00:00Z"),
      write,
      writeError,
    });
    expect(code).toBe(0);
    expect(sleeps).toEqual([120_000, 120_000]);
    expect(s.out).toMatch(/--interval 10s raised to 120s/);
    expect(s.out.match(/=== 2027-01-15T08:00:00.000Z \(round \d/g)).toHaveLength(3);
    // Two HTTP requests (301 + target) per round.
    expect(a.requests).toHaveLength(6);
  });
});

describe("watch interruption", () => {
  it("an abort during the wait ends the loop after the current round", async () => {
    const a = await api();
    const controller = new AbortController();
    const { s, write, writeError } = sink();
    const done = watchStatus([GOOD_IP], {
      apiBase: a.base,
      signal: controller.signal,
      write: (t) => {
        write(t);
        if (t.includes("chart") || t.includes("over time"))
          setTimeout(() => controller.abort(), 20);
      },
      writeError,
    });
    // Without the abort this would wait 120 s and the test would time out.
    expect(await done).toBe(0);
    expect(s.out.match(/=== .* \(round/g)).toHaveLength(1);
  });
});

describe("pool status CLI", () => {
  it("runs with --api-base and explicit IPs, and sets the exit code", async () => {
    const a = await api();
    const out = { text: "", err: "", code: -1 };
    await runCli(["status", "--api-base", a.base, "--threshold", "20", GOOD_IP], {
      write: (t) => {
        out.text += t;
      },
      writeError: (t) => {
        out.err += t;
      },
      exit: (c) => {
        out.code = c;
      },
    });
    expect(out.code).toBe(1);
    expect(out.text).toMatch(/NOT in the pool \(score < 20\)/);
  });

  it("rejects a non-numeric --interval", async () => {
    const out = { err: "", code: -1 };
    await runCli(["status", "--watch", "--interval", "soon", GOOD_IP], {
      write: () => {},
      writeError: (t) => {
        out.err += t;
      },
      exit: (c) => {
        out.code = c;
      },
    });
    expect(out.code).not.toBe(0);
    expect(out.err).toMatch(/--interval must be a positive number, got "soon"/);
  });
});
