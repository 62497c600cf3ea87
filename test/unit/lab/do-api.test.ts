import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startDigitalOcean } from "../../../lab/do/index";
import { metadataAnswer, renderMetadataJson } from "../../../lab/do/metadata";
import { RecordingRealiser } from "../../../lab/do/realiser";
import { generateEd25519 } from "../../../lab/keys";
import { ADDR } from "../../../lab/net";
import {
  activeDroplet,
  dropletBody,
  getUnix,
  startTestApi,
  type TestApi,
  TOKEN,
  until,
} from "../../helpers/doApi";

// The emulated DigitalOcean's server behaviours, through HTTP on 127.0.0.1, with a realiser
// that records its calls. Sources of each behaviour: lab/do/*.ts comments and docs/digitalocean-api.md.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.close();
});

describe("transport", () => {
  it("answers 401 with DigitalOcean's error body without a token or with another one", async () => {
    for (const token of [null, "wrong"]) {
      const r = await api.call("GET", "/v2/account", undefined, token);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({
        id: "unauthorized",
        message: "Unable to authenticate you.",
        request_id: expect.stringMatching(UUID),
      });
      expect(r.headers.get("x-request-id")).toBe(r.body.request_id);
    }
    expect(api.realiser.calls).toEqual([]);
  });

  it("answers a read-only token's reads, and its writes with 403 forbidden, changing nothing", async () => {
    const ro = await startTestApi({ readOnlyToken: "read-only-token" });
    try {
      const read = await ro.call("GET", "/v2/account", undefined, "read-only-token");
      expect(read.status).toBe(200);
      const write = await ro.call("POST", "/v2/tags", { name: "x" }, "read-only-token");
      expect(write.status).toBe(403);
      expect(write.body).toMatchObject({
        id: "forbidden",
        message: "You are not authorized to perform this operation.",
      });
      const tags = await ro.call("GET", "/v2/tags");
      expect(tags.body.tags).toEqual([]);
      // The full token still writes.
      expect((await ro.call("POST", "/v2/tags", { name: "x" })).status).toBe(201);
    } finally {
      await ro.close();
    }
  });

  it("sends RateLimit-* headers on every answer and 429 past the limit", async () => {
    const small = await startTestApi({ rateLimitPerHour: 3 });
    try {
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await small.call("GET", "/v2/account");
        expect(r.status).toBe(200);
        expect(r.headers.get("ratelimit-limit")).toBe("3");
        seen.push(Number(r.headers.get("ratelimit-remaining")));
        const reset = Number(r.headers.get("ratelimit-reset"));
        expect(reset).toBeGreaterThan(Date.now() / 1000);
        expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 3601);
      }
      expect(seen).toEqual([2, 1, 0]);
      const r = await small.call("GET", "/v2/account");
      expect(r.status).toBe(429);
      expect(r.body).toMatchObject({
        id: "too_many_requests",
        message: "API Rate limit exceeded.",
      });
      expect(r.headers.get("retry-after")).toBe("60");
    } finally {
      await small.close();
    }
  });

  it("answers 404 not_found for unknown paths and ids", async () => {
    for (const path of [
      "/v2/nothing",
      "/v2/droplets/123",
      "/v2/actions/1",
      "/v2/reserved_ips/192.0.2.1",
    ]) {
      const r = await api.call("GET", path);
      expect(r.status, path).toBe(404);
      expect(r.body).toMatchObject({
        id: "not_found",
        message: "The resource you were accessing could not be found.",
      });
    }
  });

  it("paginates with links.pages (absolute URLs with page=N) and meta.total", async () => {
    for (const n of ["a", "b", "c", "d", "e"]) {
      expect((await api.call("POST", "/v2/tags", { name: n })).status).toBe(201);
    }
    const one = await api.call("GET", "/v2/tags");
    expect(one.body.links).toEqual({});
    expect(one.body.meta).toEqual({ total: 5 });
    const p1 = await api.call("GET", "/v2/tags?per_page=2");
    expect(p1.body.tags.map((t: { name: string }) => t.name)).toEqual(["a", "b"]);
    expect(p1.body.links.pages).toEqual({
      next: `${api.doi.url}/v2/tags?per_page=2&page=2`,
      last: `${api.doi.url}/v2/tags?per_page=2&page=3`,
    });
    const p3 = await api.call("GET", "/v2/tags?per_page=2&page=3");
    expect(p3.body.tags.map((t: { name: string }) => t.name)).toEqual(["e"]);
    expect(p3.body.links.pages).toEqual({
      first: `${api.doi.url}/v2/tags?per_page=2&page=1`,
      prev: `${api.doi.url}/v2/tags?per_page=2&page=2`,
    });
    expect(p3.body.meta.total).toBe(5);
  });

  it("serves the same API on a unix socket listener", async () => {
    const socketPath = `/tmp/ntp-lab-do-test-${process.pid}.sock`;
    const doi = await startDigitalOcean({
      realiser: new RecordingRealiser(),
      token: TOKEN,
      listen: [{ socketPath }, { host: "127.0.0.1", port: 0 }],
    });
    try {
      expect(doi.listeners[0]).toBe(socketPath);
      expect(doi.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await getUnix(socketPath, "/v2/account", { authorization: `Bearer ${TOKEN}` });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).account.reserved_ip_limit).toBe(3);
    } finally {
      await doi.close();
    }
    expect(existsSync(socketPath)).toBe(false);
  });

  it("counts requests per resource type", async () => {
    await api.call("GET", "/v2/account");
    await api.call("POST", "/v2/tags", { name: "web" });
    await api.call("GET", "/v2/tags/web");
    await api.call("GET", "/v2/regions");
    expect(api.doi.counts()).toEqual({ account: 1, tags: 2, regions: 1 });
  });
});

describe("droplets", () => {
  it("create answers 202 `new` with the create action, which completes when the droplet turns active", async () => {
    const slow = new RecordingRealiser(80);
    const s = await startTestApi({ realiser: slow });
    try {
      const r = await s.call("POST", "/v2/droplets", dropletBody({ tags: ["Web"] }));
      expect(r.status).toBe(202);
      const d = r.body.droplet;
      expect(d.status).toBe("new");
      const [link] = r.body.links.actions;
      expect(link).toEqual({
        id: link.id,
        rel: "create",
        href: `${s.doi.url}/v2/actions/${link.id}`,
      });
      const a1 = await s.call("GET", `/v2/actions/${link.id}`);
      expect(a1.body.action).toMatchObject({
        id: link.id,
        status: "in-progress",
        type: "create",
        completed_at: null,
        resource_id: d.id,
        resource_type: "droplet",
        region_slug: "ams3",
      });
      expect(a1.body.action.started_at).toMatch(RFC3339);
      const list = await s.call("GET", `/v2/droplets/${d.id}/actions?per_page=50`);
      expect(list.body.actions.map((a: { id: number }) => a.id)).toEqual([link.id]);
      await until(
        async () => (await s.call("GET", `/v2/droplets/${d.id}`)).body.droplet.status === "active",
      );
      const a2 = await s.call("GET", `/v2/droplets/${d.id}/actions/${link.id}`);
      expect(a2.body.action.status).toBe("completed");
      expect(a2.body.action.completed_at).toMatch(RFC3339);
      // The realiser built the network, had the firewalls applied, then started the machine.
      expect(slow.calls.map((c) => c.method)).toEqual([
        "createDroplet",
        "applyFirewalls",
        "startDroplet",
      ]);
      const spec = slow.callsOf("createDroplet")[0]?.[0] as Record<string, unknown>;
      expect(spec).toMatchObject({
        id: d.id,
        name: "web-3fa91c2",
        region: "ams3",
        size: "s-1vcpu-1gb",
        image: "debian-12-x64",
        userData: "#cloud-config\n{}\n",
        ipv6: true,
        tags: ["Web"],
        publicKeys: [],
      });
      expect(existsSync(String(spec.metadataSocket))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it("reads back region, size, image and networks objects and the requested features", async () => {
    const id = await activeDroplet(api);
    const d = (await api.call("GET", `/v2/droplets/${id}`)).body.droplet;
    expect(d).toMatchObject({
      id,
      name: "web-3fa91c2",
      memory: 1024,
      vcpus: 1,
      disk: 25,
      locked: false,
      status: "active",
      size_slug: "s-1vcpu-1gb",
      volume_ids: [],
      tags: [],
      region: { slug: "ams3", name: "Amsterdam 3", available: true },
      size: { slug: "s-1vcpu-1gb", price_monthly: 6, price_hourly: 0.00893 },
      image: { slug: "debian-12-x64", distribution: "Debian", name: "12 x64" },
    });
    expect(d.features.sort()).toEqual(["ipv6", "monitoring"]);
    expect(d.created_at).toMatch(RFC3339);
    expect(d.vpc_uuid).toMatch(UUID);
    // The droplet's own public address first; v4 netmask a string, v6 netmask an integer (godo droplets.go).
    expect(d.networks).toEqual({
      v4: [
        {
          ip_address: ADDR.dropletPrimary(1),
          netmask: "255.255.255.0",
          gateway: ADDR.dropletGw(1),
          type: "public",
        },
      ],
      v6: [
        {
          ip_address: ADDR.dropletPrimary6(1),
          netmask: 64,
          gateway: ADDR.dropletGw6(1),
          type: "public",
        },
      ],
    });
    const listed = await api.call("GET", "/v2/droplets?tag_name=none");
    expect(listed.body).toEqual({ droplets: [], links: {}, meta: { total: 0 } });
  });

  it("allows one pending event per droplet (422 'Droplet already has a pending event.')", async () => {
    const r = await api.call("POST", "/v2/droplets", dropletBody());
    const id = r.body.droplet.id;
    const during = await api.call("POST", `/v2/droplets/${id}/actions`, { type: "power_off" });
    expect(during.status).toBe(422);
    expect(during.body).toMatchObject({
      id: "unprocessable_entity",
      message: "Droplet already has a pending event.",
    });
    await until(
      async () => (await api.call("GET", `/v2/droplets/${id}`)).body.droplet.status === "active",
    );
    const off = await api.call("POST", `/v2/droplets/${id}/actions`, { type: "power_off" });
    expect(off.status).toBe(201);
    expect(off.body.action).toMatchObject({
      type: "power_off",
      status: "in-progress",
      resource_id: id,
    });
    const second = await api.call("POST", `/v2/droplets/${id}/actions`, { type: "reboot" });
    expect(second.status).toBe(422);
    expect(second.body.message).toBe("Droplet already has a pending event.");
    await until(
      async () => (await api.call("GET", `/v2/droplets/${id}`)).body.droplet.status === "off",
    );
    expect((await api.call("GET", `/v2/actions/${off.body.action.id}`)).body.action.status).toBe(
      "completed",
    );
    expect(api.realiser.callsOf("powerOff")).toEqual([[id]]);
    // TF's resize tolerates exactly this text (resource_droplet.go).
    const again = await api.call("POST", `/v2/droplets/${id}/actions`, { type: "power_off" });
    expect(again.status).toBe(422);
    expect(again.body.message).toBe("Droplet is already powered off.");
  });

  it("refuses user_data over 64 KiB and accepts exactly 64 KiB", async () => {
    const big = await api.call(
      "POST",
      "/v2/droplets",
      dropletBody({ user_data: "x".repeat(65537) }),
    );
    expect(big.status).toBe(422);
    expect(big.body).toMatchObject({
      id: "unprocessable_entity",
      message: "user_data is limited to 64 KiB (65536 bytes); got 65537 bytes",
    });
    expect(api.realiser.calls).toEqual([]);
    const edge = await api.call(
      "POST",
      "/v2/droplets",
      dropletBody({ user_data: "x".repeat(65536) }),
    );
    expect(edge.status).toBe(202);
  });

  it("resolves ssh_keys by id and fingerprint, 422 for unknown ones", async () => {
    const k = generateEd25519();
    const key = (
      await api.call("POST", "/v2/account/keys", { name: "deploy", public_key: k.publicKeyOpenssh })
    ).body.ssh_key;
    const bad = await api.call(
      "POST",
      "/v2/droplets",
      dropletBody({ ssh_keys: [key.id, 999, "aa:bb"] }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe("999, aa:bb are invalid key identifiers for Droplet creation.");
    const id = await activeDroplet(api, { ssh_keys: [key.id, key.fingerprint] });
    const spec = api.realiser.callsOf("createDroplet")[0]?.[0] as {
      id: number;
      publicKeys: string[];
    };
    expect(spec.id).toBe(id);
    expect(spec.publicKeys).toEqual([k.publicKeyOpenssh.trim(), k.publicKeyOpenssh.trim()]);
  });

  it("refuses unknown region, size and image", async () => {
    for (const [over, msg] of [
      [{ region: "xyz9" }, 'Region is not available: "xyz9"'],
      [{ size: "s-huge" }, 'Size is not available: "s-huge"'],
      [{ image: "windows" }, 'You specified an invalid image for Droplet creation: "windows"'],
    ] as const) {
      const r = await api.call("POST", "/v2/droplets", dropletBody(over));
      expect(r.status).toBe(422);
      expect(r.body.message).toBe(msg);
    }
  });

  it("delete answers 204, unassigns its reserved IPs (they stay on the account), then 404s", async () => {
    const id = await activeDroplet(api);
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    const v6 = (await api.call("POST", "/v2/reserved_ipv6", { region_slug: "ams3" })).body
      .reserved_ipv6.ip;
    await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "assign", droplet_id: id });
    await api.doi.idle();
    await api.call("POST", `/v2/reserved_ipv6/${v6}/actions`, { type: "assign", droplet_id: id });
    await api.doi.idle();
    expect((await api.call("GET", `/v2/reserved_ips/${ip}`)).body.reserved_ip.droplet.id).toBe(id);
    const del = await api.call("DELETE", `/v2/droplets/${id}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();
    await until(async () => (await api.call("GET", `/v2/droplets/${id}`)).status === 404);
    const after = await api.call("GET", `/v2/reserved_ips/${ip}`);
    expect(after.body.reserved_ip).toMatchObject({ ip, droplet: null, locked: false });
    expect(
      (await api.call("GET", `/v2/reserved_ipv6/${v6}`)).body.reserved_ipv6.droplet,
    ).toBeNull();
    const methods = api.realiser.calls.map((c) => `${c.method}(${c.args.map(String).join(",")})`);
    const tail = methods.slice(methods.indexOf(`setReservedIpv4(${ip},null)`));
    expect(tail.slice(0, 3)).toEqual([
      `setReservedIpv4(${ip},null)`,
      `setReservedIpv6(${v6},null)`,
      `deleteDroplet(${id})`,
    ]);
  });

  it("a delete during create waits for the create to finish before the realiser removes it", async () => {
    const slow = new RecordingRealiser(50);
    const s = await startTestApi({ realiser: slow });
    try {
      const id = (await s.call("POST", "/v2/droplets", dropletBody())).body.droplet.id;
      expect((await s.call("DELETE", `/v2/droplets/${id}`)).status).toBe(204);
      // Still answered (status `new`) until the realisation is gone.
      expect((await s.call("GET", `/v2/droplets/${id}`)).body.droplet.status).toBe("new");
      await until(async () => (await s.call("GET", `/v2/droplets/${id}`)).status === 404);
      expect(slow.calls.map((c) => c.method)).toEqual([
        "createDroplet",
        "applyFirewalls",
        "startDroplet",
        "deleteDroplet",
        "applyFirewalls",
      ]);
      expect(s.doi.cloud.failures).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it("turns the droplet `errored` and the action `errored` (with completed_at) when realisation fails", async () => {
    api.realiser.failNext.add("startDroplet");
    const r = await api.call("POST", "/v2/droplets", dropletBody());
    await api.doi.idle();
    const d = (await api.call("GET", `/v2/droplets/${r.body.droplet.id}`)).body.droplet;
    expect(d.status).toBe("errored");
    const a = (await api.call("GET", `/v2/actions/${r.body.links.actions[0].id}`)).body.action;
    expect(a.status).toBe("errored");
    expect(a.completed_at).toMatch(RFC3339);
    expect(api.doi.cloud.failures).toEqual([
      { what: `create (droplet ${d.id})`, error: "RecordingRealiser: startDroplet failed" },
    ]);
  });
});

describe("reserved IPs", () => {
  it("allocates from the realiser, answers 202 with links, and enforces the account quota", async () => {
    const s = await startTestApi({ account: { reservedIpLimit: 2 } });
    try {
      expect((await s.call("GET", "/v2/account")).body.account).toMatchObject({
        reserved_ip_limit: 2,
        floating_ip_limit: 2,
      });
      const a = await s.call("POST", "/v2/reserved_ips", { region: "ams3" });
      expect(a.status).toBe(202);
      expect(a.body).toEqual({
        reserved_ip: {
          ip: ADDR.reservedIpv4(1),
          region: expect.objectContaining({ slug: "ams3" }),
          droplet: null,
          locked: false,
          project_id: s.doi.cloud.defaultProjectId,
        },
        links: {},
      });
      expect((await s.call("POST", "/v2/reserved_ips", { region: "ams3" })).status).toBe(202);
      const third = await s.call("POST", "/v2/reserved_ips", { region: "ams3" });
      expect(third.status).toBe(422);
      expect(third.body.message).toBe(
        "You have reached the reserved IP limit of your account (2).",
      );
      expect(s.realiser.callsOf("allocateReservedIpv4")).toEqual([["ams3"], ["ams3"]]);
    } finally {
      await s.close();
    }
    expect((await api.call("GET", "/v2/account")).body.account.reserved_ip_limit).toBe(3);
  });

  it("assign completes only after the realiser moved the address, then shows the whole droplet", async () => {
    const id = await activeDroplet(api);
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const original = api.realiser.setReservedIpv4.bind(api.realiser);
    api.realiser.setReservedIpv4 = async (a, b) => {
      await original(a, b);
      await gate;
    };
    const r = await api.call("POST", `/v2/reserved_ips/${ip}/actions`, {
      type: "assign",
      droplet_id: id,
    });
    expect(r.status).toBe(201);
    expect(r.body.action).toMatchObject({
      type: "assign_ip",
      status: "in-progress",
      resource_type: "reserved_ip",
      completed_at: null,
    });
    await new Promise((res) => setTimeout(res, 100));
    // Realiser still busy: the API shows no change yet, and the droplet holds a pending event.
    const mid = (await api.call("GET", `/v2/reserved_ips/${ip}`)).body.reserved_ip;
    expect(mid).toMatchObject({ droplet: null, locked: true });
    expect(
      (await api.call("GET", `/v2/reserved_ips/${ip}/actions/${r.body.action.id}`)).body.action
        .status,
    ).toBe("in-progress");
    expect((await api.call("POST", `/v2/droplets/${id}/actions`, { type: "reboot" })).status).toBe(
      422,
    );
    release();
    await api.doi.idle();
    const done = (await api.call("GET", `/v2/reserved_ips/${ip}`)).body.reserved_ip;
    expect(done.locked).toBe(false);
    expect(done.droplet).toMatchObject({ id, status: "active", region: { slug: "ams3" } });
    expect((await api.call("GET", `/v2/actions/${r.body.action.id}`)).body.action.status).toBe(
      "completed",
    );
    expect(api.realiser.callsOf("setReservedIpv4")).toEqual([[ip, id]]);
  });

  it("an assign while the droplet's create action is pending is 422 (the event TF waits out first)", async () => {
    const d = (await api.call("POST", "/v2/droplets", dropletBody())).body.droplet;
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    const r = await api.call("POST", `/v2/reserved_ips/${ip}/actions`, {
      type: "assign",
      droplet_id: d.id,
    });
    expect(r.status).toBe(422);
    expect(r.body.message).toBe("Droplet already has a pending event.");
    expect((await api.call("GET", `/v2/reserved_ips/${ip}`)).body.reserved_ip.locked).toBe(false);
    expect(api.realiser.callsOf("setReservedIpv4")).toEqual([]);
  });

  it("re-points an assigned IP to another droplet", async () => {
    const d1 = await activeDroplet(api, { name: "a" });
    const d2 = await activeDroplet(api, { name: "b" });
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "assign", droplet_id: d1 });
    await api.doi.idle();
    const again = await api.call("POST", `/v2/reserved_ips/${ip}/actions`, {
      type: "assign",
      droplet_id: d2,
    });
    expect(again.status).toBe(201);
    await api.doi.idle();
    expect((await api.call("GET", `/v2/reserved_ips/${ip}`)).body.reserved_ip.droplet.id).toBe(d2);
    expect(api.realiser.callsOf("setReservedIpv4")).toEqual([
      [ip, d1],
      [ip, d2],
    ]);
  });

  it("unassign of an unassigned IP is 422; unassign keeps the IP on the account", async () => {
    const id = await activeDroplet(api);
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    const early = await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "unassign" });
    expect(early.status).toBe(422);
    expect(early.body).toMatchObject({
      id: "unprocessable_entity",
      message: `The reserved IP ${ip} is not assigned to a Droplet.`,
    });
    await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "assign", droplet_id: id });
    await api.doi.idle();
    const un = await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "unassign" });
    expect(un.status).toBe(201);
    expect(un.body.action.type).toBe("unassign_ip");
    await api.doi.idle();
    const list = (await api.call("GET", "/v2/reserved_ips")).body;
    expect(list.reserved_ips).toEqual([expect.objectContaining({ ip, droplet: null })]);
    expect(api.realiser.callsOf("setReservedIpv4")).toEqual([
      [ip, id],
      [ip, null],
    ]);
  });

  it("refuses a second IP on a droplet and a droplet in another region", async () => {
    const id = await activeDroplet(api);
    const other = await activeDroplet(api, { name: "nyc", region: "nyc3" });
    const a = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    const b = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    await api.call("POST", `/v2/reserved_ips/${a}/actions`, { type: "assign", droplet_id: id });
    await api.doi.idle();
    const second = await api.call("POST", `/v2/reserved_ips/${b}/actions`, {
      type: "assign",
      droplet_id: id,
    });
    expect(second.status).toBe(422);
    expect(second.body.message).toBe(`Droplet ${id} already has reserved IP ${a} assigned.`);
    const region = await api.call("POST", `/v2/reserved_ips/${b}/actions`, {
      type: "assign",
      droplet_id: other,
    });
    expect(region.status).toBe(422);
    expect(region.body.message).toBe(
      `The Droplet is in nyc3; the reserved IP ${b} can only be assigned in ams3.`,
    );
  });

  it("delete of an assigned IP unassigns and releases it (204)", async () => {
    const id = await activeDroplet(api);
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "assign", droplet_id: id });
    await api.doi.idle();
    expect((await api.call("DELETE", `/v2/reserved_ips/${ip}`)).status).toBe(204);
    expect((await api.call("GET", `/v2/reserved_ips/${ip}`)).status).toBe(404);
    const calls = api.realiser.calls.map((c) => c.method).slice(-2);
    expect(calls).toEqual(["setReservedIpv4", "releaseReservedIpv4"]);
  });

  it("reserved IPv6: 201 with reserved_at, assign polled on /v2/actions/{id}, colons in the path", async () => {
    const id = await activeDroplet(api);
    const c = await api.call("POST", "/v2/reserved_ipv6", { region_slug: "ams3" });
    expect(c.status).toBe(201);
    const ip = c.body.reserved_ipv6.ip;
    expect(ip).toBe(ADDR.reservedIpv6(1));
    expect(c.body.reserved_ipv6).toEqual({
      ip,
      region_slug: "ams3",
      reserved_at: expect.stringMatching(RFC3339),
      droplet: null,
    });
    const a = await api.call("POST", `/v2/reserved_ipv6/${ip}/actions`, {
      type: "assign",
      droplet_id: id,
    });
    expect(a.status).toBe(201);
    expect(a.body.action).toMatchObject({
      type: "assign_ip",
      resource_type: "reserved_ipv6",
      resource_id: null,
    });
    await until(
      async () =>
        (await api.call("GET", `/v2/actions/${a.body.action.id}`)).body.action.status ===
        "completed",
    );
    expect((await api.call("GET", `/v2/reserved_ipv6/${ip}`)).body.reserved_ipv6.droplet.id).toBe(
      id,
    );
    expect(api.realiser.callsOf("setReservedIpv6")).toEqual([[ip, id]]);
    const list = await api.call("GET", "/v2/reserved_ipv6");
    expect(list.body.reserved_ipv6s).toHaveLength(1);
  });
});

describe("projects", () => {
  async function project(name: string): Promise<string> {
    const r = await api.call("POST", "/v2/projects", {
      name,
      description: "",
      purpose: "NTP pool member",
      environment: "Production",
    });
    expect(r.status).toBe(201);
    expect(r.body.project).toMatchObject({
      name,
      purpose: "Other: NTP pool member",
      is_default: false,
    });
    return r.body.project.id;
  }

  it("lists reserved IPs as do:floatingip:<ip> whatever URN assigned them", async () => {
    const p = await project("pool");
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    const assign = await api.call("POST", `/v2/projects/${p}/resources`, {
      resources: [`do:reservedip:${ip}`],
    });
    expect(assign.status).toBe(200);
    expect(assign.body.resources).toEqual([
      expect.objectContaining({ urn: `do:reservedip:${ip}`, status: "assigned" }),
    ]);
    const list = await api.call("GET", `/v2/projects/${p}/resources?page=1&per_page=200`);
    expect(list.body.resources.map((r: { urn: string }) => r.urn)).toEqual([`do:floatingip:${ip}`]);
    expect(list.body.resources[0].status).toBe("ok");
  });

  it("412 when moving an assigned IP to a project other than its droplet's; moving both together is allowed", async () => {
    const p = await project("pool");
    const id = await activeDroplet(api);
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "assign", droplet_id: id });
    await api.doi.idle();
    const alone = await api.call("POST", `/v2/projects/${p}/resources`, {
      resources: [`do:reservedip:${ip}`],
    });
    expect(alone.status).toBe(412);
    expect(alone.body).toMatchObject({
      id: "precondition_failed",
      message: "Cannot move a Reserved IP with an associated Droplet. Move the Droplet instead",
    });
    const both = await api.call("POST", `/v2/projects/${p}/resources`, {
      resources: [`do:droplet:${id}`, `do:reservedip:${ip}`],
    });
    expect(both.status).toBe(200);
    const urns = (await api.call("GET", `/v2/projects/${p}/resources`)).body.resources.map(
      (r: { urn: string }) => r.urn,
    );
    expect(urns).toEqual([`do:droplet:${id}`, `do:floatingip:${ip}`]);
    // Delete of a project with resources: 412 with the text TF retries on.
    const del = await api.call("DELETE", `/v2/projects/${p}`);
    expect(del.status).toBe(412);
    expect(del.body.message).toBe(
      "cannot delete a project with resources. move or remove the resources first",
    );
    const def = (await api.call("GET", "/v2/projects/default")).body.project;
    expect(def.is_default).toBe(true);
    await api.call("POST", `/v2/projects/${def.id}/resources`, { resources: [`do:droplet:${id}`] });
    expect((await api.call("DELETE", `/v2/projects/${p}`)).status).toBe(204);
  });
});

describe("firewalls", () => {
  const fwBody = (over: Record<string, unknown> = {}) => ({
    name: "web-fw-1a2b3c4",
    droplet_ids: null,
    tags: ["web"],
    inbound_rules: [
      { protocol: "tcp", ports: "22", sources: { addresses: ["0.0.0.0/0", "::/0"] } },
      { protocol: "udp", ports: "123", sources: { addresses: ["0.0.0.0/0"] } },
      { protocol: "icmp", sources: { addresses: ["0.0.0.0/0"] } },
    ],
    outbound_rules: [
      { protocol: "tcp", ports: "all", destinations: { addresses: ["0.0.0.0/0", "::/0"] } },
      { protocol: "udp", ports: "1-65535", destinations: { addresses: ["0.0.0.0/0"] } },
    ],
    ...over,
  });

  it('reads back ports "0" for all and icmp, ranges verbatim, and only explicit droplet_ids', async () => {
    await api.call("POST", "/v2/tags", { name: "web" });
    const id = await activeDroplet(api, { tags: ["web"] });
    const r = await api.call("POST", "/v2/firewalls", fwBody());
    expect(r.status).toBe(202);
    const fw = r.body.firewall;
    expect(fw).toMatchObject({
      name: "web-fw-1a2b3c4",
      status: "waiting",
      droplet_ids: [],
      tags: ["web"],
      pending_changes: [{ droplet_id: id, removing: false, status: "waiting" }],
      inbound_rules: [
        { protocol: "tcp", ports: "22", sources: { addresses: ["0.0.0.0/0", "::/0"] } },
        { protocol: "udp", ports: "123", sources: { addresses: ["0.0.0.0/0"] } },
        { protocol: "icmp", ports: "0", sources: { addresses: ["0.0.0.0/0"] } },
      ],
      outbound_rules: [
        { protocol: "tcp", ports: "0", destinations: { addresses: ["0.0.0.0/0", "::/0"] } },
        { protocol: "udp", ports: "1-65535", destinations: { addresses: ["0.0.0.0/0"] } },
      ],
    });
    expect(fw.id).toMatch(UUID);
    await api.doi.idle();
    const after = (await api.call("GET", `/v2/firewalls/${fw.id}`)).body.firewall;
    expect(after.status).toBe("succeeded");
    expect(after.pending_changes).toEqual([]);
    const [fws, ports] = api.realiser.callsOf("applyFirewalls").at(-1) as [
      { id: string; tags: string[] }[],
      unknown,
    ];
    expect(fws.map((f) => [f.id, f.tags])).toEqual([[fw.id, ["web"]]]);
    expect(ports).toEqual([{ id, tags: ["web"] }]);
    const byDroplet = await api.call("GET", `/v2/droplets/${id}/firewalls`);
    expect(byDroplet.body.firewalls.map((f: { id: string }) => f.id)).toEqual([fw.id]);
  });

  it("every rule carries sources/destinations, even when it names none", async () => {
    await api.call("POST", "/v2/tags", { name: "web" });
    const r = await api.call(
      "POST",
      "/v2/firewalls",
      fwBody({
        inbound_rules: [{ protocol: "tcp", ports: "22", sources: { tags: ["web"] } }],
        outbound_rules: [{ protocol: "icmp" }],
      }),
    );
    expect(r.status).toBe(202);
    expect(r.body.firewall.inbound_rules).toEqual([
      { protocol: "tcp", ports: "22", sources: { tags: ["web"] } },
    ]);
    expect(r.body.firewall.outbound_rules).toEqual([
      { protocol: "icmp", ports: "0", destinations: {} },
    ]);
  });

  it("validates: unknown tag, missing ports, bad address, no rules", async () => {
    const cases: [Record<string, unknown>, string][] = [[{}, 'tag "web" does not exist']];
    for (const [over, msg] of cases) {
      const r = await api.call("POST", "/v2/firewalls", fwBody(over));
      expect(r.status).toBe(422);
      expect(r.body.message).toBe(msg);
    }
    await api.call("POST", "/v2/tags", { name: "web" });
    const more: [Record<string, unknown>, string][] = [
      [
        { inbound_rules: [{ protocol: "tcp", sources: { addresses: ["0.0.0.0/0"] } }] },
        "You must specify a positive value for ports.",
      ],
      [
        { inbound_rules: [{ protocol: "tcp", ports: "22", sources: { addresses: ["nope"] } }] },
        'invalid address: "nope" in inbound_rules[0].sources.addresses',
      ],
      [
        { inbound_rules: [], outbound_rules: [] },
        "At least one inbound or outbound rule is required.",
      ],
    ];
    for (const [over, msg] of more) {
      const r = await api.call("POST", "/v2/firewalls", fwBody(over));
      expect(r.status).toBe(422);
      expect(r.body.message).toBe(msg);
    }
    expect(api.realiser.callsOf("applyFirewalls")).toEqual([]);
  });

  it("PUT replaces the whole firewall; droplets, tags and rules can be added and removed (204)", async () => {
    await api.call("POST", "/v2/tags", { name: "web" });
    await api.call("POST", "/v2/tags", { name: "db" });
    const id = await activeDroplet(api);
    const fw = (await api.call("POST", "/v2/firewalls", fwBody())).body.firewall;
    const put = await api.call(
      "PUT",
      `/v2/firewalls/${fw.id}`,
      fwBody({
        name: "renamed",
        tags: ["db"],
        inbound_rules: [{ protocol: "udp", ports: "123", sources: { addresses: ["::/0"] } }],
        outbound_rules: null,
      }),
    );
    expect(put.status).toBe(200);
    expect(put.body.firewall).toMatchObject({ name: "renamed", tags: ["db"], outbound_rules: [] });
    expect(put.body.firewall.inbound_rules).toHaveLength(1);
    const path = `/v2/firewalls/${fw.id}`;
    expect((await api.call("POST", `${path}/droplets`, { droplet_ids: [id] })).status).toBe(204);
    expect((await api.call("POST", `${path}/tags`, { tags: ["WEB"] })).status).toBe(204);
    const rule = { protocol: "tcp", ports: "22", sources: { addresses: ["198.18.0.0/24"] } };
    expect((await api.call("POST", `${path}/rules`, { inbound_rules: [rule] })).status).toBe(204);
    let got = (await api.call("GET", path)).body.firewall;
    expect(got).toMatchObject({ droplet_ids: [id], tags: ["db", "web"] });
    expect(got.inbound_rules).toHaveLength(2);
    await api.call("DELETE", `${path}/droplets`, { droplet_ids: [id] });
    await api.call("DELETE", `${path}/tags`, { tags: ["db"] });
    await api.call("DELETE", `${path}/rules`, { inbound_rules: [rule] });
    got = (await api.call("GET", path)).body.firewall;
    expect(got).toMatchObject({ droplet_ids: [], tags: ["web"] });
    expect(got.inbound_rules).toEqual([
      { protocol: "udp", ports: "123", sources: { addresses: ["::/0"] } },
    ]);
    expect((await api.call("DELETE", path)).status).toBe(204);
    await api.doi.idle();
    expect(api.realiser.callsOf("applyFirewalls").at(-1)?.[0]).toEqual([]);
  });

  it("tagging a droplet re-applies firewalls with its new tags", async () => {
    await api.call("POST", "/v2/tags", { name: "web" });
    const id = await activeDroplet(api);
    await api.call("POST", "/v2/firewalls", fwBody());
    await api.doi.idle();
    const t = await api.call("POST", "/v2/tags/web/resources", {
      resources: [{ resource_id: String(id), resource_type: "droplet" }],
    });
    expect(t.status).toBe(204);
    await api.doi.idle();
    expect(api.realiser.callsOf("applyFirewalls").at(-1)?.[1]).toEqual([{ id, tags: ["web"] }]);
    const untag = await api.call("DELETE", "/v2/tags/web/resources", {
      resources: [{ resource_id: String(id), resource_type: "droplet" }],
    });
    expect(untag.status).toBe(204);
    await api.doi.idle();
    expect(api.realiser.callsOf("applyFirewalls").at(-1)?.[1]).toEqual([{ id, tags: [] }]);
  });
});

describe("tags and SSH keys", () => {
  it("tag objects carry every resource sub-object; names are case-stable", async () => {
    const c = await api.call("POST", "/v2/tags", { name: "Web" });
    expect(c.status).toBe(201);
    expect(c.body.tag).toEqual({
      name: "Web",
      resources: {
        count: 0,
        droplets: { count: 0 },
        images: { count: 0 },
        volumes: { count: 0 },
        volume_snapshots: { count: 0 },
        databases: { count: 0 },
      },
    });
    // Creating it again (any case) returns the existing tag (TF tag/tags.go).
    expect((await api.call("POST", "/v2/tags", { name: "web" })).body.tag.name).toBe("Web");
    const id = await activeDroplet(api, { tags: ["WEB"] });
    const t = (await api.call("GET", "/v2/tags/web")).body.tag;
    expect(t.resources).toMatchObject({
      count: 1,
      last_tagged_uri: `/v2/droplets/${id}`,
      droplets: { count: 1, last_tagged_uri: `/v2/droplets/${id}` },
    });
    expect((await api.call("GET", `/v2/droplets/${id}`)).body.droplet.tags).toEqual(["Web"]);
    expect((await api.call("POST", "/v2/tags", { name: "bad name" })).status).toBe(422);
  });

  it("SSH key fingerprint is the MD5 of the key blob in colon hex; duplicates are 422", async () => {
    const k = generateEd25519();
    const r = await api.call("POST", "/v2/account/keys", {
      name: "deploy",
      public_key: k.publicKeyOpenssh,
    });
    expect(r.status).toBe(201);
    const blob = Buffer.from(k.publicKeyOpenssh.split(" ")[1] as string, "base64");
    const md5 = createHash("md5").update(blob).digest("hex");
    const want = md5.replace(/(..)(?!$)/g, "$1:");
    expect(r.body.ssh_key).toEqual({
      id: expect.any(Number),
      name: "deploy",
      fingerprint: want,
      public_key: k.publicKeyOpenssh.trim(),
    });
    expect((await api.call("GET", `/v2/account/keys/${want}`)).body.ssh_key.id).toBe(
      r.body.ssh_key.id,
    );
    const dup = await api.call("POST", "/v2/account/keys", {
      name: "again",
      public_key: k.publicKeyOpenssh,
    });
    expect(dup.status).toBe(422);
    expect(dup.body.message).toBe("SSH Key is already in use on your account");
    const bad = await api.call("POST", "/v2/account/keys", {
      name: "x",
      public_key: "ssh-ed25519 AAAA",
    });
    expect(bad.status).toBe(422);
    expect((await api.call("DELETE", `/v2/account/keys/${r.body.ssh_key.id}`)).status).toBe(204);
    expect((await api.call("GET", `/v2/account/keys/${want}`)).status).toBe(404);
  });
});

describe("metadata service", () => {
  it("serves /metadata/v1.json and the text tree from the live API state on the droplet's socket", async () => {
    const k = generateEd25519();
    const key = (
      await api.call("POST", "/v2/account/keys", { name: "d", public_key: k.publicKeyOpenssh })
    ).body.ssh_key;
    const id = await activeDroplet(api, { ssh_keys: [key.id], tags: ["web"] });
    const sock = api.doi.metadata.socketPath(id);
    const doc = JSON.parse((await getUnix(sock, "/metadata/v1.json")).body);
    expect(doc).toMatchObject({
      droplet_id: id,
      hostname: "web-3fa91c2",
      region: "ams3",
      public_keys: [k.publicKeyOpenssh.trim()],
      tags: ["web"],
      user_data: "#cloud-config\n{}\n",
      vendor_data: "#cloud-config\ndisable_root: false\nmanage_etc_hosts: true\n",
      dns: { nameservers: ["67.207.67.2", "67.207.67.3"] },
      floating_ip: { ipv4: { active: false } },
      reserved_ip: { ipv4: { active: false }, ipv6: { active: false } },
      interfaces: {
        public: [
          {
            mac: "52:54:00:00:01:01",
            type: "public",
            ipv4: {
              ip_address: ADDR.dropletPrimary(1),
              netmask: "255.255.255.0",
              gateway: ADDR.dropletGw(1),
            },
            ipv6: { ip_address: ADDR.dropletPrimary6(1), cidr: 64, gateway: ADDR.dropletGw6(1) },
            anchor_ipv4: {
              ip_address: ADDR.anchor(1),
              netmask: "255.255.255.0",
              gateway: ADDR.anchorGw(1),
            },
          },
        ],
      },
    });
    expect(doc.interfaces.private).toBeUndefined();
    const ip = (await api.call("POST", "/v2/reserved_ips", { region: "ams3" })).body.reserved_ip.ip;
    await api.call("POST", `/v2/reserved_ips/${ip}/actions`, { type: "assign", droplet_id: id });
    await api.doi.idle();
    const live = JSON.parse((await getUnix(sock, "/metadata/v1.json")).body);
    expect(live.floating_ip).toEqual({ ipv4: { active: true, ip_address: ip } });
    expect(live.reserved_ip.ipv4).toEqual({ active: true, ip_address: ip });
    const text = async (p: string) => getUnix(sock, p);
    expect((await text("/metadata/v1/")).body).toBe(
      "id\nhostname\nuser-data\nvendor-data\npublic-keys\nregion\ninterfaces/\ndns/\nfloating_ip/\nreserved_ip/\ntags/\nfeatures/\n",
    );
    expect((await text("/metadata/v1/id")).body).toBe(String(id));
    expect((await text("/metadata/v1/hostname")).body).toBe("web-3fa91c2");
    expect((await text("/metadata/v1/public-keys")).body).toBe(`${k.publicKeyOpenssh.trim()}\n`);
    expect((await text("/metadata/v1/interfaces/public/0/anchor_ipv4/address")).body).toBe(
      ADDR.anchor(1),
    );
    expect((await text("/metadata/v1/interfaces/public/0/anchor_ipv4/gateway")).body).toBe(
      ADDR.anchorGw(1),
    );
    expect((await text("/metadata/v1/floating_ip/ipv4/active")).body).toBe("true");
    expect((await text("/metadata/v1/floating_ip/ipv4/address")).body).toBe(ip);
    expect((await text("/metadata/v1/dns/nameservers")).body).toBe("67.207.67.2\n67.207.67.3\n");
    expect((await text("/metadata/v1/interfaces/public/0/")).body).toBe(
      "mac\ntype\nipv4/\nipv6/\nanchor_ipv4/\n",
    );
    const redirect = await text("/metadata/v1/interfaces");
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe("/metadata/v1/interfaces/");
    expect((await text("/metadata/v1/nothing")).status).toBe(404);
    expect((await text("/metadata/v1/hostname/")).status).toBe(404);
  });
});

describe("metadata rendering (pure)", () => {
  const network = {
    publicIpv4: { address: "198.19.7.2", netmask: "255.255.255.0", gateway: "198.19.7.1" },
    anchorIpv4: { address: "10.10.7.2", netmask: "255.255.0.0", gateway: "10.10.7.1" },
    privateIpv4: { address: "10.116.0.7", netmask: "255.255.240.0", gateway: "" },
    publicMac: "52:54:00:AB:CD:01",
    privateMac: "52:54:00:AB:CD:02",
  };
  const input = {
    dropletId: 7,
    hostname: "h",
    region: "ams3",
    publicKeys: ["ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"],
    tags: ["x", "y"],
    userData: "#!/bin/sh\n",
    network,
    reservedIpv6: "2001:db8:2::11",
  };

  it("lists the private NIC only when the droplet has one, with lower-case MACs, and no IPv6 without it", () => {
    const doc = renderMetadataJson(input);
    expect(doc.interfaces).toEqual({
      public: [
        {
          mac: "52:54:00:ab:cd:01",
          type: "public",
          ipv4: { ip_address: "198.19.7.2", netmask: "255.255.255.0", gateway: "198.19.7.1" },
          anchor_ipv4: { ip_address: "10.10.7.2", netmask: "255.255.0.0", gateway: "10.10.7.1" },
        },
      ],
      private: [
        {
          mac: "52:54:00:ab:cd:02",
          type: "private",
          ipv4: { ip_address: "10.116.0.7", netmask: "255.255.240.0", gateway: "" },
        },
      ],
    });
    expect(doc.reserved_ip).toEqual({
      ipv4: { active: false },
      ipv6: { active: true, ip_address: "2001:db8:2::11" },
    });
    expect(renderMetadataJson({ ...input, network: undefined }).interfaces).toEqual({ public: [] });
  });

  it("answers the text tree: lists as lines, indexes with a slash, 301 without it", () => {
    expect(metadataAnswer(input, "/metadata/v1/tags/").body).toBe("x\ny\n");
    expect(metadataAnswer(input, "/metadata/v1/tags")).toMatchObject({
      status: 301,
      location: "/metadata/v1/tags/",
    });
    expect(metadataAnswer(input, "/metadata/v1/public-keys").body).toBe(
      "ssh-ed25519 AAAA a\nssh-ed25519 BBBB b\n",
    );
    expect(metadataAnswer(input, "/metadata/v1/reserved_ip/ipv6/address").body).toBe(
      "2001:db8:2::11",
    );
    expect(metadataAnswer(input, "/metadata/v1/interfaces/private/0/ipv4/address").body).toBe(
      "10.116.0.7",
    );
    expect(metadataAnswer(input, "/metadata/v1")).toMatchObject({
      status: 301,
      location: "/metadata/v1/",
    });
    expect(metadataAnswer(input, "/metadata/v1/user-data").body).toBe("#!/bin/sh\n");
    expect(metadataAnswer(input, "/other").status).toBe(404);
  });
});
