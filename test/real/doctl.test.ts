/**
 * DigitalOcean's own CLI against the emulated API: doctl (built from the Go module proxy,
 * test/helpers/doctl.ts) parses every answer with godo — a JSON shape godo cannot decode
 * makes doctl exit non-zero — and what it prints must match the emulator's state and the
 * calls the realiser received. The lab tier checks the same against real namespaces.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DigitalOcean, startDigitalOcean } from "../../lab/do/index";
import { RecordingRealiser } from "../../lab/do/realiser";
import { run } from "../../lab/exec";
import { toolsRoot } from "../../lab/image";
import { imageRun } from "../../lab/imageExec";
import { generateEd25519 } from "../../lab/keys";
import { ADDR } from "../../lab/net";
import { DOCTL_VERSION, ensureDoctl } from "../helpers/doctl";

const TOKEN = "doctl-test-token";
let bin = "";
let doi: DigitalOcean;
let home = "";
const realiser = new RecordingRealiser();

beforeAll(async () => {
  const t0 = Date.now();
  const install = ensureDoctl();
  bin = install.bin;
  console.log(
    `doctl ${DOCTL_VERSION}: ${install.how} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  doi = await startDigitalOcean({
    realiser,
    token: TOKEN,
    listen: { host: "127.0.0.1", port: 0 },
    timings: { dropletNewMs: 1000, actionMs: 500 },
  });
  home = mkdtempSync(join(tmpdir(), "ntp-lab-doctl-"));
}, 20 * 60_000);

afterAll(async () => {
  console.log(`emulator requests by resource: ${JSON.stringify(doi?.counts())}`);
  await doi?.idle();
  await doi?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

/**
 * Runs doctl with JSON output against the emulator; fails the test on any error. Async: the
 * emulator answers from this same process, so a synchronous spawn would deadlock it.
 */
// biome-ignore lint/suspicious/noExplicitAny: doctl's JSON is inspected field by field
async function doctl(...args: string[]): Promise<any> {
  const argv = [
    "--api-url",
    doi.url as string,
    "-t",
    TOKEN,
    "--config",
    join(home, "config.yaml"),
    "-o",
    "json",
    ...args,
  ];
  // HOME too: doctl never reads or writes the user's own configuration.
  const r = await run([bin, ...argv], { env: { HOME: home }, timeoutMs: 120_000 });
  if (r.code !== 0)
    throw new Error(`doctl ${args.join(" ")} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  expect(r.stderr).toBe("");
  return r.stdout.trim() === "" ? undefined : JSON.parse(r.stdout);
}

const state = {
  keyId: 0,
  fingerprint: "",
  publicKey: "",
  dropletId: 0,
  ip: "",
  ip6: "",
  firewallId: "",
};

describe(`doctl ${DOCTL_VERSION} against the emulated DigitalOcean`, () => {
  it("is the pinned doctl, built with the godo that the provider vendors", async () => {
    // `doctl version` says 0.0.0-dev outside release builds (ldflags); the build info is exact.
    const r = await run(["go", "version", "-m", bin]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`\\sgithub\\.com/digitalocean/doctl\\s+${DOCTL_VERSION}\\s`),
    );
    expect(r.stdout).toMatch(/\sdep\s+github\.com\/digitalocean\/godo\s+v1\.202\.0\s/);
  });

  it("reads the account, regions, sizes, images and projects", async () => {
    expect(await doctl("account", "get")).toMatchObject({ reserved_ip_limit: 3, status: "active" });
    expect(
      (await doctl("compute", "region", "list")).map((r: { slug: string }) => r.slug),
    ).toContain("ams3");
    expect((await doctl("compute", "size", "list")).map((s: { slug: string }) => s.slug)).toContain(
      "s-1vcpu-1gb",
    );
    expect(
      (await doctl("compute", "image", "list-distribution")).map((i: { slug: string }) => i.slug),
    ).toContain("debian-12-x64");
    const [project] = await doctl("projects", "list");
    expect(project).toMatchObject({ is_default: true, id: doi.cloud.defaultProjectId });
  });

  it("creates an SSH key whose fingerprint is the one ssh-keygen -E md5 prints", async () => {
    const k = generateEd25519();
    state.publicKey = k.publicKeyOpenssh.trim();
    const [key] = await doctl(
      "compute",
      "ssh-key",
      "create",
      "lab-key",
      "--public-key",
      state.publicKey,
    );
    const file = join(home, "key.pub");
    writeFileSync(file, `${state.publicKey}\n`);
    // ssh-keygen from the tools image (the host need not have openssh-client).
    const kg = await imageRun(["ssh-keygen", "-l", "-E", "md5", "-f", file], {
      root: toolsRoot(),
      binds: [{ host: home, readOnly: true }],
    });
    expect(kg.code, kg.stderr).toBe(0);
    const md5 = /MD5:([0-9a-f:]{47})/.exec(kg.stdout)?.[1];
    expect(key).toEqual({
      id: expect.any(Number),
      name: "lab-key",
      fingerprint: md5,
      public_key: state.publicKey,
    });
    state.keyId = key.id;
    state.fingerprint = key.fingerprint;
    expect((await doctl("compute", "ssh-key", "get", state.fingerprint))[0].id).toBe(state.keyId);
  });

  it("creates a tag", async () => {
    const [tag] = await doctl("compute", "tag", "create", "web");
    expect(tag).toMatchObject({ name: "web", resources: { count: 0 } });
  });

  it("creates a droplet with --wait: it returns active, as the emulator and the realiser have it", async () => {
    const t0 = Date.now();
    const [d] = await doctl(
      "compute",
      "droplet",
      "create",
      "web-1",
      "--region",
      "ams3",
      "--size",
      "s-1vcpu-1gb",
      "--image",
      "debian-12-x64",
      "--enable-ipv6",
      "--tag-names",
      "web",
      "--ssh-keys",
      state.fingerprint,
      "--user-data",
      "#cloud-config\nhostname: web-1\n",
      "--wait",
    );
    const waited = (Date.now() - t0) / 1000;
    console.log(`droplet create --wait returned after ${waited.toFixed(1)} s`);
    // doctl polls the create action every 5 s (godo util/droplet.go WaitForActive).
    expect(waited).toBeGreaterThanOrEqual(5);
    state.dropletId = d.id;
    expect(d).toMatchObject({
      name: "web-1",
      status: "active",
      tags: ["web"],
      size_slug: "s-1vcpu-1gb",
      region: { slug: "ams3" },
      image: { slug: "debian-12-x64" },
      networks: {
        v4: [{ ip_address: ADDR.dropletPrimary(1), type: "public" }],
        v6: [{ ip_address: ADDR.dropletPrimary6(1), netmask: 64, type: "public" }],
      },
    });
    expect(d.features).toContain("ipv6");
    expect(doi.cloud.droplets.get(d.id)?.status).toBe("active");
    const spec = realiser.callsOf("createDroplet")[0]?.[0];
    expect(spec).toMatchObject({
      id: d.id,
      name: "web-1",
      userData: "#cloud-config\nhostname: web-1\n",
      publicKeys: [state.publicKey],
      tags: ["web"],
      ipv6: true,
    });
    expect(realiser.callsOf("startDroplet")).toEqual([[d.id]]);
    const [action] = await doctl("compute", "droplet", "actions", String(d.id));
    expect(action).toMatchObject({ type: "create", status: "completed", resource_id: d.id });
  });

  it("lists and gets the droplet as the emulator stores it", async () => {
    const list = await doctl("compute", "droplet", "list");
    expect(list.map((d: { id: number }) => d.id)).toEqual([state.dropletId]);
    const [got] = await doctl("compute", "droplet", "get", String(state.dropletId));
    expect(got).toEqual(list[0]);
    expect(await doctl("compute", "droplet", "list", "--tag-name", "web")).toHaveLength(1);
  });

  it("creates a reserved IP, assigns and unassigns it", async () => {
    const [ip] = await doctl("compute", "reserved-ip", "create", "--region", "ams3");
    expect(ip).toMatchObject({ ip: ADDR.reservedIpv4(1), droplet: null, region: { slug: "ams3" } });
    state.ip = ip.ip;
    const [assign] = await doctl(
      "compute",
      "reserved-ip-action",
      "assign",
      state.ip,
      String(state.dropletId),
    );
    expect(assign).toMatchObject({
      type: "assign_ip",
      status: "in-progress",
      resource_type: "reserved_ip",
    });
    const [done] = await doctl(
      "compute",
      "action",
      "wait",
      String(assign.id),
      "--poll-timeout",
      "1",
    );
    expect(done.status).toBe("completed");
    expect(done.completed_at).toBeTruthy();
    expect((await doctl("compute", "reserved-ip", "get", state.ip))[0].droplet.id).toBe(
      state.dropletId,
    );
    const [un] = await doctl("compute", "reserved-ip-action", "unassign", state.ip);
    expect(un.type).toBe("unassign_ip");
    await doctl("compute", "action", "wait", String(un.id), "--poll-timeout", "1");
    expect((await doctl("compute", "reserved-ip", "get", state.ip))[0].droplet).toBeNull();
    expect(doi.cloud.reservedIps.get(state.ip)?.dropletId).toBeNull();
    expect(realiser.callsOf("setReservedIpv4")).toEqual([
      [state.ip, state.dropletId],
      [state.ip, null],
    ]);
  });

  it("creates a reserved IPv6, assigns and unassigns it", async () => {
    const [ip6] = await doctl("compute", "reserved-ipv6", "create", "--region", "ams3");
    expect(ip6).toMatchObject({ ip: ADDR.reservedIpv6(1), region_slug: "ams3" });
    state.ip6 = ip6.ip;
    const [assign] = await doctl(
      "compute",
      "reserved-ipv6",
      "assign",
      state.ip6,
      String(state.dropletId),
    );
    await doctl("compute", "action", "wait", String(assign.id), "--poll-timeout", "1");
    expect((await doctl("compute", "reserved-ipv6", "get", state.ip6))[0].droplet.id).toBe(
      state.dropletId,
    );
    const [un] = await doctl("compute", "reserved-ipv6", "unassign", state.ip6);
    await doctl("compute", "action", "wait", String(un.id), "--poll-timeout", "1");
    expect(realiser.callsOf("setReservedIpv6")).toEqual([
      [state.ip6, state.dropletId],
      [state.ip6, null],
    ]);
  });

  it("creates a firewall by tag; the realiser gets it with the tagged droplet", async () => {
    const [fw] = await doctl(
      "compute",
      "firewall",
      "create",
      "--name",
      "web-fw",
      "--tag-names",
      "web",
      "--inbound-rules",
      "protocol:tcp,ports:22,address:198.18.0.0/24 protocol:udp,ports:123,address:0.0.0.0/0,address:::/0 protocol:icmp,address:0.0.0.0/0",
      "--outbound-rules",
      "protocol:udp,ports:all,address:0.0.0.0/0,address:::/0",
    );
    state.firewallId = fw.id;
    expect(fw).toMatchObject({
      name: "web-fw",
      tags: ["web"],
      inbound_rules: [
        { protocol: "tcp", ports: "22", sources: { addresses: ["198.18.0.0/24"] } },
        { protocol: "udp", ports: "123", sources: { addresses: ["0.0.0.0/0", "::/0"] } },
        { protocol: "icmp", ports: "0", sources: { addresses: ["0.0.0.0/0"] } },
      ],
      outbound_rules: [
        { protocol: "udp", ports: "0", destinations: { addresses: ["0.0.0.0/0", "::/0"] } },
      ],
    });
    await doi.idle();
    expect((await doctl("compute", "firewall", "get", fw.id))[0].status).toBe("succeeded");
    expect(
      (await doctl("compute", "firewall", "list-by-droplet", String(state.dropletId)))[0].id,
    ).toBe(fw.id);
    const [fws, droplets] = realiser.callsOf("applyFirewalls").at(-1) as [
      { id: string; tags: string[]; inboundRules: { ports?: string }[] }[],
      unknown,
    ];
    expect(fws.map((f) => [f.id, f.tags, f.inboundRules.map((r) => r.ports)])).toEqual([
      [fw.id, ["web"], ["22", "123", undefined]],
    ]);
    expect(droplets).toEqual([{ id: state.dropletId, tags: ["web"] }]);
  });

  it("lists and deletes everything; the realiser removes what it made", async () => {
    expect(await doctl("compute", "firewall", "list")).toHaveLength(1);
    expect(await doctl("compute", "reserved-ip", "list")).toHaveLength(1);
    expect((await doctl("compute", "tag", "list"))[0]).toMatchObject({
      name: "web",
      resources: { count: 1 },
    });
    await doctl("compute", "firewall", "delete", state.firewallId, "--force");
    await doctl("compute", "reserved-ip", "delete", state.ip, "--force");
    await doctl("compute", "reserved-ipv6", "delete", state.ip6, "--force");
    await doctl("compute", "droplet", "delete", String(state.dropletId), "--force");
    await doi.idle();
    await doctl("compute", "tag", "delete", "web", "--force");
    await doctl("compute", "ssh-key", "delete", String(state.keyId), "--force");
    for (const what of ["droplet", "firewall", "reserved-ip", "reserved-ipv6", "tag", "ssh-key"]) {
      expect((await doctl("compute", what, "list")) ?? [], what).toEqual([]);
    }
    expect(realiser.callsOf("deleteDroplet")).toEqual([[state.dropletId]]);
    expect(realiser.callsOf("releaseReservedIpv4")).toEqual([[state.ip]]);
    expect(realiser.callsOf("releaseReservedIpv6")).toEqual([[state.ip6]]);
    expect(doi.cloud.failures).toEqual([]);
  });
});
