import { describe, expect, it } from "vitest";
import { growthFactor, LINEAR_GROWTH, median, summarize } from "../../../bench/stats";
import {
  capacityOf,
  lossOf,
  nextRate,
  type StepPlan,
  type StepResult,
  verdictOf,
} from "../../../bench/steps";

describe("median / summarize", () => {
  it.each([
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[9.2, 9.1, 9.3, 9.1, 9.4], 9.2],
  ])("median(%j) = %d", (v, m) => expect(median(v)).toBe(m));

  it("refuses an empty list and non-finite values", () => {
    expect(() => median([])).toThrow(/must not be empty/);
    expect(() => median([1, Number.NaN])).toThrow(/finite.*NaN/);
  });

  it("summarises without reordering the input", () => {
    const v = [7.3, 7.1, 7.4];
    expect(summarize(v)).toEqual({ n: 3, median: 7.3, min: 7.1, max: 7.4 });
    expect(v).toEqual([7.3, 7.1, 7.4]);
  });
});

describe("growthFactor", () => {
  it("is 49/9 for a linear cost and more for a quadratic one", () => {
    const lin = (n: number) => 100 + 20 * n;
    expect(growthFactor(lin(1), lin(10), lin(50))).toBeCloseTo(LINEAR_GROWTH, 10);
    const quad = (n: number) => 100 + n * n;
    expect(growthFactor(quad(1), quad(10), quad(50))).toBeCloseTo((2500 - 1) / (100 - 1), 10);
  });

  it("needs t10 > t1", () => {
    expect(() => growthFactor(500, 500, 900)).toThrow(/t10 must exceed t1.*t1=500, t10=500/);
  });
});

const step = (rate: number, loss: number, achieved = rate): StepResult => {
  const sent = Math.round(rate * 3);
  return { rate, sent, replies: Math.round(sent * (1 - loss)), kod: 0, achievedRate: achieved };
};

describe("step verdicts", () => {
  it("counts KoD answers as lost and judges against 1%", () => {
    expect(
      lossOf({ rate: 1000, sent: 1000, replies: 980, kod: 20, achievedRate: 1000 }),
    ).toBeCloseTo(0.02);
    expect(verdictOf(step(100_000, 0.0099))).toBe("pass");
    expect(verdictOf(step(100_000, 0.01))).toBe("fail");
  });

  it("calls a step the generator could not drive generator-short, whatever the loss", () => {
    expect(verdictOf(step(100_000, 0, 96_000))).toBe("generator-short");
    expect(verdictOf(step(100_000, 0, 97_000))).toBe("pass");
  });

  it("refuses a step with nothing sent", () => {
    expect(() => lossOf({ rate: 5, sent: 0, replies: 0, kod: 0, achievedRate: 0 })).toThrow(
      /sent must be > 0/,
    );
  });
});

describe("capacityOf", () => {
  it("is the highest pass below the lowest fail (a lucky pass above a fail does not count)", () => {
    const c = capacityOf([
      step(10_000, 0),
      step(20_000, 0),
      step(40_000, 0.05),
      step(28_000, 0.002),
      step(34_000, 0.02),
      step(60_000, 0),
    ]);
    expect(c).toEqual({ rate: 28_000, bound: "measured", firstFail: 34_000 });
  });

  it("is a lower bound when nothing failed", () => {
    expect(capacityOf([step(10_000, 0), step(20_000, 0), step(40_000, 0, 30_000)])).toEqual({
      rate: 20_000,
      bound: "at-least",
      firstFail: null,
    });
  });

  it("has no rate when the first step already failed", () => {
    expect(capacityOf([step(5000, 0.5)])).toEqual({
      rate: null,
      bound: "measured",
      firstFail: 5000,
    });
  });
});

describe("nextRate", () => {
  const plan: StepPlan = {
    ladder: [5000, 10_000, 20_000, 40_000, 80_000],
    refine: 2,
    quantum: 1000,
  };

  it("climbs the ladder while steps pass and stops at its top", () => {
    expect(nextRate(plan, [])).toBe(5000);
    expect(nextRate(plan, [step(5000, 0)])).toBe(10_000);
    expect(
      nextRate(
        plan,
        plan.ladder.map((r) => step(r, 0)),
      ),
    ).toBeUndefined();
  });

  it("after the first fail bisects geometrically between last pass and first fail, `refine` times", () => {
    const h = [step(5000, 0), step(10_000, 0), step(20_000, 0), step(40_000, 0.3)];
    expect(nextRate(plan, h)).toBe(28_000); // √(20k·40k) = 28.28k → 28k
    h.push(step(28_000, 0));
    expect(nextRate(plan, h)).toBe(33_000); // √(28k·40k) = 33.47k → 33k
    h.push(step(33_000, 0.02));
    expect(nextRate(plan, h)).toBeUndefined();
  });

  it("stops when bisection cannot produce a new rate at this quantum", () => {
    const h = [
      step(5000, 0),
      step(10_000, 0),
      step(20_000, 0),
      step(40_000, 0),
      step(80_000, 0.1),
      step(60_000, 0),
      step(67_000, 0.1),
    ];
    // √(60k·67k) = 63.4k rounds to 60k at a 20k quantum: already measured, nothing new.
    expect(nextRate({ ...plan, refine: 5, quantum: 20_000 }, h)).toBeUndefined();
    expect(nextRate({ ...plan, refine: 5, quantum: 1000 }, h)).toBe(63_000);
  });

  it("stops at once when the generator falls short", () => {
    expect(nextRate(plan, [step(5000, 0), step(10_000, 0, 8000)])).toBeUndefined();
  });

  it("ends when the lowest step already fails (capacity is reported as below it)", () => {
    expect(nextRate(plan, [step(5000, 0.5)])).toBeUndefined();
  });

  it("refuses a ladder that is not ascending", () => {
    expect(() => nextRate({ ...plan, ladder: [10, 5] }, [])).toThrow(/ascending.*10, 5/);
  });
});
