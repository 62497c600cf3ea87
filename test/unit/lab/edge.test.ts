import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type EdgePort,
  edgeRules,
  NO_EDGE_RULES,
  renderEdgeChange,
  renderEdgeTables,
} from "../../../lab/edgeRules";
import { type LabFirewall, labFirewall } from "../../../lab/firewall";
import { whyUnsynchronised } from "../../../lab/memberCheck";

describe("lab edge: metadata service", () => {
  it("translates 169.254.169.254:80 per ingress interface to that droplet's port, and nothing else reaches the ports", () => {
    const ports: EdgePort[] = [
      { ifname: "d1", dropletId: "1", tags: [], metadataPort: 9001 },
      { ifname: "d2", dropletId: "2", tags: [], metadataPort: 9002 },
    ];
    const change = renderEdgeChange(NO_EDGE_RULES, edgeRules(ports, [], new Map())).script;
    expect(change).toBe(
      [
        'add element ip ntplab_md ports { "d1" : 169.254.169.254 . 9001 }',
        'add element ip ntplab_md ports { "d2" : 169.254.169.254 . 9002 }',
        "",
      ].join("\n"),
    );
    const tables = renderEdgeTables();
    const md = tables.slice(tables.indexOf("table ip ntplab_md"));
    expect(md).toContain("ip daddr 169.254.169.254 tcp dport 80 dnat ip to iifname map @ports");
    // No rule by source address: the droplet is known by its link only.
    expect(md).not.toMatch(/saddr/);
    const input = md.slice(md.indexOf("chain input"));
    expect(input.indexOf("ct status dnat accept")).toBeLessThan(input.indexOf("drop"));
  });
});

describe("lab edge: only what changed is applied", () => {
  const fw: LabFirewall = {
    name: "fw",
    tags: ["ntppool"],
    dropletIds: [],
    inboundRules: [{ protocol: "udp", portRange: "123", sourceAddresses: ["0.0.0.0/0"] }],
    outboundRules: [{ protocol: "udp", portRange: "123", destinationAddresses: ["0.0.0.0/0"] }],
  };
  const port = (n: number): EdgePort => ({
    ifname: `d${n}`,
    dropletId: String(n),
    tags: ["ntppool"],
    metadataPort: 9000 + n,
  });
  const three = [port(1), port(2), port(3)];
  const nat = (pairs: [string, string][]) => new Map(pairs);

  it("moving one reserved IP changes its two NAT elements and no droplet's rules", () => {
    const before = edgeRules(
      three,
      [fw],
      nat([
        ["198.18.64.11", "10.10.1.2"],
        ["198.18.64.12", "10.10.2.2"],
      ]),
    );
    const after = edgeRules(
      three,
      [fw],
      nat([
        ["198.18.64.11", "10.10.3.2"],
        ["198.18.64.12", "10.10.2.2"],
      ]),
    );
    const change = renderEdgeChange(before, after);
    expect(change.script.split("\n")).toEqual([
      "delete element ip ntplab_nat dnat4 { 198.18.64.11 }",
      "delete element ip ntplab_nat snat4 { 10.10.1.2 }",
      "add element ip ntplab_nat dnat4 { 198.18.64.11 : 10.10.3.2 }",
      "add element ip ntplab_nat snat4 { 10.10.3.2 : 198.18.64.11 }",
      "",
    ]);
    expect(change.chains).toEqual([]);
    expect(change.keys.dnat4).toEqual(["198.18.64.11"]);
    expect(change.keys.snat4).toEqual(["10.10.1.2", "10.10.3.2"]);
  });

  it("a new droplet adds its own chains and elements; a deleted one takes only its own away", () => {
    const two = edgeRules([port(1), port(2)], [fw], nat([]));
    const added = renderEdgeChange(two, edgeRules(three, [fw], nat([]))).script;
    const touched = (script: string) =>
      [...new Set(script.match(/"?\bd\d\b/g)?.map((x) => x.replace('"', "")))].sort();
    expect(touched(added)).toEqual(["d3"]);
    expect(added).toMatch(/^add chain inet ntplab_fw d3_in\n/);
    const removed = renderEdgeChange(edgeRules(three, [fw], nat([])), two).script.split("\n");
    expect(touched(removed.join("\n"))).toEqual(["d3"]);
    // The elements that jump to a chain go before the chain.
    expect(removed.indexOf('delete element inet ntplab_fw fw_in { "d3" }')).toBeLessThan(
      removed.indexOf("delete chain inet ntplab_fw d3_in"),
    );
  });

  it("a firewall change rewrites the chains of the droplets it covers, not the others", () => {
    const other = { ...port(2), tags: ["other"] };
    const before = edgeRules([port(1), other], [fw], nat([]));
    const wider: LabFirewall = {
      ...fw,
      inboundRules: [
        ...fw.inboundRules,
        { protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.0/24"] },
      ],
    };
    const change = renderEdgeChange(before, edgeRules([port(1), other], [wider], nat([])));
    expect(change.chains).toEqual(["d1_in"]);
    expect(change.script).toMatch(/^flush chain inet ntplab_fw d1_in\n/);
    expect(change.script).not.toContain("d2");
    expect(change.script).not.toContain("element");
  });

  it("the same state twice is no change", () => {
    const rules = edgeRules(three, [fw], nat([["198.18.64.11", "10.10.1.2"]]));
    expect(
      renderEdgeChange(rules, edgeRules(three, [fw], nat([["198.18.64.11", "10.10.1.2"]]))),
    ).toEqual({
      script: "",
      chains: [],
      keys: { fwIn: [], fwOut: [], dnat4: [], snat4: [], metadata: [] },
    });
  });
});

describe("lab member check: why a member never answered", () => {
  const fixture = (name: string) =>
    readFileSync(join(__dirname, "..", "..", "fixtures", "ntpsec-1.2.2", name), "utf8");

  it("reads ntpq's peer table with verify/parse.ts", () => {
    expect(whyUnsynchronised(fixture("ntpq-pn-unreachable.txt"), true)).toMatch(
      /^upstreams unreachable from the droplet: reach 0 for all \d+ servers/,
    );
    expect(whyUnsynchronised(fixture("ntpq-pn-synced.txt"), true)).toBe("not synchronised");
    expect(whyUnsynchronised(fixture("ntpq-p-notrunning.txt"), false)).toBe(
      "ntpd is not answering inside the droplet (boot did not finish)",
    );
    expect(whyUnsynchronised("nsenter: no such process", true)).toBe(
      "ntpd is not answering inside the droplet",
    );
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
