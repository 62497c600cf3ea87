/**
 * The emulator's metadata document through cloud-init's own DigitalOcean datasource
 * (DataSourceDigitalOcean + helpers/digitalocean.py of cloud-init 22.4.2 in the lab's tools
 * image, the version the droplet image has): instance id, hostname, keys, user/vendor data and
 * the network configuration it derives, as a droplet's cloud-init would. Python and cloud-init
 * run from the tools image in a namespace of this test's, where lab/forward.cjs puts the
 * droplet's metadata socket on 127.0.0.1 (the lab plumbs 169.254.169.254 instead).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { VENDOR_DATA } from "../../lab/do/metadata";
import { generateEd25519 } from "../../lab/keys";
import { ADDR } from "../../lab/net";
import { activeDroplet, startTestApi, type TestApi } from "../helpers/doApi";
import { type Node, NtpNet } from "../helpers/netns";
import { requireRealTools } from "../helpers/realTools";

let api: TestApi;
let net: NtpNet;
let node: Node;
let forwarder: ChildProcess | undefined;
const PORT = 8080;

beforeAll(async () => {
  requireRealTools(["cloud-init"]);
  api = await startTestApi();
  net = new NtpNet();
  node = net.addNode("md", 2);
});
afterAll(async () => {
  forwarder?.kill("SIGKILL");
  net?.teardown();
  await api?.close();
});

/** TCP 127.0.0.1:PORT in the test's namespace → the droplet's metadata socket. */
async function metadataFront(socketPath: string): Promise<string> {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      node.ns,
      process.execPath,
      join(__dirname, "..", "..", "lab", "forward.cjs"),
      "127.0.0.1",
      String(PORT),
      socketPath,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  forwarder = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`metadata forwarder exited (${code})`)));
  });
  return `http://127.0.0.1:${PORT}/metadata/v1.json`;
}

async function python(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await net.exec(
    node,
    ["python3", join(__dirname, "cloudinit-do-datasource.py"), ...args],
    { timeoutMs: 60_000 },
    { binds: [{ host: __dirname, readOnly: true }] },
  );
  return { code: r.code, out: r.stdout, err: r.stderr };
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
  const url = await metadataFront(api.doi.metadata.socketPath(id));
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
