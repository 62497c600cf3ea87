import { describe, expect, it } from "vitest";
import { buildFirewallRules, MAX_FIREWALL_RULES } from "../../../components/firewallRules";

describe("buildFirewallRules", () => {
  it("opens NTP to the world, SSH to the given CIDRs, and the outbound needs", () => {
    expect(buildFirewallRules(["198.51.100.0/24", "2001:db8::/48"])).toEqual({
      inboundRules: [
        { protocol: "udp", portRange: "123", sourceAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.0/24", "2001:db8::/48"] },
        { protocol: "icmp", sourceAddresses: ["0.0.0.0/0", "::/0"] },
      ],
      outboundRules: [
        { protocol: "udp", portRange: "123", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "udp", portRange: "53", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "tcp", portRange: "53", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "tcp", portRange: "80", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "tcp", portRange: "443", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "icmp", destinationAddresses: ["0.0.0.0/0", "::/0"] },
      ],
    });
  });

  it("never opens anything but NTP and ICMP to the world inbound", () => {
    const { inboundRules } = buildFirewallRules(["198.51.100.0/24"]);
    const open = inboundRules.filter((r) => r.sourceAddresses.includes("0.0.0.0/0"));
    expect(open.map((r) => `${r.protocol}/${r.portRange ?? ""}`)).toEqual(["udp/123", "icmp/"]);
  });

  it("stays within DigitalOcean's rule limit", () => {
    const rules = buildFirewallRules(["198.51.100.0/24"]);
    expect(rules.inboundRules.length + rules.outboundRules.length).toBeLessThanOrEqual(
      MAX_FIREWALL_RULES,
    );
  });
});
