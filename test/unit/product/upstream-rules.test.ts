import { describe, expect, it } from "vitest";
import { checkUpstream, isPoolNtpName } from "../../../ntp/upstreamRules";

// The pool's upstream rules (ntp/upstreamRules.ts), which both the stack's settings
// (components/validate.ts) and the policy pack (policy/rules.ts) apply.

describe("checkUpstream", () => {
  it.each([
    ["ntp1.time.nl", undefined],
    ["192.0.2.10", undefined],
    ["2001:db8::123", undefined],
    ["pool.ntp.org", "pool"],
    ["europe.pool.ntp.org", "pool"],
    ["time4.google.com", "Google"],
    ["time.android.com", "Google"],
    ["216.239.35.12", "Google"],
    ["time5.facebook.com", "Meta"],
    ["time.aws.com", "Amazon"],
    ["fd00:ec2::123", "Amazon"],
    ["127.0.0.1", "loopback"],
    ["::1", "loopback"],
    ["224.0.1.1", "multicast"],
    ["-bad.example.net", "hostname"],
  ])("%s", (upstream, fragment) => {
    const problem = checkUpstream(upstream);
    if (fragment === undefined) expect(problem).toBeUndefined();
    else expect(problem).toContain(fragment);
  });
});

describe("isPoolNtpName", () => {
  it.each([
    ["pool.ntp.org", true],
    ["0.pool.ntp.org", true],
    ["europe.pool.ntp.org.", true],
    ["2.Debian.Pool.NTP.org", true],
    ["notpool.ntp.org", false],
    ["pool.ntp.org.example", false],
    ["ntp.org", false],
  ])("%s: %s", (host, want) => {
    expect(isPoolNtpName(host)).toBe(want);
  });
});
