import { describe, expect, it } from "vitest";
import { criticalPath, pathTotal } from "../../../bench/criticalPath";
import { renderBenchmarksMd, summaryTable } from "../../../bench/render";
import { capacityCell } from "../../../bench/renderCapacity";
import { labStagesLine } from "../../../bench/renderCriticalPath";
import { fmtRate, fmtSummary, markdownTable } from "../../../bench/renderFormat";
import type { BenchResults, CapacityConfig, StepRecord } from "../../../bench/results";

const rec = (rate: number, loss: number): StepRecord => ({
  rate,
  sent: rate * 3,
  replies: Math.round(rate * 3 * (1 - loss)),
  kod: 0,
  achievedRate: rate,
  loss,
  verdict: loss < 0.01 ? "pass" : "fail",
  sendSeconds: 3,
  memberRcvbufErrors: Math.round(rate * 3 * loss),
  loaderRcvbufErrors: 0,
  rateLimited: 0,
});

const cfg = (
  name: string,
  kind: "ntpsec" | "chrony",
  rcvbuf: number | null,
  caps: [number | null, "measured" | "at-least", number | null][],
): CapacityConfig => ({
  name,
  kind,
  rcvbuf,
  observedRcvbuf: rcvbuf ?? 212992,
  runs: caps.map(([rate, bound, firstFail]) => ({
    steps: [rec(10_000, 0), rec(40_000, 0.2)],
    capacity: { rate, bound, firstFail },
  })),
});

const results: BenchResults = {
  machine: {
    nproc: 2,
    cpu: "AMD EPYC",
    kernel: "6.1.0",
    date: "2026-11-27T08:00:00.000Z",
    ntpsec: "ntpd ntpsec-1.2.2",
    chrony: "chronyd (chrony) version 4.3",
    node: "v20.19.0",
    loadStart: "0.5 0.6 0.7",
    loadEnd: "1.0 0.9 0.8",
  },
  options: { runs: 5, quick: false, only: null },
  seconds: 600,
  sync: {
    runs: [
      { variant: "ntpsec", seconds: 9.1, pollSeconds: 0.25 },
      { variant: "chrony", seconds: 5.05, pollSeconds: 0.24 },
    ],
    summary: {
      ntpsec: { n: 1, median: 9.1, min: 9.1, max: 9.1 },
      chrony: { n: 1, median: 5.05, min: 5.05, max: 5.05 },
    },
  },
  lab: {
    available: false,
    reason: "lab run 1 did not verify its member: timeout",
    runs: [
      {
        ok: false,
        wallSeconds: 240,
        labSeconds: null,
        syncSeconds: null,
        bootSeconds: null,
        stages: [],
        error: "timeout",
      },
    ],
  },
  capacity: {
    sources: 131_072,
    stepSeconds: 3,
    pinned: true,
    generator: { unpacedRate: 162_000, pacedTarget: 160_000, pacedAchieved: 151_600, seconds: 3 },
    configs: [
      cfg("NTPsec, our config, kernel default buffer", "ntpsec", null, [
        [40_000, "measured", 49_000],
        [30_000, "measured", 40_000],
      ]),
      cfg("NTPsec, our config, rcvbuf 4 MiB", "ntpsec", 4_194_304, [
        [60_000, "measured", 69_000],
        [80_000, "at-least", null],
      ]),
      cfg("chrony, equivalent config", "chrony", null, [
        [null, "measured", 5000],
        [10_000, "measured", 20_000],
      ]),
      cfg("chrony, rcvbuf 4 MiB", "chrony", 4_194_304, [
        [40_000, "measured", 49_000],
        [40_000, "measured", 49_000],
      ]),
    ],
  },
  program: {
    rows: [
      { members: 1, resources: 13, ms: [600], wallMs: [3000], medianMs: 600, medianWallMs: 3000 },
    ],
    growth: 5.1,
    linear: 49 / 9,
  },
  errors: [],
};

describe("formatting", () => {
  it("renders a table and escapes pipes", () => {
    expect(markdownTable(["a", "b"], [["1", "x|y"]])).toBe("| a | b |\n|---|---|\n| 1 | x\\|y |");
    expect(markdownTable(["a"], [["exit 255\nssh: refused\n"]])).toBe(
      "| a |\n|---|\n| exit 255 ssh: refused |",
    );
    expect(() => markdownTable(["a", "b"], [["1"]])).toThrow(/row 0: 1 cells for 2 columns/);
  });

  it.each([
    [40_000, "40k/s"],
    [1500, "1.5k/s"],
    [151_581, "151.6k/s"],
    [800, "800/s"],
    [null, "—"],
  ])("fmtRate(%s) = %s", (r, s) => expect(fmtRate(r)).toBe(s));

  it("formats a summary with its spread and count", () => {
    expect(fmtSummary({ n: 5, median: 9.163, min: 9.1, max: 9.21 })).toBe(
      "9.16 s (9.10–9.21, n=5)",
    );
    expect(fmtSummary(undefined)).toBe("—");
  });
});

describe("capacityCell", () => {
  it("is the median of the runs, each listed, with + for a lower bound", () => {
    expect(
      capacityCell(
        cfg("x", "ntpsec", null, [
          [40_000, "measured", 49_000],
          [30_000, "measured", 40_000],
        ]),
      ),
    ).toBe("35k/s (runs: 40k/s, 30k/s)");
    expect(
      capacityCell(
        cfg("x", "ntpsec", 1, [
          [60_000, "measured", 69_000],
          [80_000, "at-least", null],
        ]),
      ),
    ).toBe("≥ 70k/s (runs: 60k/s, 80k/s+)");
  });

  it("says below the lowest failing step when a run had no passing step", () => {
    expect(
      capacityCell(
        cfg("x", "chrony", null, [
          [null, "measured", 5000],
          [10_000, "measured", 20_000],
        ]),
      ),
    ).toBe("< 5k/s (lowest step failed)");
  });
});

describe("summary table and BENCHMARKS.md", () => {
  it("puts NTPsec and chrony side by side, pairing buffer sizes, and never invents a lab figure", () => {
    const t = summaryTable(results);
    expect(t).toContain(
      "| ntpd start → synchronised (leap 00, stratum 2, system peer) | 9.10 s (9.10–9.10, n=1) | 5.05 s (5.05–5.05, n=1) |",
    );
    expect(t).toContain(
      "lab not available: lab run 1 did not verify its member: timeout | — | no figure |",
    );
    expect(t).toContain(
      "| capacity, < 1% loss: kernel default socket buffer (208 KiB) | 35k/s (runs: 40k/s, 30k/s) | < 5k/s (lowest step failed) |",
    );
    expect(t).toContain(
      "| capacity, < 1% loss: socket buffer 4 MiB | ≥ 70k/s (runs: 60k/s, 80k/s+) | 40k/s (runs: 40k/s, 40k/s) |",
    );
    expect(t).toContain("unpaced 162k/s; paced 160k/s → 151.6k/s");
  });

  it("states the machine, the load, the decisions and every step", () => {
    const md = renderBenchmarksMd(
      results,
      "## What the figures led to\n\nDECISIONS-TEXT\n",
      "npm run bench",
    );
    expect(md).toContain(
      "Machine: 2 CPUs (AMD EPYC), kernel 6.1.0, ntpd ntpsec-1.2.2, chrony chronyd (chrony) version 4.3",
    );
    expect(md).toContain("Load average at start 0.5 0.6 0.7, at end 1.0 0.9 0.8");
    expect(md.indexOf("DECISIONS-TEXT")).toBeGreaterThan(md.indexOf("## Summary"));
    expect(md).toContain("**Lab not available: lab run 1 did not verify its member: timeout**");
    // 4 configs × 2 runs × 2 steps each.
    expect(md.match(/^\| \d \| (10k|40k)\/s \|/gm)).toHaveLength(16);
    expect(md).toContain("## 4. Deployment critical path");
    expect(md).toContain(
      "No lab run verified a member in this bench run, so no measured boot is shown.",
    );
  });
});

describe("critical path", () => {
  it("shows the lab's measured stages from the first verified run only", () => {
    const ok = {
      ok: true,
      wallSeconds: 76,
      labSeconds: 69.1,
      syncSeconds: 42.5,
      bootSeconds: 34.9,
      stages: [
        { name: "init", seconds: 2 },
        { name: "modules-final", seconds: 22 },
      ],
    };
    const bad = { ...ok, ok: false, stages: [{ name: "init", seconds: 99 }] };
    const line = labStagesLine({ available: true, runs: [bad, ok] });
    expect(line).toContain(
      "init 2 s, modules-final 22 s; droplet created → cloud-init done 34.9 s",
    );
    expect(line).toContain(
      "→ ntpd synchronised 42.5 s; lab start → both verification phases passed 69.1 s.",
    );
    expect(line).not.toContain("99");
  });

  it("plugs the measured first sync in and sums only the serial steps", () => {
    const steps = criticalPath(9.16);
    const sync = steps.find((s) => s.step.startsWith("ntpd start"));
    expect(sync).toMatchObject({ low: 9, high: 13 });
    expect(sync?.source).toContain("median 9.2 s");
    const overlapped = steps.filter((s) => s.source.includes("off the critical path"));
    expect(overlapped).toHaveLength(1);
    const all = steps.reduce((a, s) => a + s.low, 0);
    expect(pathTotal(steps).low).toBe(all - (overlapped[0]?.low ?? 0));
  });
});
