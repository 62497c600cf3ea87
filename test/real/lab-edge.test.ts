import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Edge, type EdgeDroplet } from "../../lab/edge";
import { labFirewall } from "../../lab/firewall";
import { imageMustRun } from "../../lab/imageExec";
import { requireRealTools } from "../helpers/realTools";

// lab/edge.ts against the real nftables of the tools image, in a namespace of this test's:
// the scripts lab/edgeRules.ts renders load, and a change leaves what it does not concern as
// it was (nft's rule handles are kept only by rules that were not rewritten).

const ns = `edge${randomBytes(3).toString("hex")}`;
let tools: string;

const droplet = (n: number): EdgeDroplet => ({
  ifname: `d${n}`,
  id: String(n),
  tags: ["ntppool"],
  metadataPort: 9000 + n,
  primary: `198.19.${n}.2`,
  anchor: `10.10.${n}.2`,
  primary6: null,
});

const firewall = labFirewall({
  id: "f1",
  name: "fw",
  tags: ["ntppool"],
  dropletIds: [],
  inboundRules: [
    {
      protocol: "udp",
      ports: "123",
      addresses: ["0.0.0.0/0"],
      dropletIds: [],
      tags: [],
      loadBalancerUids: [],
      kubernetesIds: [],
    },
  ],
  outboundRules: [],
});

const nft = async (...args: string[]) =>
  (await imageMustRun(["nft", ...args], { root: tools, netns: ns })).stdout;

beforeAll(() => {
  tools = requireRealTools(["nft", "conntrack", "sh"]);
  execFileSync("ip", ["netns", "add", ns]);
});
afterAll(() => {
  execFileSync("ip", ["netns", "del", ns]);
});

describe("lab edge on real nftables", () => {
  it("moves a reserved IP by its map elements alone, then takes a deleted droplet's rules away", async () => {
    const edge = new Edge(ns, { root: tools, netns: ns });
    await edge.up();
    await edge.addDroplet(droplet(1));
    await edge.addDroplet(droplet(2));
    await edge.setFirewalls([firewall], new Map());
    await edge.setNat("198.18.64.11", "10.10.1.2");
    const rules = await nft("-a", "list", "table", "inet", "ntplab_fw");
    expect(rules).toContain('"d1" : jump d1_in');
    expect(rules).toContain('"d2" : jump d2_in');

    await edge.setNat("198.18.64.11", "10.10.2.2");
    // Not one firewall rule was rewritten: every handle is the same.
    expect(await nft("-a", "list", "table", "inet", "ntplab_fw")).toBe(rules);
    const nat = await nft("list", "table", "ip", "ntplab_nat");
    expect(nat).toContain("198.18.64.11 : 10.10.2.2");
    expect(nat).toContain("10.10.2.2 : 198.18.64.11");
    expect(nat).not.toContain("10.10.1.2");
    expect(edge.natAnchor("198.18.64.11")).toBe("10.10.2.2");

    await edge.removeDroplet("1");
    const after = await nft("-a", "list", "table", "inet", "ntplab_fw");
    expect(after).not.toMatch(/\bd1_/);
    expect(after).toContain('"d2" : jump d2_in');
    expect(await nft("list", "map", "ip", "ntplab_md", "ports")).not.toContain('"d1"');
  });

  it("takes changes that arrive together one after the other (two droplets deleted at once)", async () => {
    // A replacement after a failed one deletes two old droplets in parallel (the engine's
    // `delete-replaced` steps); each change must be computed from the one before it.
    const ns2 = `${ns}b`;
    execFileSync("ip", ["netns", "add", ns2]);
    try {
      const opts = { root: tools, netns: ns2 };
      const edge = new Edge(ns2, opts);
      await edge.up();
      for (const n of [3, 4, 5]) await edge.addDroplet(droplet(n));
      await edge.setFirewalls([firewall], new Map());
      await Promise.all([edge.removeDroplet("3"), edge.removeDroplet("4")]);
      const list = async (...args: string[]) =>
        (await imageMustRun(["nft", "list", ...args], opts)).stdout;
      const after = await list("table", "inet", "ntplab_fw");
      expect(after).not.toMatch(/\bd[34]_/);
      expect(after).toContain('"d5" : jump d5_in');
      const ports = await list("map", "ip", "ntplab_md", "ports");
      expect(ports).toContain('"d5"');
      expect(ports).not.toMatch(/"d[34]"/);
    } finally {
      execFileSync("ip", ["netns", "del", ns2]);
    }
  });
});
