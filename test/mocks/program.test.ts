import { describe, expect, it } from "vitest";
import { buildFirewallRules } from "../../components/firewallRules";
import { BASE_CONFIG, ofType, runProgram } from "../helpers/mockProgram";
import { account, invoked, previous, recorded, resetRecorder } from "../helpers/mocks";

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
  remote: "command:remote:Command",
  local: "command:local:Command",
};

const named = <R extends { name: string }>(rs: readonly R[], name: string): R => {
  const r = rs.find((x) => x.name === name);
  if (r === undefined)
    throw new Error(`no resource ${name} in ${rs.map((x) => x.name).join(", ")}`);
  return r;
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
      // Pre-check and verification (reach gate, SSH check, outside check each), admin keys.
      remote: 3,
      local: 4,
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
    account.sshKeys = [
      {
        id: 12345,
        name: "alice",
        fingerprint: "aa:".repeat(15).concat("aa"),
        publicKey: "ssh-ed25519 AAAAalice alice",
      },
    ];
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
      // Only the deploy key: ssh_keys is ForceNew, so a human key here would rebuild the
      // droplet whenever someone is added (the admin-keys command installs those).
      sshKeys: [sshKey?.state.id ?? expect.any(String)],
      tags: [tag?.inputs.name, "team:time"],
    });
    // gracefulShutdown acts only on delete, where it delays removing a replaced droplet.
    expect(droplet?.inputs.gracefulShutdown).toBeUndefined();
    // A size change replaces the droplet (verified first) instead of a hard in-place resize.
    expect(droplet?.replaceOnChanges).toEqual(["size"]);
    const userData = String(droplet?.inputs.userData);
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    for (const u of BASE_CONFIG.upstreams) expect(userData).toContain(`server ${u} iburst`);
    expect(userData).toContain(`address replace ${String(ip6?.state.ip)}/128 dev lo`);
  });

  // The bridged provider answers a replacement with delete-before-replace whenever the
  // resource's autonamed `name` is set by the program (pulumi-terraform-bridge
  // pkg/tfbridge/schema.go, nameRequiresDeleteBeforeReplace), and the engine follows it
  // unless the program says otherwise (pulumi/pulumi pkg/resource/deploy/step_generator.go).
  // The real engine deleted the assignments and the droplet first (issue 17).
  it("asks for create-before-delete on every resource a replacement must not take down first", async () => {
    const { resources } = await runProgram(BASE_CONFIG);
    for (const type of [T.droplet, T.sshKey, T.ipAssign, T.ip6Assign]) {
      const [r] = ofType(resources, type);
      expect(r, type).toBeDefined();
      expect(r?.deleteBeforeReplace, type).toBe(false);
    }
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
    const phases = { synced: true, stratum: 2, reachableUpstreams: 4 };
    expect(members["ams-1"]?.verification).toMatchObject({
      beforeAssignment: phases,
      afterAssignment: phases,
    });
  });

  it("scales past a firewall's 10-droplet limit: each member's firewall takes its own tag", async () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ name: `m-${i}`, region: "nyc3" }));
    account.limits = { dropletLimit: 50, floatingIpLimit: 12 };
    const { resources } = await runProgram({ ...BASE_CONFIG, members: many });
    const firewalls = ofType(resources, T.firewall);
    expect(firewalls).toHaveLength(12);
    expect(new Set(firewalls.map((f) => JSON.stringify(f.inputs.tags))).size).toBe(12);
    expect(ofType(resources, T.droplet)).toHaveLength(12);
  }, 60_000);

  it('creates no project for the declared defaults the engine hands over (projectName "", upstreams [])', async () => {
    // Pulumi.yaml declares projectName: "" and upstreams: [], and the engine sets declared
    // defaults onto the stack before the program runs (pulumi/pulumi
    // sdk/go/common/workspace/config.go, mergeConfig).
    const { resources } = await runProgram({
      ...BASE_CONFIG,
      members: BASE_CONFIG.members.map((m) => ({ ...m, upstreams: BASE_CONFIG.upstreams })),
      upstreams: [],
      projectName: "",
    });
    expect(ofType(resources, T.project)).toHaveLength(0);
    expect(ofType(resources, T.droplet)).toHaveLength(1);
  });

  it("puts droplets and reserved IPs in a DigitalOcean project when projectName is set", async () => {
    const { resources } = await runProgram({ ...BASE_CONFIG, projectName: "Time servers" });
    const project = ofType(resources, T.project)[0];
    const droplet = ofType(resources, T.droplet)[0];
    const ip = ofType(resources, T.ip)[0];
    expect(project?.inputs.name).toBe("Time servers");
    // The URN the Projects API lists for a reserved IP (do:floatingip:), not the resource's
    // own do:reservedip:, which the provider would diff against on every later `pulumi up`.
    expect(ip?.state.reservedIpUrn).toBe(`do:reservedip:${String(ip?.state.ipAddress)}`);
    expect(project?.inputs.resources).toEqual([
      droplet?.state.dropletUrn,
      `do:floatingip:${String(ip?.state.ipAddress)}`,
    ]);
  });
});

describe("order of a deployment: the droplet is proven before the addresses move (issue 10)", () => {
  it("pre-check on the droplet's own addresses → admin keys → IPv4 → IPv6 → verification", async () => {
    const { resources } = await runProgram(BASE_CONFIG);
    const droplet = ofType(resources, T.droplet)[0];
    const fw = ofType(resources, T.firewall)[0];
    const preReach = named(resources, "ams-1-precheck-reach");
    const preSsh = named(resources, "ams-1-precheck-on-droplet");
    const preOut = named(resources, "ams-1-precheck-outside");
    const keys = named(resources, "ams-1-admin-keys");
    const v4 = ofType(resources, T.ipAssign)[0];
    const v6 = ofType(resources, T.ip6Assign)[0];
    const postOut = named(resources, "ams-1-verify-outside");
    const postSsh = named(resources, "ams-1-verify-on-droplet");

    // Phase 1 targets the droplet's own public addresses, through the firewall.
    expect(String(preOut.inputs.create)).toContain(
      `--ipv4 ${String(droplet?.state.ipv4Address)} --ipv6 ${String(droplet?.state.ipv6Address)}`,
    );
    expect(String(preReach.inputs.create)).toContain(
      `--ipv4 ${String(droplet?.state.ipv4Address)} --wait-seconds 600 --ssh-port 22`,
    );
    expect((preSsh.inputs.connection as { value: { host: string } }).value.host).toBe(
      droplet?.state.ipv4Address,
    );
    expect(preReach.dependencies).toContain(fw?.urn);
    expect(preSsh.dependencies).toContain(preReach.urn);
    expect(preOut.dependencies).toContain(preReach.urn);
    // Nothing is assigned before phase 1 passed; IPv6 only after IPv4.
    for (const d of [preOut.urn, preSsh.urn, keys.urn]) expect(v4?.dependencies).toContain(d);
    expect(keys.dependencies).toContain(preSsh.urn);
    expect(v6?.dependencies).toContain(v4?.urn);
    // Phase 2 on the reserved addresses, after both assignments.
    const ip = ofType(resources, T.ip)[0];
    expect(String(postOut.inputs.create)).toContain(`--ipv4 ${String(ip?.state.ipAddress)}`);
    for (const c of [postOut, postSsh]) {
      expect(c.dependencies).toContain(v4?.urn);
      expect(c.dependencies).toContain(v6?.urn);
    }
    // Each phase re-runs on a new droplet.
    const dropletId = String(droplet?.state.dropletUrn).split(":")[2];
    for (const c of [preReach, preOut, preSsh, keys, postOut, postSsh])
      expect(c.inputs.triggers, c.name).toEqual([dropletId]);
  });

  it("human SSH keys go to the admin-keys command, resolved from the account, never to the droplet", async () => {
    account.sshKeys = [
      {
        id: 7,
        name: "alice",
        fingerprint: "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa",
        publicKey: "ssh-ed25519 AAAAalice alice@laptop\n",
      },
      {
        id: 8,
        name: "bob",
        fingerprint: "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00",
        publicKey: "ssh-rsa AAAAbob bob",
      },
    ];
    const { resources } = await runProgram({
      ...BASE_CONFIG,
      sshKeyFingerprints: ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa", "8"],
    });
    const keys = named(resources, "ams-1-admin-keys");
    expect(keys.inputs.create).toBe(
      "sh -s -- 'ssh-ed25519 AAAAalice alice@laptop' 'ssh-rsa AAAAbob bob'",
    );
    expect(String(keys.inputs.stdin)).toContain("ntp-pool sshKeyFingerprints: begin");
    expect(invoked.map((i) => i.token)).toContain("digitalocean:index/getSshKeys:getSshKeys");
    const droplet = ofType(resources, T.droplet)[0];
    expect(droplet?.inputs.sshKeys).toHaveLength(1);
    // Without keys the block is emptied (a removed key loses access) and no lookup is made.
    resetRecorder();
    const none = await runProgram(BASE_CONFIG);
    expect(named(none.resources, "ams-1-admin-keys").inputs.create).toBe("sh -s --");
    expect(invoked.map((i) => i.token)).not.toContain("digitalocean:index/getSshKeys:getSshKeys");
  });
});

describe("preflight: refused before any resource exists (issue 10)", () => {
  const failure = (config: Record<string, unknown>) =>
    runProgram(config).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

  it("a region change names the member and the steps of a move", async () => {
    previous.outputs = {
      members: { "ams-1": { name: "ams-1", region: "ams3", ipv4: "203.0.113.9" } },
    };
    const err = await failure({ ...BASE_CONFIG, members: [{ name: "ams-1", region: "fra1" }] });
    expect(err?.constructor.name).toBe("RunError");
    expect(err?.message).toContain(
      'members[0].region: member "ams-1" was deployed in "ams3" and its reserved IPs cannot move region, so a region change is a new member (got "fra1")',
    );
    expect(err?.message).toContain("pulumi state unprotect");
  });

  it("the same region as last time, or a new member, passes", async () => {
    previous.outputs = { members: { "ams-1": { region: "ams3" } } };
    const { resources } = await runProgram({
      ...BASE_CONFIG,
      members: [
        { name: "ams-1", region: "ams3" },
        { name: "fra-1", region: "fra1" },
      ],
    });
    expect(ofType(resources, T.droplet)).toHaveLength(2);
  });

  it("more members than the account's reserved IPs, or an unknown human key", async () => {
    account.limits = { dropletLimit: 25, floatingIpLimit: 3 };
    const four = Array.from({ length: 4 }, (_, i) => ({ name: `m-${i}`, region: "nyc3" }));
    const a = await failure({ ...BASE_CONFIG, members: four });
    expect(a?.message).toContain(
      "members: 4 members need 4 reserved IPv4 addresses, and this DigitalOcean account allows 3 (its reserved IP limit)",
    );
    const b = await failure({ ...BASE_CONFIG, sshKeyFingerprints: ["99"] });
    expect(b?.message).toContain(
      'sshKeyFingerprints[0]: no SSH key with this fingerprint or id in the DigitalOcean account (0 keys there; add it with doctl compute ssh-key import) (got "99")',
    );
  });

  it("a region, size or image DigitalOcean does not offer, from its own catalog (issue 17)", async () => {
    const err = await failure({
      ...BASE_CONFIG,
      members: [
        { name: "ams-1", region: "ams3", size: "s-1vcpu-3gb" },
        { name: "sfo-1", region: "sfo1" },
        { name: "xyz-1", region: "xyz9" },
      ],
    });
    expect(err?.constructor.name).toBe("RunError");
    expect(err?.message).toContain(
      'members[0].size: DigitalOcean has no droplet size "s-1vcpu-3gb" (GET /v2/sizes; `doctl compute size list` shows them) (got "s-1vcpu-3gb")',
    );
    expect(err?.message).toMatch(
      /members\[1\]\.region: DigitalOcean's region "sfo1" takes no new droplets \(available: false in GET \/v2\/regions\); pick one of ams3, /,
    );
    expect(err?.message).toMatch(/members\[2\]\.region: DigitalOcean has no region "xyz9"/);
    expect(invoked.map((i) => i.token)).toEqual(
      expect.arrayContaining([
        "digitalocean:index/getRegions:getRegions",
        "digitalocean:index/getSizes:getSizes",
        "digitalocean:index/getImages:getImages",
      ]),
    );
  });

  it("an API failure before any resource is one line naming what to fix, not a stack trace", async () => {
    // The provider's error as godo formats it (godo.go ErrorResponse.Error).
    account.apiError =
      'Error retrieving account: GET https://api.digitalocean.com/v2/account: 401 (request "4d1c") Unable to authenticate you';
    const wrong = await failure(BASE_CONFIG);
    expect(wrong?.constructor.name).toBe("RunError");
    expect(wrong?.message.split("\n")).toHaveLength(1);
    expect(wrong?.message).toMatch(/^digitalocean:token: not set, and DigitalOcean refuses/);
    account.apiError =
      'Error retrieving account: Get "https://api.digitalocean.com/v2/account": dial tcp: lookup api.digitalocean.com: no such host';
    const offline = await failure(BASE_CONFIG);
    expect(offline?.message).toMatch(/^DigitalOcean API unreachable from this machine/);
    await new Promise((r) => setTimeout(r, 200));
    expect(recorded.map((r) => r.name)).toEqual([]);
  });

  it("nothing is registered when preflight fails", async () => {
    previous.outputs = { members: { "ams-1": { region: "nyc3" } } };
    const err = await failure(BASE_CONFIG);
    expect(err?.constructor.name).toBe("RunError");
    await new Promise((r) => setTimeout(r, 200));
    // The recorder sees every registration (the stack's self-reference is a read, not one).
    expect(recorded.map((r) => r.name)).toEqual([]);
  });
});
