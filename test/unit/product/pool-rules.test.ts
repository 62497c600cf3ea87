import { describe, expect, it } from "vitest";
import {
  classify,
  type NtpHeader,
  type NtpSample,
  NtpTimeoutError,
  Pacer,
  type QueryOptions,
} from "../../../ntp/client";
import { judgeCheck, POOL_RULES } from "../../../ntp/poolRules";
import { judgeSlots, type MonitorDeps, runMonitor } from "../../../pool/monitor";
import { probeAddress } from "../../../pool/register";
import { runOutsideCheck } from "../../../verify/outsideCheck";
import { CheckFailure, type OutsideDeps } from "../../../verify/outsideOptions";
import { fakeHeader, virtualClock } from "../../helpers/poolFakes";

// One check, every sample of it the same answer, judged by each of the project's former
// judges: the outside check (verify/outsideCheck.ts), `pool register` (pool/register.ts),
// `pool monitor` (pool/monitor.ts). Before ntp/poolRules.ts they disagreed on the rows
// marked "was:"; now each derives its verdict and step from judgeCheck.

const MEMBER = "203.0.113.7";

type Reply = { readonly header: Partial<NtpHeader>; readonly offsetMs: number };
type Answer = Reply | "timeout";
type Verdict = "pass" | "warn" | "fail";

function sample(a: Reply): NtpSample {
  const header = fakeHeader(a.header);
  return {
    address: MEMBER,
    header,
    verdict: classify(header),
    offsetMs: a.offsetMs,
    delayMs: 1,
    sentAtMs: 0,
  };
}

const at = (offsetMs: number, header: Partial<NtpHeader> = {}): Reply => ({
  header,
  offsetMs,
});
const kiss = (code: string): Reply => at(0, { stratum: 0, leap: 3, refid: code });

// [case, answer, monitor step, verdict]
const CASES: readonly [string, Answer, number, Verdict][] = [
  ["stratum 2, 0 ms", at(0), 1, "pass"],
  ["stratum 2, 25 ms: the last full point", at(25), 1, "pass"],
  ["stratum 2, 50 ms (was: register silent)", at(50), 1 - (0.5 * 25) / 75, "warn"],
  ["stratum 2, -100 ms: settles exactly at 10", at(-100), 0.5, "warn"],
  ["stratum 2, 150 ms (was: register ready)", at(150), 0.5 - (1.5 * 50) / 650, "fail"],
  ["stratum 2, 2 s (was: register ready)", at(2000), -2, "fail"],
  ["stratum 5, 0 ms: the add form's highest", at(0, { stratum: 5 }), 1, "pass"],
  ["stratum 6, 0 ms (was: monitor silent)", at(0, { stratum: 6 }), 1, "fail"],
  ["stratum 8, 0 ms", at(0, { stratum: 8 }), -4, "fail"],
  ["leap 3 at stratum 2 (was: monitor silent)", at(0, { leap: 3 }), 1, "fail"],
  ["stratum 16, leap 3", at(0, { stratum: 16, leap: 3, refid: "ffffffff" }), -4, "fail"],
  ["kiss RATE", kiss("RATE"), -3.5, "fail"],
  ["kiss DENY", kiss("DENY"), -10, "fail"],
  ["kiss RSTR", kiss("RSTR"), -10, "fail"],
  ["kiss INIT", kiss("INIT"), -5, "fail"],
  ["kiss of an unknown code", kiss("ABCD"), -5, "fail"],
  ["no answer", "timeout", -5, "fail"],
];

/** The outside check's verdict for a member that always answers `a`. */
async function outsideVerdict(a: Answer): Promise<Verdict> {
  const clock = virtualClock();
  const deps: OutsideDeps = {
    query: async (o: QueryOptions) => {
      if (a === "timeout") throw new NtpTimeoutError(o.address, 3000);
      return sample(a);
    },
    probe: async () => ({ answered: false, replyBytes: 0 }),
    resolve: async (h) => [h],
    tcp: async () => "open",
    routes6: async () => true,
    pacer: new Pacer(POOL_RULES.sampleGapMs, clock.sleep, clock.now),
    now: clock.now,
    sleep: clock.sleep,
    log: () => {},
  };
  try {
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [], retries: 0 }, deps);
    // The check also warns that no upstream answered (it was given none): not a verdict.
    return r.warnings.some((w) => w.startsWith(`${MEMBER} is off by`)) ? "warn" : "pass";
  } catch (e) {
    if (e instanceof CheckFailure) return "fail";
    throw e;
  }
}

/** `pool register`'s verdict for the same member. */
async function registerVerdict(a: Answer): Promise<Verdict> {
  const p = await probeAddress(MEMBER, "IPv4", {
    attempts: POOL_RULES.samples,
    sleep: async () => {},
    query: async (o) => {
      if (a === "timeout") throw new NtpTimeoutError(o.address, 3000);
      return sample(a);
    },
  });
  return !p.ok ? "fail" : p.warning !== undefined ? "warn" : "pass";
}

/** `pool monitor`'s judgement of one check of the same member, without a reference. */
function monitorJudgement(a: Answer) {
  const slots = Array.from({ length: POOL_RULES.samples }, () => ({
    member: a === "timeout" ? undefined : sample(a),
    reference: undefined,
  }));
  return judgeSlots(slots, false).judgement;
}

describe("every former judge agrees on one check (ntp/poolRules.ts judgeCheck)", () => {
  it.each(CASES)("%s", async (_name, a, step, verdict) => {
    const samples = Array.from({ length: POOL_RULES.samples }, () =>
      a === "timeout" ? undefined : sample(a),
    );
    const j = judgeCheck(samples);
    expect(j.step).toBeCloseTo(step, 9);
    expect(j.verdict).toBe(verdict);
    const monitor = monitorJudgement(a);
    expect(monitor.step).toBeCloseTo(step, 9);
    expect({
      outside: await outsideVerdict(a),
      register: await registerVerdict(a),
      monitor: monitor.verdict,
    }).toEqual({ outside: verdict, register: verdict, monitor: verdict });
  });

  it("covers every verdict and both signs of the step", () => {
    expect(new Set(CASES.map((c) => c[3]))).toEqual(new Set(["pass", "warn", "fail"]));
    expect(CASES.filter((c) => c[2] > 0)).toHaveLength(8);
    expect(CASES.filter((c) => c[2] < 0)).toHaveLength(9);
  });
});

describe("judgeCheck reasons, worded to follow the address", () => {
  const one = (a: Reply, relativeTo?: string) => judgeCheck([sample(a)], relativeTo).reason;
  it.each([
    [at(0), undefined, ""],
    [
      at(30.5),
      "local clock",
      "is off by 30.500 ms relative to local clock (pool scores full points only up to 25 ms)",
    ],
    [at(-150), undefined, "is off by -150.000 ms: above 100 ms its pool score settles below 10"],
    [at(0, { stratum: 6 }), undefined, "is at stratum 6; the pool accepts only 1-5"],
    [
      at(0, { leap: 3, refid: "GPS" }),
      undefined,
      "answers but is not synchronised (leap=3, stratum=2, refid=GPS)",
    ],
    [kiss("INIT"), undefined, "answers but is not synchronised (leap=3, stratum=0, refid=INIT)"],
    [
      kiss("RATE"),
      undefined,
      "sent a kiss-o'-death RATE: it rate-limited this check (is another poller on this address?)",
    ],
    [
      kiss("RSTR"),
      undefined,
      "sent a kiss-o'-death RSTR: it refuses time service (the pool scores DENY/RSTR -10): check 'restrict default' in ntp.conf",
    ],
    [kiss("ABCD"), undefined, "sent a kiss-o'-death ABCD (the pool scores it as no answer, -5)"],
  ] as const)("%j relative to %s", (a, relativeTo, reason) => {
    expect(one(a, relativeTo)).toBe(reason);
  });

  it("no answer names the queries sent", () => {
    expect(judgeCheck([undefined, undefined, undefined]).reason).toBe(
      "did not answer any of 3 queries (the pool scores -5 per check)",
    );
  });

  it("the sample with the lowest round trip counts; a kiss in any sample decides", () => {
    const fast = { ...sample(at(200)), delayMs: 0.5 };
    const slow = sample(at(0));
    expect(judgeCheck([slow, fast, undefined]).best).toBe(fast);
    expect(judgeCheck([slow, sample(kiss("RATE"))]).outcome).toEqual({
      kind: "kiss",
      code: "RATE",
    });
  });
});

describe("pool monitor prints the judgement beside the step", () => {
  it("an answer the add form refuses scores +1 and says why it fails", async () => {
    const out: string[] = [];
    const deps: MonitorDeps = {
      query: async () => sample(at(0, { stratum: 6 })),
      resolve: async (h) => h,
      sleep: async () => {},
      now: () => 0,
    };
    await runMonitor({ addresses: [MEMBER], checks: 1, write: (t) => out.push(t) }, deps);
    expect(out[1]).toBe(
      `check 1/1 ${MEMBER}: offset +0.000 ms, delay 1.000 ms, stratum 6 (3/3 answered); step +1.00; score 1.00; fail: is at stratum 6; the pool accepts only 1-5\n`,
    );
  });
});
