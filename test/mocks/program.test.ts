import { describe, expect, it } from "vitest";
import { buildFirewallRules } from "../../components/firewallRules";
import { BASE_CONFIG, ofType, runProgram } from "./program";

const T = {
  component: "ntppool:index:PoolServer",
  tag: "digitalocean:index/tag:Tag",
  key: "tls:index/privateKey:PrivateKey",
  sshKey: "digitalocean:index/sshKey:SshKey",
  droplet: "digitalocean:index/droplet:Droplet",
  ip: "digitalocean:index/reservedIp:ReservedIp",
  ipAssign: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  ip6: "digitalocean:index/reservedIpv6:ReservedIpv6",
  ip6Assign: "digitalocean:index/reservedIpv6Assignment:ReservedIpv6Assignment",
  firewall: "digitalocean:index/firewall:Firewall",
  project: "digitalocean:index/project:Project",
};

describe("the program under mocks", () => {
  it("creates one of each resource per member, named from the member and parented to it", async () => {
    const { resources } = await runProgram(BASE_CONFIG);
    const counts = Object.fromEntries(
      Object.entries(T).map(([k, type]) => [k, ofType(resources, type).length]),
    );
    expect(counts).toEqual({
      component: 1,
      tag: 1,
      key: 1,
      sshKey: 1,
      droplet: 1,
      ip: 1,
      ipAssign: 1,
      ip6: 1,
      ip6Assign: 1,
      firewall: 1,
      project: 0,
    });
    const component = ofType(resources, T.component)[0];
    for (const r of resources.filter(
      (r) => r.type.startsWith("digitalocean:") || r.type.startsWith("tls:"),
    )) {
      expect(r.name.startsWith("ams-1-"), r.name).toBe(true);
      expect(r.parent, r.name).toBe(component?.urn);
    }
  });

  it("wires the reserved IPs to the droplet and protects them", async () => {
    const { resources } = await runProgram(BASE_CONFIG);
    const droplet = ofType(resources, T.droplet)[0];
    const ip = ofType(resources, T.ip)[0];
    const ip6 = ofType(resources, T.ip6)[0];
    const assign = ofType(resources, T.ipAssign)[0];
    const assign6 = ofType(resources, T.ip6Assign)[0];
    expect(ip?.inputs).toEqual({ region: "ams3" });
    expect(ip?.protect).toBe(true);
    expect(ip6?.protect).toBe(true);
    expect(ip6?.inputs).toEqual({ regionSlug: "ams3" });
    expect(assign?.inputs.ipAddress).toBe(ip?.state.ipAddress);
    expect(assign?.inputs.dropletId).toBe(
      Number(
        droplet?.state.id ??
          ofType(resources, T.droplet)[0]?.state.dropletUrn?.toString().split(":")[2],
      ),
    );
    expect(assign6?.inputs.ip).toBe(ip6?.state.ip);
    // The reserved IPs depend on the region only: a new droplet cannot replace them.
    expect(ip?.dependencies).not.toContain(droplet?.urn);
    expect(ip6?.dependencies).not.toContain(droplet?.urn);
  });

  it("gives the droplet the rendered user-data, keys, tags and settings", async () => {
    const { resources } = await runProgram({
      ...BASE_CONFIG,
      sshKeyFingerprints: ["12345"],
      tags: ["team:time"],
    });
    const droplet = ofType(resources, T.droplet)[0];
    const sshKey = ofType(resources, T.sshKey)[0];
    const tag = ofType(resources, T.tag)[0];
    const ip6 = ofType(resources, T.ip6)[0];
    expect(droplet?.inputs).toMatchObject({
      name: "ams-1",
      region: "ams3",
      size: "s-1vcpu-1gb",
      image: "debian-12-x64",
      ipv6: true,
      monitoring: true,
      gracefulShutdown: true,
      sshKeys: [sshKey?.state.id ?? expect.any(String), "12345"],
      tags: [tag?.inputs.name, "team:time"],
    });
    const userData = String(droplet?.inputs.userData);
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    for (const u of BASE_CONFIG.upstreams) expect(userData).toContain(`server ${u} iburst`);
    expect(userData).toContain(`address replace ${String(ip6?.state.ip)}/128 dev lo`);
  });

  it("attaches a firewall by tag with the builder's rules", async () => {
    const { resources } = await runProgram(BASE_CONFIG);
    const fw = ofType(resources, T.firewall)[0];
    const tag = ofType(resources, T.tag)[0];
    expect(fw?.inputs.tags).toEqual([tag?.inputs.name]);
    expect(fw?.inputs.dropletIds).toBeUndefined();
    const expected = buildFirewallRules(BASE_CONFIG.sshSourceCidrs);
    expect(fw?.inputs.inboundRules).toEqual(expected.inboundRules);
    expect(fw?.inputs.outboundRules).toEqual(expected.outboundRules);
  });

  it("keeps the deploy key's private half secret and out of the outputs", async () => {
    const { outputs, resources } = await runProgram(BASE_CONFIG);
    const key = ofType(resources, T.key)[0];
    expect(key?.inputs).toEqual({ algorithm: "ED25519" });
    expect(key?.additionalSecretOutputs).toEqual(
      expect.arrayContaining(["privateKeyOpenssh", "privateKeyPem"]),
    );
    const text = JSON.stringify(outputs);
    expect(text).not.toContain("MOCK-PRIVATE");
    expect(text).not.toContain("PRIVATE KEY");
  });

  it("exports one entry per member with addresses and what to register", async () => {
    const { outputs, resources } = await runProgram({
      ...BASE_CONFIG,
      members: [
        { name: "ams-1", region: "ams3" },
        { name: "fra-1", region: "fra1", ipv6: false },
      ],
    });
    const members = outputs.members as Record<string, Record<string, unknown>>;
    expect(Object.keys(members)).toEqual(["ams-1", "fra-1"]);
    const ips = ofType(resources, T.ip).map((r) => r.state.ipAddress);
    expect(ips).toContain(members["ams-1"]?.ipv4);
    expect(members["fra-1"]).toMatchObject({
      name: "fra-1",
      region: "fra1",
      ipv6: null,
      upstreams: BASE_CONFIG.upstreams,
    });
    expect(ofType(resources, T.ip6)).toHaveLength(1);
    expect(
      (members["fra-1"]?.registration as { addresses: unknown[] } | undefined)?.addresses,
    ).toEqual([{ address: members["fra-1"]?.ipv4, family: "IPv4" }]);
    expect(
      (members["ams-1"]?.registration as { addresses: unknown[] } | undefined)?.addresses,
    ).toHaveLength(2);
    expect(typeof members["ams-1"]?.dropletId).toBe("string");
    expect(members["ams-1"]?.verification).toMatchObject({
      synced: true,
      stratum: 2,
      reachableUpstreams: 4,
    });
  });

  it("scales past a firewall's 10-droplet limit: each member's firewall takes its own tag", async () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ name: `m-${i}`, region: "nyc3" }));
    const { resources } = await runProgram({ ...BASE_CONFIG, members: many });
    const firewalls = ofType(resources, T.firewall);
    expect(firewalls).toHaveLength(12);
    expect(new Set(firewalls.map((f) => JSON.stringify(f.inputs.tags))).size).toBe(12);
    expect(ofType(resources, T.droplet)).toHaveLength(12);
  });

  it("puts droplets and reserved IPs in a DigitalOcean project when projectName is set", async () => {
    const { resources } = await runProgram({ ...BASE_CONFIG, projectName: "Time servers" });
    const project = ofType(resources, T.project)[0];
    const droplet = ofType(resources, T.droplet)[0];
    const ip = ofType(resources, T.ip)[0];
    expect(project?.inputs.name).toBe("Time servers");
    expect(project?.inputs.resources).toEqual([droplet?.state.dropletUrn, ip?.state.reservedIpUrn]);
  });
});
