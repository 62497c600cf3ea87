import { describe, expect, it } from "vitest";
import { nftPorts } from "../../../lab/firewall";
import { ALL_PORTS, parsePortRange, portRangeCovers } from "../../../ntp/portRange";
import { checkFirewall } from "../../../policy/rules";

// One reading of a DigitalOcean port range (ntp/portRange.ts). Before it, the policy pack
// read "0" as port 0 (a rule the API opens to every port failed the NTP rule), while the
// lab's edge firewall and the emulated API read it as every port, as the API documents.

// [range, parsed, covers 123]
const CASES: readonly [string | undefined, { from: number; to: number } | undefined, boolean][] = [
  ["123", { from: 123, to: 123 }, true],
  [" 123 ", { from: 123, to: 123 }, true],
  ["100-200", { from: 100, to: 200 }, true],
  ["124-200", { from: 124, to: 200 }, false],
  ["22", { from: 22, to: 22 }, false],
  ["65535", { from: 65535, to: 65535 }, false],
  ["1-65535", ALL_PORTS, true],
  ["all", ALL_PORTS, true],
  ["0", ALL_PORTS, true],
  ["", ALL_PORTS, true],
  [undefined, ALL_PORTS, true],
  ["0-5", undefined, false],
  ["70000", undefined, false],
  ["9-3", undefined, false],
  ["1-", undefined, false],
  ["-1", undefined, false],
  ["ALL", undefined, false],
  ["nonsense", undefined, false],
];

/** The policy pack's verdict on NTP inbound: does a udp rule with this range admit 123? */
function policyAdmits123(portRange: string | undefined): boolean {
  const problems = checkFirewall({
    inboundRules: [{ protocol: "udp", portRange, sourceAddresses: ["0.0.0.0/0", "::/0"] }],
    outboundRules: [{ protocol: "udp", portRange: "123", destinationAddresses: ["0.0.0.0/0"] }],
  });
  return problems.length === 0;
}

/** The lab edge's verdict: does the nftables rule it renders admit port 123? */
function labAdmits123(portRange: string | undefined): boolean | "rejected" {
  try {
    const m = nftPorts("f", portRange);
    if (m === null) return true;
    if (typeof m === "number") return m === 123;
    const [from, to] = m.split("-").map(Number);
    return (from ?? 0) <= 123 && 123 <= (to ?? 0);
  } catch {
    return "rejected";
  }
}

describe("one port-range reading (ntp/portRange.ts)", () => {
  it.each(CASES)("%j → %j, covers 123: %s", (text, parsed, covers) => {
    expect(parsePortRange(text)).toEqual(parsed);
    expect(portRangeCovers(text, 123)).toBe(covers);
    expect(policyAdmits123(text)).toBe(covers);
    expect(labAdmits123(text)).toBe(parsed === undefined ? "rejected" : covers);
  });

  it("has valid and invalid cases, covering and not", () => {
    expect(CASES.filter((c) => c[1] === undefined)).toHaveLength(7);
    expect(CASES.filter((c) => c[2])).toHaveLength(8);
  });

  it("the edge: 1 and 65535 are ports, 0 alone means all, 65536 is not a port", () => {
    expect([1, 65535].map((p) => portRangeCovers(String(p), p))).toEqual([true, true]);
    expect([0, 1, 65535].map((p) => portRangeCovers("0", p))).toEqual([false, true, true]);
    expect(parsePortRange("65536")).toBeUndefined();
    expect(parsePortRange("1-65536")).toBeUndefined();
  });
});
