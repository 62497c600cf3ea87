import { describe, expect, it } from "vitest";
import {
  type Mode6Probe,
  type NtpHeader,
  type NtpSample,
  NtpTimeoutError,
  Pacer,
  type QueryOptions,
} from "../../../ntp/client";
import { runOutsideCheck } from "../../../verify/outsideCheck";
import { CheckFailure, type OutsideDeps, type TcpProbe } from "../../../verify/outsideOptions";
import { waitForReach } from "../../../verify/outsideReach";
import { fakeHeader, virtualClock } from "../../helpers/poolFakes";

// The decision logic of the outside check with scripted answers; the same code runs against
// real ntpd in test/real/verify-outside.test.ts.

const MEMBER = "203.0.113.7";
const UP = "198.18.0.11";

type Answer = (Partial<NtpHeader> & { offsetMs?: number; delayMs?: number }) | "timeout";

function sample(address: string, a: Exclude<Answer, "timeout">): NtpSample {
  const header = fakeHeader({ refid: "198.18.0.11", ...a });
  const verdict =
    header.stratum === 0
      ? header.refid === "RATE"
        ? "rate-limited"
        : header.refid === "DENY"
          ? "denied"
          : "unsynchronised"
      : header.leap === 3
        ? "unsynchronised"
        : "ok";
  return {
    address,
    header,
    verdict,
    offsetMs: a.offsetMs ?? 0,
    delayMs: a.delayMs ?? 1,
    sentAtMs: 0,
  };
}

function deps(
  script: Record<string, Answer[]>,
  mode6: Mode6Probe = { answered: false, replyBytes: 0 },
  tcp: TcpProbe[] = [],
  routes6 = true,
) {
  const sent: string[] = [];
  const clock = virtualClock();
  /** Virtual send times per destination key (address, "mode6:<address>"). */
  const times: Record<string, number[]> = {};
  const at = (key: string) => {
    times[key] ??= [];
    times[key].push(clock.now());
  };
  const d: OutsideDeps = {
    query: async (o: QueryOptions) => {
      sent.push(o.address);
      at(o.address);
      const next = script[o.address]?.shift() ?? "timeout";
      if (next === "timeout") throw new NtpTimeoutError(o.address, 3000);
      return sample(o.address, next);
    },
    probe: async (o: QueryOptions) => {
      sent.push(`mode6:${o.address}`);
      at(`mode6:${o.address}`);
      return mode6;
    },
    resolve: async (h) =>
      h === "ntp1.example"
        ? [UP]
        : h === "gone.example"
          ? Promise.reject(new Error("ENOTFOUND"))
          : [h],
    tcp: async (address, port) => {
      sent.push(`tcp:${address}:${port}`);
      return tcp.shift() ?? "open";
    },
    routes6: async () => routes6,
    pacer: new Pacer(2000, clock.sleep, clock.now),
    now: clock.now,
    sleep: clock.sleep,
    log: () => {},
  };
  return { d, sent, times, elapsed: clock.now };
}

const ok = (offsetMs: number, delayMs = 1): Answer => ({ offsetMs, delayMs });

describe("runOutsideCheck", () => {
  it("passes: offset is member minus reference, from the lowest-delay sample", async () => {
    const { d, sent } = deps({
      // The answer that picks the reference also pairs with the first sample (same moment).
      [UP]: [{ stratum: 1, refid: "GPS", offsetMs: 500 }, ok(500), ok(500)],
      [MEMBER]: [ok(510, 3), ok(503, 1), ok(520, 2)],
    });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: ["ntp1.example"] }, d);
    expect(r.ipv4).toEqual({
      address: MEMBER,
      stratum: 2,
      leap: 0,
      refid: "198.18.0.11",
      offsetMs: 3,
      delayMs: 1,
      relativeTo: `upstream ntp1.example (${UP})`,
      mode6Refused: true,
      samples: 3,
    });
    expect(r.warnings).toEqual([]);
    expect(sent.filter((s) => s === `mode6:${MEMBER}`)).toHaveLength(2);
  });

  it("spaces packets to one address by 2 s; mode 6 and the reference run beside the samples", async () => {
    const { d, elapsed, times } = deps({
      [UP]: [ok(0), ok(0), ok(0), ok(0)],
      [MEMBER]: [ok(0), ok(0), ok(0)],
    });
    await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d);
    const gaps = (k: string) => (times[k] ?? []).slice(1).map((t, i) => t - (times[k]?.[i] ?? 0));
    expect(gaps(MEMBER)).toEqual([2000, 2000]);
    expect(gaps(`mode6:${MEMBER}`)).toEqual([2000]);
    expect(Math.min(...gaps(UP))).toBeGreaterThanOrEqual(2000);
    // 3 samples 2 s apart; the two mode-6 probes fit inside them.
    expect(elapsed()).toBe(4000);
  });

  it("warns above 25 ms, fails above 100 ms, naming the reference", async () => {
    const warn = deps({ [UP]: [ok(0), ok(0), ok(0), ok(0)], [MEMBER]: [ok(40), ok(40), ok(40)] });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, warn.d);
    expect(r.warnings).toEqual([
      `${MEMBER} is off by 40.000 ms relative to upstream ${UP} (${UP}) (pool scores full points only up to 25 ms)`,
    ]);

    const bad = deps({
      [UP]: [ok(0), ok(0), ok(0), ok(0)],
      [MEMBER]: [ok(-150), ok(-150), ok(-150)],
    });
    await expect(runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, bad.d)).rejects.toThrow(
      `${MEMBER} is off by -150.000 ms relative to upstream ${UP} (${UP}): above 100 ms its pool score settles below 10`,
    );
  });

  it("a wrong deployer clock does not matter: both answers carry it", async () => {
    const { d } = deps({
      [UP]: [ok(3600_000), ok(3600_000), ok(3600_000), ok(3600_000)],
      [MEMBER]: [ok(3600_002), ok(3600_002), ok(3600_002)],
    });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d);
    expect(r.ipv4.offsetMs).toBe(2);
  });

  it("skips unusable upstreams and falls back to the local clock with a warning", async () => {
    const { d } = deps({
      "198.18.0.12": [{ stratum: 0, refid: "INIT", leap: 3 }],
      [MEMBER]: [ok(1), ok(1), ok(1)],
    });
    const r = await runOutsideCheck(
      { ipv4: MEMBER, upstreams: ["gone.example", "198.18.0.12", "198.18.0.13"] },
      d,
    );
    expect(r.ipv4.relativeTo).toBe("local clock");
    expect(r.warnings).toContain(
      "no upstream answered from this machine: offsets are judged against the local clock",
    );
  });

  it("no answer at all: names the firewall and the reserved IP", async () => {
    const { d, sent } = deps({ [UP]: [ok(0)] });
    await expect(runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d)).rejects.toThrow(
      /^no NTP answer from 203\.0\.113\.7 to 6 queries \(3000 ms timeout each\) — is inbound UDP 123 allowed/,
    );
    expect(sent.filter((s) => s === MEMBER)).toHaveLength(6); // bounded: samples + retries
  });

  it("answers but unsynchronised", async () => {
    const unsync: Answer = { stratum: 0, refid: "INIT", leap: 3 };
    const { d } = deps({ [UP]: [ok(0)], [MEMBER]: Array(6).fill(unsync) });
    await expect(runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d)).rejects.toThrow(
      `${MEMBER} answers but is not synchronised (leap=3, stratum=0, refid=INIT)`,
    );
  });

  it("recovers when the member synchronises during the retries", async () => {
    const unsync: Answer = { stratum: 0, refid: "INIT", leap: 3 };
    const { d } = deps({
      [UP]: Array(6).fill(ok(0)),
      [MEMBER]: [unsync, "timeout", ok(1), ok(1), ok(1)],
    });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d);
    expect(r.ipv4.samples).toBe(3);
  });

  it("KoD RATE and DENY fail at once with their meaning", async () => {
    const rate = deps({ [UP]: [ok(0)], [MEMBER]: [{ stratum: 0, refid: "RATE", leap: 3 }] });
    await expect(runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, rate.d)).rejects.toThrow(
      /kiss-o'-death RATE: it rate-limited this check/,
    );
    const deny = deps({ [UP]: [ok(0)], [MEMBER]: [{ stratum: 0, refid: "DENY", leap: 3 }] });
    await expect(runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, deny.d)).rejects.toThrow(
      /kiss-o'-death DENY: it refuses time service/,
    );
  });

  it("stratum above 5 fails: the pool's add form accepts 1-5", async () => {
    const { d } = deps({
      [UP]: [ok(0), ok(0), ok(0), ok(0)],
      [MEMBER]: [{ stratum: 6 }, { stratum: 6 }, { stratum: 6 }],
    });
    await expect(runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d)).rejects.toThrow(
      `${MEMBER} is at stratum 6; the pool accepts only 1-5`,
    );
  });

  it("a mode-6 answer is a reflection risk", async () => {
    const { d } = deps(
      { [UP]: [ok(0), ok(0), ok(0), ok(0)], [MEMBER]: [ok(0), ok(0), ok(0)] },
      { answered: true, replyBytes: 468 },
    );
    const err = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CheckFailure);
    expect((err as Error).message).toBe(
      `${MEMBER} answers NTP control (mode 6, ntpq) queries from outside: 468 bytes back for a 12-byte request — a reflection amplifier; add 'noquery' to 'restrict default' in ntp.conf`,
    );
  });

  it("checks IPv6 too, reusing the reference", async () => {
    const v6 = "2001:db8::7";
    const { d } = deps({
      [UP]: Array(7).fill(ok(0)),
      [MEMBER]: [ok(1), ok(1), ok(1)],
      [v6]: [ok(2), ok(2), ok(2)],
    });
    const r = await runOutsideCheck({ ipv4: MEMBER, ipv6: v6, upstreams: [UP] }, d);
    expect(r.ipv6?.offsetMs).toBe(2);
  });

  it("validates the addresses by family", async () => {
    const { d } = deps({});
    await expect(runOutsideCheck({ ipv4: "2001:db8::1", upstreams: [] }, d)).rejects.toThrow(
      '--ipv4: "2001:db8::1" is not an IPv4 address',
    );
    await expect(
      runOutsideCheck({ ipv4: MEMBER, ipv6: "203.0.113.8", upstreams: [] }, d),
    ).rejects.toThrow('--ipv6: "203.0.113.8" is not an IPv6 address');
  });
  it("IPv4 and IPv6 are checked at the same time, sharing one reference query per slot", async () => {
    const v6 = "2001:db8::7";
    const { d, elapsed, times } = deps({
      [UP]: Array(7).fill(ok(0)),
      [MEMBER]: [ok(1), ok(1), ok(1)],
      [v6]: [ok(2), ok(2), ok(2)],
    });
    const r = await runOutsideCheck({ ipv4: MEMBER, ipv6: v6, upstreams: [UP] }, d);
    expect([r.ipv4.samples, r.ipv6?.samples]).toEqual([3, 3]);
    expect(elapsed()).toBeLessThanOrEqual(5000);
    // One reference query per 2 s slot for both addresses; the first also chose it.
    expect(times[UP]).toEqual([0, 2000, 4000]);
  });

  it("no IPv6 route on this machine: IPv6 skipped with a warning, or an error when required", async () => {
    const v6 = "2001:db8::7";
    const script = () => ({ [UP]: Array(4).fill(ok(0)), [MEMBER]: [ok(1), ok(1), ok(1)] });
    const skip = deps(script(), undefined, [], false);
    const r = await runOutsideCheck({ ipv4: MEMBER, ipv6: v6, upstreams: [UP] }, skip.d);
    expect(r.ipv6).toBeUndefined();
    expect(r.ipv6Skipped).toMatch(/^this machine has no IPv6 route: 2001:db8::7 was not checked/);
    expect(r.warnings).toContain(`IPv6 outside check skipped: ${r.ipv6Skipped}`);
    expect(skip.sent).not.toContain(v6);

    const req = deps(script(), undefined, [], false);
    await expect(
      runOutsideCheck({ ipv4: MEMBER, ipv6: v6, upstreams: [UP], requireIpv6: true }, req.d),
    ).rejects.toThrow(
      "2001:db8::7: this machine has no IPv6 route, and the IPv6 outside check is required (requireIpv6OutsideCheck)",
    );
  });

  describe("waiting for a booting droplet (pre-assignment check)", () => {
    const unsync: Answer = { stratum: 0, refid: "INIT", leap: 3 };

    it("polls every 2 s until the first synchronised answer, then takes its samples", async () => {
      const { d, times } = deps({
        [UP]: Array(4).fill(ok(0)),
        [MEMBER]: ["timeout", "timeout", unsync, unsync, ok(0), ok(1), ok(1), ok(1)],
      });
      const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP], waitSeconds: 60 }, d);
      expect(r.ipv4.samples).toBe(3);
      expect(times[MEMBER]).toEqual([0, 2000, 4000, 6000, 8000, 10000, 12000, 14000]);
    });

    it("gives up after waitSeconds, saying whether anything answered", async () => {
      const silent = deps({ [UP]: [ok(0)] });
      await expect(
        runOutsideCheck({ ipv4: MEMBER, upstreams: [UP], waitSeconds: 10 }, silent.d),
      ).rejects.toThrow(/^no NTP answer from 203\.0\.113\.7 within 10 s \(6 queries\)/);
      const booting = deps({ [UP]: [ok(0)], [MEMBER]: Array(20).fill(unsync) });
      await expect(
        runOutsideCheck({ ipv4: MEMBER, upstreams: [UP], waitSeconds: 10 }, booting.d),
      ).rejects.toThrow(
        `${MEMBER} answers but did not synchronise within 10 s (leap=3, stratum=0, refid=INIT)`,
      );
    });
  });

  describe("the reach gate before the SSH check", () => {
    const unsync: Answer = { stratum: 0, refid: "INIT", leap: 3 };
    const ssh = { port: 22, sources: ["203.0.113.0/24"] };
    const reach = (d: OutsideDeps, waitSeconds: number) =>
      waitForReach({ ipv4: MEMBER, upstreams: [], waitSeconds, ssh }, d);

    it("passes as soon as SSH opens, whether or not ntpd answers yet", async () => {
      const early = deps({}, undefined, ["open"]);
      expect(await reach(early.d, 60)).toMatchObject({
        check: "reach",
        ntp: "no answer yet",
        ssh: "open",
      });
      const later = deps({ [MEMBER]: ["timeout", unsync] }, undefined, [
        "refused",
        "refused",
        "open",
      ]);
      expect(await reach(later.d, 60)).toMatchObject({ ntp: "unsynchronised", ssh: "open" });
    });

    it("SSH filtered while NTP answers: fails at once, naming sshSourceCidrs", async () => {
      const { d, sent, elapsed } = deps({ [MEMBER]: ["timeout", unsync] }, undefined, [
        "timeout",
        "timeout",
      ]);
      await expect(reach(d, 600)).rejects.toThrow(
        `SSH to ${MEMBER} port 22 is filtered from this machine while NTP answers: the cloud firewall admits SSH only from sshSourceCidrs (203.0.113.0/24)`,
      );
      // The first timeout came before ntpd answered (booting): only the second one counts.
      expect(sent.filter((x) => x.startsWith("tcp:"))).toHaveLength(2);
      expect(elapsed()).toBeLessThan(5000);
    });

    it("at the bound: sshd not running, or nothing answering at all", async () => {
      const refused = deps({ [MEMBER]: [ok(0)] }, undefined, Array(50).fill("refused"));
      await expect(reach(refused.d, 20)).rejects.toThrow(
        `nothing accepts SSH on ${MEMBER} port 22 (connection refused for 20 s): sshd is not running on the droplet`,
      );
      const silent = deps({}, undefined, Array(50).fill("timeout"));
      await expect(reach(silent.d, 10)).rejects.toThrow(
        /^neither NTP nor SSH answers from 203\.0\.113\.7 within 10 s/,
      );
    });
  });

  it("a reference that stops answering: judged against the local clock, with a warning", async () => {
    const { d } = deps({ [UP]: [ok(0)], [MEMBER]: ["timeout", ok(3), ok(2), ok(4)] });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d);
    expect(r.ipv4).toMatchObject({ relativeTo: "local clock", samples: 3, offsetMs: 3 });
    expect(r.warnings).toContain(
      `${MEMBER}: the reference upstream ${UP} (${UP}) did not answer during the samples: offsets are judged against the local clock`,
    );
  });

  it("only the samples paired with a reference answer count when there are some", async () => {
    const { d } = deps({
      [UP]: [ok(10), "timeout", ok(10)],
      [MEMBER]: [ok(12, 1), ok(500, 0.1), ok(13, 2)],
    });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d);
    // The lowest-delay sample (500 ms, unpaired) is not judged; the paired ones are.
    expect(r.ipv4).toMatchObject({ relativeTo: `upstream ${UP} (${UP})`, offsetMs: 2 });
  });

  it("a falseticker listed first is not the reference, and is named", async () => {
    const [u1, u2, u3, u4] = ["198.18.0.11", "198.18.0.12", "198.18.0.13", "198.18.0.14"];
    const { d } = deps({
      [u1 as string]: [ok(2000)],
      [u2 as string]: [ok(1), ok(1), ok(1)],
      [u3 as string]: [ok(0)],
      [u4 as string]: [ok(2)],
      [MEMBER]: [ok(1.5), ok(1.5), ok(1.5)],
    });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [u1, u2, u3, u4] as string[] }, d);
    expect(r.ipv4.relativeTo).toBe(`upstream ${u2} (${u2})`);
    expect(r.ipv4.offsetMs).toBe(0.5);
    expect(r.warnings).toEqual([
      `upstream ${u1} (${u1}) is 1998.5 ms from the median of the 4 upstreams that answered: a falseticker (not used as the reference)`,
    ]);
  });

  it("a lost packet does not lose the only reference: a second round asks again", async () => {
    const { d } = deps({ [UP]: ["timeout", ok(0), ok(0), ok(0)], [MEMBER]: [ok(1), ok(1), ok(1)] });
    const r = await runOutsideCheck({ ipv4: MEMBER, upstreams: [UP] }, d);
    expect(r.ipv4.relativeTo).toBe(`upstream ${UP} (${UP})`);
    expect(r.warnings).toEqual([]);
  });
});
