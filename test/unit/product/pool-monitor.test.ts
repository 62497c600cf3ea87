import { describe, expect, it } from "vitest";
import { classify, type NtpHeader, type NtpSample, NtpTimeoutError } from "../../../ntp/client";
import { type CheckOutcome, monitorStep, nextScore } from "../../../ntp/poolRules";
import { judgeSlots, type MonitorDeps, runMonitor } from "../../../pool/monitor";
import { fakeHeader } from "../../helpers/poolFakes";

const answer = (offsetMs: number, stratum = 2): CheckOutcome => ({
  kind: "answer",
  offsetMs,
  stratum,
});

describe("monitorStep: the pool's step table", () => {
  // Exactly the table in ntp/poolRules.ts monitorStep's comment, boundaries included.
  const cases: [string, CheckOutcome, number][] = [
    ["0 ms", answer(0), 1],
    ["+25 ms (last full point)", answer(25), 1],
    ["-25 ms", answer(-25), 1],
    ["62.5 ms (half way to 100)", answer(62.5), 0.75],
    ["-62.5 ms", answer(-62.5), 0.75],
    ["100 ms", answer(100), 0.5],
    ["425 ms (half way to 750)", answer(425), -0.25],
    ["750 ms", answer(750), -1],
    ["-750 ms", answer(-750), -1],
    ["750.001 ms", answer(750.001), -2],
    ["3000 ms", answer(3000), -2],
    ["3000.001 ms", answer(3000.001), -4],
    ["-5 s", answer(-5000), -4],
    ["stratum 7, 0 ms", answer(0, 7), 1],
    ["stratum 8, 0 ms", answer(0, 8), -4],
    ["stratum 15, 300 ms", answer(300, 15), -4],
    ["no answer", { kind: "no-answer" }, -5],
    ["KoD RATE", { kind: "kiss", code: "RATE" }, -3.5],
    ["KoD DENY", { kind: "kiss", code: "DENY" }, -10],
    ["KoD RSTR", { kind: "kiss", code: "RSTR" }, -10],
    ["kiss INIT (unsynchronised, stratum 0)", { kind: "kiss", code: "INIT" }, -5],
  ];
  it.each(cases)("%s", (_name, outcome, step) => {
    expect(monitorStep(outcome)).toBeCloseTo(step, 9);
  });

  it("falls strictly between the table's points", () => {
    expect(monitorStep(answer(26))).toBeLessThan(1);
    expect(monitorStep(answer(26))).toBeGreaterThan(0.5);
    expect(monitorStep(answer(101))).toBeLessThan(0.5);
    expect(monitorStep(answer(749))).toBeGreaterThan(-1);
  });
});

describe("nextScore", () => {
  it("is step + 0.95 × previous", () => {
    expect(nextScore(10, 1)).toBeCloseTo(10.5, 9);
    expect(nextScore(20, -5)).toBeCloseTo(14, 9);
  });
  it("a perfect server reaches 10 from 0 on the 14th check, not the 13th", () => {
    let s = 0;
    const seq: number[] = [];
    for (let i = 0; i < 14; i++) {
      s = nextScore(s, 1);
      seq.push(s);
    }
    expect(seq[12]).toBeLessThan(10);
    expect(seq[13]).toBeGreaterThanOrEqual(10);
  });
});

function sample(offsetMs: number, delayMs: number, over: Partial<NtpHeader> = {}): NtpSample {
  const h = fakeHeader(over);
  return { address: "x", header: h, verdict: classify(h), offsetMs, delayMs, sentAtMs: 0 };
}

describe("judgeSlots", () => {
  it("counts the lowest-delay answer, minus the reference of the same slot", () => {
    const j = judgeSlots(
      [
        { member: sample(5, 9), reference: sample(1, 1) },
        { member: sample(3, 2), reference: sample(2.5, 1) },
        { member: undefined, reference: sample(0, 1) },
      ],
      true,
    );
    expect(j.judgement.outcome).toEqual({ kind: "answer", offsetMs: 0.5, stratum: 2 });
    expect(j.judgement.step).toBe(1);
    expect(j.judgement.verdict).toBe("pass");
    expect([j.delayMs, j.scored, j.answered]).toEqual([2, true, 2]);
  });
  it("a kiss-o'-death in any sample decides the check", () => {
    const j = judgeSlots(
      [
        { member: sample(0, 1), reference: undefined },
        { member: sample(0, 1, { stratum: 0, refid: "RATE", leap: 3 }), reference: undefined },
      ],
      false,
    );
    expect(j.judgement.outcome).toEqual({ kind: "kiss", code: "RATE" });
  });
  it("no answer in any slot is no-answer", () => {
    const j = judgeSlots([{ member: undefined, reference: sample(0, 1) }], true);
    expect(j.judgement.outcome).toEqual({ kind: "no-answer" });
  });
  it("a silent reference in the counted slot leaves the check unscored", () => {
    const j = judgeSlots([{ member: sample(0, 1), reference: undefined }], true);
    expect(j.scored).toBe(false);
  });
});

describe("runMonitor (fake NTP answers)", () => {
  function fakeDeps(answerFor: (address: string, n: number) => NtpSample | "timeout") {
    const counts = new Map<string, number>();
    let clock = 1_800_000_000_000;
    const sleeps: number[] = [];
    const deps: MonitorDeps = {
      query: async (q) => {
        const n = (counts.get(q.address) ?? 0) + 1;
        counts.set(q.address, n);
        const a = answerFor(q.address, n);
        if (a === "timeout") throw new NtpTimeoutError(q.address, q.timeoutMs ?? 0);
        return a;
      },
      resolve: async (h) => h,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
      now: () => clock,
    };
    return { deps, counts, sleeps };
  }

  it("scores each check, prints a chart and ends with `score <n>`; exit 0 at the threshold", async () => {
    const out: string[] = [];
    const { deps, counts, sleeps } = fakeDeps((a) =>
      a === "192.0.2.1" ? sample(10.2, 1) : sample(10, 1),
    );
    const code = await runMonitor(
      {
        addresses: ["192.0.2.1"],
        reference: "192.0.2.99",
        checks: 14,
        intervalSeconds: 5,
        write: (t) => out.push(t),
      },
      deps,
    );
    const text = out.join("");
    expect(code).toBe(0);
    expect(text).toContain("check 1/14 192.0.2.1: offset +0.200 ms");
    expect(text).toMatch(/\* *$/m);
    expect(text.trimEnd().split("\n").at(-1)).toBe("score 10.25");
    // 3 samples per check, to the member and to the reference alike.
    expect(counts.get("192.0.2.1")).toBe(42);
    expect(counts.get("192.0.2.99")).toBe(42);
    // Samples 2 s apart; the rest of the 5 s interval between checks.
    expect(sleeps.slice(0, 3)).toEqual([2000, 2000, 2000]);
  });

  it("exits 1 below the threshold: a member 2 s off scores -2 per check", async () => {
    const out: string[] = [];
    const { deps } = fakeDeps((a) => (a === "192.0.2.1" ? sample(2000, 1) : sample(0, 1)));
    const code = await runMonitor(
      {
        addresses: ["192.0.2.1"],
        reference: "r",
        checks: 2,
        intervalSeconds: 1,
        write: (t) => out.push(t),
      },
      deps,
    );
    expect(code).toBe(1);
    expect(out.join("")).toContain(
      "step -2.00; score -2.00; fail: is off by 2000.000 ms relative to the reference: above 100 ms its pool score settles below 10",
    );
    expect(out.join("")).toContain("step -2.00; score -3.90; fail:");
    expect(out.join("").trimEnd().split("\n").at(-1)).toBe("score -3.90");
  });

  it("a silent address scores -5 per check", async () => {
    const out: string[] = [];
    const { deps } = fakeDeps(() => "timeout");
    const code = await runMonitor(
      { addresses: ["192.0.2.1"], checks: 1, intervalSeconds: 1, write: (t) => out.push(t) },
      deps,
    );
    expect(code).toBe(1);
    expect(out.join("")).toContain("no answer (0/3 answered); step -5.00; score -5.00");
  });
});
