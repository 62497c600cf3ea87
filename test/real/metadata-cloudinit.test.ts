/**
 * The emulator's metadata document through cloud-init's own DigitalOcean datasource
 * (DataSourceDigitalOcean + helpers/digitalocean.py of the host's cloud-init 22.4.2, the
 * version in the lab's image): instance id, hostname, keys, user/vendor data and the network
 * configuration it derives, as a droplet's cloud-init would.
 */
import { spawn } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { VENDOR_DATA } from "../../lab/do/metadata";
import { generateEd25519 } from "../../lab/keys";
import { ADDR } from "../../lab/net";
import { activeDroplet, startTestApi, type TestApi } from "../helpers/doApi";
import { requireRealTools } from "./prereqs";

let api: TestApi;
let proxy: Server;

beforeAll(async () => {
  requireRealTools(["cloud-init"]);
  api = await startTestApi();
});
afterAll(async () => {
  proxy?.close();
  await api?.close();
});

/** Loopback TCP in front of a droplet's metadata socket (the lab plumbs 169.254.169.254 instead). */
async function tcpFront(socketPath: string): Promise<string> {
  proxy = createServer((req, res) => {
    const up = request(
      { socketPath, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/metadata/v1.json`;
}

function python(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    // Debian's interpreter: the one cloud-init's package is installed for.
    const p = spawn("/usr/bin/python3", [join(__dirname, "cloudinit-do-datasource.py"), ...args]);
    let out = "";
    let err = "";
    p.stdout.on("data", (b: Buffer) => {
      out += b;
    });
    p.stderr.on("data", (b: Buffer) => {
      err += b;
    });
    p.on("close", (code) => resolve({ code: code ?? -1, out, err }));
  });
}

it("cloud-init's DigitalOcean datasource reads identity, keys, data and network from the emulator", async () => {
  const k = generateEd25519();
  const key = (
    await api.call("POST", "/v2/account/keys", { name: "d", public_key: k.publicKeyOpenssh })
  ).body.ssh_key;
  const userData = "#cloud-config\nruncmd: [[true]]\n";
  const id = await activeDroplet(api, {
    name: "ams-ntp-1",
    ssh_keys: [key.id],
    user_data: userData,
  });
  const url = await tcpFront(api.doi.metadata.socketPath(id));
  const r = await python([url, String(id), JSON.stringify({ "52:54:00:00:01:01": "ens3" })]);
  expect(r.code, r.err).toBe(0);
  const got = JSON.parse(r.out);
  expect(got).toMatchObject({
    ok: true,
    instance_id: String(id),
    hostname: "ams-ntp-1",
    public_keys: [k.publicKeyOpenssh.trim()],
    az: "ams3",
    userdata: userData,
    vendordata: VENDOR_DATA,
  });
  // Public NIC renamed eth0 by MAC; primary v4 and v6 with gateways, the anchor without one.
  expect(got.network).toEqual({
    version: 1,
    config: [
      {
        type: "physical",
        mac_address: "52:54:00:00:01:01",
        name: "eth0",
        subnets: [
          {
            type: "static",
            control: "auto",
            address: ADDR.dropletPrimary(1),
            gateway: ADDR.dropletGw(1),
            netmask: "255.255.255.0",
          },
          {
            type: "static",
            control: "auto",
            address: `${ADDR.dropletPrimary6(1)}/64`,
            gateway: ADDR.dropletGw6(1),
          },
          { type: "static", control: "auto", address: ADDR.anchor(1), netmask: "255.255.255.0" },
        ],
      },
      { type: "nameserver", address: ["67.207.67.2", "67.207.67.3"] },
    ],
  });
});
