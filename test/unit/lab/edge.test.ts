import { describe, expect, it } from "vitest";
import { labFirewall } from "../../../lab/firewall";
import { renderEdgeMetadata } from "../../../lab/forward";

describe("lab edge: metadata service", () => {
  it("translates 169.254.169.254:80 per ingress interface to that droplet's port, and nothing else reaches the ports", () => {
    const nft = renderEdgeMetadata([
      { ifname: "d1", port: 9001 },
      { ifname: "d2", port: 9002 },
    ]);
    expect(nft).toContain(
      'iifname "d1" ip daddr 169.254.169.254 tcp dport 80 dnat to 169.254.169.254:9001',
    );
    expect(nft).toContain(
      'iifname "d2" ip daddr 169.254.169.254 tcp dport 80 dnat to 169.254.169.254:9002',
    );
    // No rule by source address: the droplet is known by its link only.
    expect(nft).not.toMatch(/saddr/);
    const input = nft.slice(nft.indexOf("chain input"));
    expect(input.indexOf("ct status dnat accept")).toBeLessThan(input.indexOf("drop"));
    expect(nft.startsWith("table ip ntplab_md\ndelete table ip ntplab_md\n")).toBe(true);
  });
});

/** One rule as lab/do/realiser.ts FirewallRuleSpec holds it (address-based only). */
const rule = (protocol: "tcp" | "udp" | "icmp", ports: string | undefined, address: string) => ({
  protocol,
  ...(ports !== undefined ? { ports } : {}),
  addresses: [address],
  dropletIds: [],
  tags: [],
  loadBalancerUids: [],
  kubernetesIds: [],
});

describe("lab edge: firewall as the API holds it", () => {
  it("maps the API's rule shapes to the lab's, '0'/'all'/none as every port, icmp portless", () => {
    const fw = labFirewall({
      id: "f1",
      name: "fw",
      tags: ["t"],
      dropletIds: [],
      inboundRules: [rule("tcp", "22", "198.51.100.0/24"), rule("icmp", "0", "0.0.0.0/0")],
      outboundRules: [rule("udp", "0", "0.0.0.0/0"), rule("tcp", undefined, "::/0")],
    });
    expect(fw.inboundRules.map((r) => [r.protocol, r.portRange, r.sourceAddresses])).toEqual([
      ["tcp", "22", ["198.51.100.0/24"]],
      ["icmp", undefined, ["0.0.0.0/0"]],
    ]);
    expect(fw.outboundRules.map((r) => r.portRange)).toEqual(["all", "all"]);
    expect(fw.tags).toEqual(["t"]);
  });
});
