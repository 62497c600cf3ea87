/**
 * The driver's provider modules against the emulated API (lab/do/ with a recording
 * realiser, on a unix socket): each makes the provider's call sequence, waits until the API
 * says done, and leaves the state the provider would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DigitalOcean, startDigitalOcean } from "../../../lab/do/index";
import { RecordingRealiser } from "../../../lab/do/realiser";
import { generateEd25519 } from "../../../lab/keys";
import { ApiClient, type ApiEndpoint } from "../../../lab/provider/client";
import { PROVIDER_INVOKES, PROVIDER_RESOURCES } from "../../../lab/provider/index";
import { DROPLET_INPUTS } from "../../helpers/labFixtures";

const TOKEN = "driver-test-token";
let dir = "";
let doi: DigitalOcean;
let endpoint: ApiEndpoint;
const realiser = new RecordingRealiser();
// The provider's waits at 1/100 (10 s → 100 ms): the same sequence, quickly.
const timing = { scale: 0.01 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ntp-lab-driver-"));
  const socketPath = join(dir, "api.sock");
  doi = await startDigitalOcean({
    realiser,
    token: TOKEN,
    listen: { socketPath },
    metadataDir: join(dir, "md"),
    timings: { dropletNewMs: 300, actionMs: 200 },
  });
  endpoint = { socketPath, token: TOKEN };
});

afterAll(async () => {
  await doi?.idle();
  await doi?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function create(type: string, name: string, inputs: Record<string, unknown>) {
  const mod = PROVIDER_RESOURCES.get(`digitalocean:index/${type}`);
  if (!mod) throw new Error(`no module for ${type}`);
  const api = new ApiClient(endpoint, timing);
  const r = await mod.create(api, name, inputs);
  return { ...r, calls: api.log };
}

describe("lab driver against the emulated API", () => {
  let dropletId = 0;
  let ip = "";
  let ip6 = "";

  it("creates a droplet: POST, then GETs until active; state from the last GET", async () => {
    const key = generateEd25519();
    const k = await create("sshKey:SshKey", "k", {
      name: "deploy",
      publicKey: key.publicKeyOpenssh,
    });
    expect(k.calls).toEqual([
      "POST /v2/account/keys",
      `GET /v2/account/keys/${k.id}`,
      `GET /v2/account/keys/${k.id}`,
    ]);
    expect(k.outputs.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const d = await create("droplet:Droplet", "d", { ...DROPLET_INPUTS, sshKeys: [k.id] });
    dropletId = Number(d.id);
    expect(d.calls[0]).toBe("POST /v2/droplets");
    expect(d.calls.slice(1).every((c) => c === `GET /v2/droplets/${d.id}`)).toBe(true);
    expect(d.outputs).toMatchObject({
      status: "active",
      urn: `do:droplet:${d.id}`,
      ipv6: true,
      monitoring: true,
      region: "ams3",
      size: "s-1vcpu-1gb",
    });
    expect(d.outputs.ipv4Address).toMatch(/^198\.19\.\d+\.2$/);
    // The realiser saw the create and the start before the API said active.
    expect(realiser.callsOf("createDroplet")).toHaveLength(1);
    expect(realiser.callsOf("startDroplet")).toEqual([[dropletId]]);
  });

  it("assigns reserved IPv4 (idle wait, assign, action polls, read) and IPv6 (global action polls)", async () => {
    const r4 = await create("reservedIp:ReservedIp", "ip", { region: "ams3" });
    ip = r4.id;
    expect(r4.calls).toEqual(["POST /v2/reserved_ips", `GET /v2/reserved_ips/${ip}`]);
    expect(r4.outputs.urn).toBe(`do:reservedip:${ip}`);
    const a4 = await create("reservedIpAssignment:ReservedIpAssignment", "a", {
      ipAddress: ip,
      dropletId,
    });
    expect(a4.calls[0]).toBe(`GET /v2/droplets/${dropletId}/actions?per_page=50`);
    expect(a4.calls).toContain(`POST /v2/reserved_ips/${ip}/actions`);
    expect(a4.calls.at(-1)).toBe(`GET /v2/reserved_ips/${ip}`);
    expect(a4.id).toMatch(new RegExp(`^${dropletId}-${ip.replace(/\./g, "\\.")}-`));
    expect(realiser.callsOf("setReservedIpv4")).toEqual([[ip, dropletId]]);
    const r6 = await create("reservedIpv6:ReservedIpv6", "ip6", { regionSlug: "ams3" });
    ip6 = r6.id;
    const a6 = await create("reservedIpv6Assignment:ReservedIpv6Assignment", "a6", {
      ip: ip6,
      dropletId,
    });
    expect(a6.calls[0]).toBe(`POST /v2/reserved_ipv6/${ip6}/actions`);
    expect(a6.calls.slice(1, -1).every((c) => /^GET \/v2\/actions\/\d+$/.test(c))).toBe(true);
    expect(a6.calls.at(-1)).toBe(`GET /v2/reserved_ipv6/${ip6}`);
    expect(realiser.callsOf("setReservedIpv6")).toEqual([[ip6, dropletId]]);
  });

  it("creates a tag-based firewall and reads back 'all' for every-port rules", async () => {
    await create("tag:Tag", "t", { name: "ntppool-ams-ntp-1" });
    const f = await create("firewall:Firewall", "fw", {
      name: "ntppool-ams-ntp-1",
      tags: ["ntppool-ams-ntp-1"],
      inboundRules: [{ protocol: "udp", portRange: "123", sourceAddresses: ["0.0.0.0/0"] }],
      outboundRules: [{ protocol: "tcp", portRange: "all", destinationAddresses: ["0.0.0.0/0"] }],
    });
    expect(f.calls).toEqual(["POST /v2/firewalls", `GET /v2/firewalls/${f.id}`]);
    expect(f.outputs.outboundRules).toEqual([
      { protocol: "tcp", portRange: "all", destinationAddresses: ["0.0.0.0/0"] },
    ]);
    await doi.idle();
    const applied = realiser.callsOf("applyFirewalls").at(-1) as unknown[][];
    expect((applied[0] as { name: string }[]).map((x) => x.name)).toContain("ntppool-ams-ntp-1");
  });

  it("puts the droplet and its reserved IP in a project; state lists the IP as do:floatingip", async () => {
    const p = await create("project:Project", "proj", {
      name: "ntp fleet",
      purpose: "Service or API",
      resources: [`do:droplet:${dropletId}`, `do:reservedip:${ip}`],
    });
    expect(p.calls.slice(0, 3)).toEqual([
      "POST /v2/projects",
      `POST /v2/projects/${p.id}/resources`,
      `GET /v2/projects/${p.id}`,
    ]);
    expect(p.calls[3]).toBe(`GET /v2/projects/${p.id}/resources?page=1&per_page=200`);
    // As listed by the API: the IPv4 as do:floatingip (never the do:reservedip the program
    // sent), so the next `pulumi up` sees the difference DigitalOcean's users see.
    const urns = p.outputs.resources as string[];
    expect(urns).toContain(`do:droplet:${dropletId}`);
    expect(urns).toContain(`do:floatingip:${ip}`);
    expect(urns).not.toContain(`do:reservedip:${ip}`);
  });

  it("reads the account's SSH keys for getSshKeys, filtered like the datalist", async () => {
    const inv = PROVIDER_INVOKES.get("digitalocean:index/getSshKeys:getSshKeys");
    const api = new ApiClient(endpoint, timing);
    const all = (await inv?.invoke(api, {})) as { sshKeys: { fingerprint: string }[] };
    expect(api.log).toEqual(["GET /v2/account/keys?page=1&per_page=200"]);
    expect(all.sshKeys).toHaveLength(1);
    const none = (await inv?.invoke(api, {
      filters: [{ key: "fingerprint", values: ["00:11"] }],
    })) as { sshKeys: unknown[] };
    expect(none.sshKeys).toEqual([]);
  });

  it("reads the catalog for getRegions, getSizes and getImages (the preflight's checks)", async () => {
    const api = new ApiClient(endpoint, timing);
    const regions = (await PROVIDER_INVOKES.get("digitalocean:index/getRegions:getRegions")?.invoke(
      api,
      {},
    )) as { regions: { slug: string; available: boolean; sizes: string[] }[] };
    const sizes = (await PROVIDER_INVOKES.get("digitalocean:index/getSizes:getSizes")?.invoke(
      api,
      {},
    )) as { sizes: { slug: string; regions: string[]; priceMonthly: number }[] };
    const images = (await PROVIDER_INVOKES.get("digitalocean:index/getImages:getImages")?.invoke(
      api,
      { filters: [{ key: "slug", values: ["debian-12-x64", "no-such-image"] }] },
    )) as { images: { slug: string; regions: string[] }[] };
    expect(api.log).toEqual([
      "GET /v2/regions?page=1&per_page=200",
      "GET /v2/sizes?page=1&per_page=200",
      "GET /v2/images?page=1&per_page=200",
    ]);
    expect(regions.regions.find((r) => r.slug === "ams3")).toMatchObject({ available: true });
    // Listed, but closed to new droplets, as DigitalOcean lists its restricted regions.
    expect(regions.regions.find((r) => r.slug === "sfo1")).toMatchObject({
      available: false,
      sizes: [],
    });
    const small = sizes.sizes.find((s) => s.slug === "s-1vcpu-1gb");
    expect(small?.priceMonthly).toBe(6);
    expect(small?.regions).toContain("ams3");
    expect(small?.regions).not.toContain("sfo1");
    expect(images.images.map((i) => i.slug)).toEqual(["debian-12-x64"]);
  });

  it("refuses a droplet in a region closed to new droplets", async () => {
    const api = new ApiClient(endpoint, timing);
    await expect(
      api.call("POST", "/v2/droplets", {
        name: "x",
        region: "sfo1",
        size: "s-1vcpu-1gb",
        image: "debian-12-x64",
      }),
    ).rejects.toThrow(/422 Region is not available: "sfo1"/);
  });

  it("fails with the API's message on a bad token", async () => {
    const api = new ApiClient({ ...endpoint, token: "wrong" }, timing);
    await expect(api.call("GET", "/v2/account")).rejects.toThrow(/401 Unable to authenticate you/);
  });
});
