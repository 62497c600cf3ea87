import { mkdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { Cloud } from "./cloud";
import type { DropletNetwork, Ipv4Config, Ipv6Config } from "./realiser";

/**
 * The droplet metadata service (docs/digitalocean-api.md#metadata-service): `/metadata/v1.json` and the plain-text tree
 * under `/metadata/v1/`, rendered from the emulator's state by pure functions and served per
 * droplet on its own unix socket (the realiser makes that socket answer at 169.254.169.254
 * inside the droplet, realiser.ts DropletSpec.metadataSocket). Values are live: a reserved-IP
 * assignment shows at the next request (docs/digitalocean-api.md#metadata-document).
 */

/** What the document is made of, read from the API state at request time. */
export interface MetadataInput {
  readonly dropletId: number;
  readonly hostname: string;
  readonly region: string;
  readonly publicKeys: readonly string[];
  readonly tags: readonly string[];
  readonly userData: string;
  readonly network?: DropletNetwork;
  readonly reservedIpv4?: string;
  readonly reservedIpv6?: string;
}

/**
 * Vendor data as real droplets carry it: `disable_root: false` lets the injected keys log in
 * as root, `manage_etc_hosts: true` (cloud-init fixtures DO_META_2; GOMD client_test.go).
 */
export const VENDOR_DATA = "#cloud-config\ndisable_root: false\nmanage_etc_hosts: true\n";
/** DigitalOcean's resolvers as metadata lists them (GOMD client_test.go; cloud-init fixtures). */
const NAMESERVERS = ["67.207.67.2", "67.207.67.3"] as const;

const v4 = (c: Ipv4Config) => ({ ip_address: c.address, netmask: c.netmask, gateway: c.gateway });
const v6 = (c: Ipv6Config) => ({ ip_address: c.address, cidr: c.cidr, gateway: c.gateway });

/**
 * `/metadata/v1.json`: a JSON object (cloud-init calls `.get()` on it, DataSourceDigitalOcean.py),
 * fields as GOMD all_json.go; IPv6 prefix as `cidr` (cloud-init helpers/digitalocean.py).
 */
export function renderMetadataJson(m: MetadataInput): Record<string, unknown> {
  const n = m.network;
  const pub: Record<string, unknown>[] = [];
  const priv: Record<string, unknown>[] = [];
  if (n) {
    pub.push({
      // Lower case: cloud-init matches the MAC against sysfs exactly (helpers/digitalocean.py).
      mac: n.publicMac.toLowerCase(),
      type: "public",
      ipv4: v4(n.publicIpv4),
      ...(n.publicIpv6 ? { ipv6: v6(n.publicIpv6) } : {}),
      anchor_ipv4: v4(n.anchorIpv4),
    });
    // Listed only when the droplet has that NIC: an unknown MAC aborts cloud-init's network config.
    if (n.privateIpv4 && n.privateMac) {
      priv.push({ mac: n.privateMac.toLowerCase(), type: "private", ipv4: v4(n.privateIpv4) });
    }
  }
  const active = (ip: string | undefined) =>
    ip ? { active: true, ip_address: ip } : { active: false };
  return {
    droplet_id: m.dropletId,
    hostname: m.hostname,
    user_data: m.userData,
    vendor_data: VENDOR_DATA,
    public_keys: m.publicKeys,
    auth_key: "",
    region: m.region,
    interfaces: { public: pub, ...(priv.length > 0 ? { private: priv } : {}) },
    floating_ip: { ipv4: active(m.reservedIpv4) },
    reserved_ip: { ipv4: active(m.reservedIpv4), ipv6: active(m.reservedIpv6) },
    dns: { nameservers: NAMESERVERS },
    tags: m.tags,
    features: { dhcp_enabled: false },
  };
}

type Tree = string | readonly string[] | { readonly [k: string]: Tree };

/**
 * The plain-text tree (docs "Droplet Metadata" reference; GOMD client.go paths). Leaf names
 * use dashes where the JSON uses underscores (`user-data`, `public-keys`) and `address` where
 * it says `ip_address`. IPv6 leaves (`address`, `cidr`, `gateway`) follow the JSON: UNCONFIRMED.
 */
function metadataTree(m: MetadataInput): Tree {
  const doc = renderMetadataJson(m);
  const leafName = (k: string) => (k === "ip_address" ? "address" : k);
  const convert = (v: unknown): Tree => {
    if (Array.isArray(v)) {
      if (v.every((x) => typeof x === "string")) return v as string[];
      return Object.fromEntries(v.map((x, i) => [String(i), convert(x)]));
    }
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [leafName(k), convert(x)]));
    }
    return String(v);
  };
  const iface = doc.interfaces as Record<string, unknown>;
  return {
    id: String(m.dropletId),
    hostname: m.hostname,
    "user-data": m.userData,
    "vendor-data": VENDOR_DATA,
    "public-keys": m.publicKeys,
    region: m.region,
    interfaces: convert(iface),
    dns: { nameservers: NAMESERVERS },
    floating_ip: convert(doc.floating_ip),
    reserved_ip: convert(doc.reserved_ip),
    // An index (`tags/` in the docs' listing) of the tag names; GOMD's `tags` follows the 301.
    tags: Object.fromEntries(m.tags.map((t) => [t, t])),
    features: { dhcp_enabled: "false" },
  };
}

export interface MetadataAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
  readonly location?: string;
}

/** Answers one GET path of the metadata service. Pure. */
export function metadataAnswer(m: MetadataInput, path: string): MetadataAnswer {
  const text = (body: string): MetadataAnswer => ({
    status: 200,
    body,
    contentType: "text/plain; charset=utf-8",
  });
  const missing: MetadataAnswer = {
    status: 404,
    body: "not found\n",
    contentType: "text/plain; charset=utf-8",
  };
  if (path === "/metadata/v1.json") {
    return {
      status: 200,
      body: JSON.stringify(renderMetadataJson(m)),
      contentType: "application/json",
    };
  }
  if (path === "/metadata/v1" || path === "/metadata") {
    return { status: 301, body: "", contentType: "text/plain", location: `${path}/` };
  }
  if (path === "/metadata/") return text("v1.json\nv1/\n");
  if (!path.startsWith("/metadata/v1/")) return missing;
  const rest = path.slice("/metadata/v1/".length);
  const dir = rest === "" || rest.endsWith("/");
  let node: Tree = metadataTree(m);
  for (const part of rest.split("/").filter(Boolean)) {
    if (typeof node === "string" || Array.isArray(node)) return missing;
    const next: Tree | undefined = (node as Record<string, Tree>)[part];
    if (next === undefined) return missing;
    node = next;
  }
  if (typeof node === "string") return dir ? missing : text(node);
  // A list of strings is a leaf of lines (public-keys, dns/nameservers: GOMD scans lines).
  if (Array.isArray(node)) return text(node.map((l) => `${l}\n`).join(""));
  // Index paths need the trailing slash (301 otherwise, docs metadata reference).
  if (!dir) return { status: 301, body: "", contentType: "text/plain", location: `${path}/` };
  const entries = Object.entries(node as Record<string, Tree>).map(([k, v]) =>
    typeof v === "object" && !Array.isArray(v) ? `${k}/` : k,
  );
  return text(entries.map((e) => `${e}\n`).join(""));
}

/** The metadata input of a droplet from the API state, or undefined once it is gone. */
function metadataInput(cloud: Cloud, dropletId: number): MetadataInput | undefined {
  const d = cloud.droplets.get(dropletId);
  if (!d) return undefined;
  const v4ip = [...cloud.reservedIps.values()].find((r) => r.dropletId === d.id)?.ip;
  const v6ip = [...cloud.reservedIpv6.values()].find((r) => r.dropletId === d.id)?.ip;
  return {
    dropletId: d.id,
    hostname: d.name,
    region: d.spec.region,
    publicKeys: d.spec.publicKeys,
    tags: d.tags,
    userData: d.spec.userData,
    ...(d.network ? { network: d.network } : {}),
    ...(v4ip ? { reservedIpv4: v4ip } : {}),
    ...(v6ip ? { reservedIpv6: v6ip } : {}),
  };
}

/** One unix-socket HTTP listener per droplet under `dir`, each answering only for its droplet. */
export class MetadataSockets {
  private readonly servers = new Map<number, Server>();
  readonly requests: { dropletId: number; path: string; status: number }[] = [];

  constructor(
    private readonly cloud: Cloud,
    readonly dir: string,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  }

  socketPath(dropletId: number): string {
    return join(this.dir, `${dropletId}.sock`);
  }

  /** Starts the droplet's listener (idempotent); resolves with its socket path. */
  async open(dropletId: number): Promise<string> {
    const path = this.socketPath(dropletId);
    if (this.servers.has(dropletId)) return path;
    rmSync(path, { force: true });
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://169.254.169.254");
      const input = metadataInput(this.cloud, dropletId);
      const a =
        req.method !== "GET" && req.method !== "HEAD"
          ? { status: 405, body: "", contentType: "text/plain" }
          : input
            ? metadataAnswer(input, url.pathname)
            : { status: 404, body: "not found\n", contentType: "text/plain" };
      this.requests.push({ dropletId, path: url.pathname, status: a.status });
      res.writeHead(a.status, {
        "content-type": a.contentType,
        ...("location" in a && a.location ? { location: a.location } : {}),
      });
      res.end(req.method === "HEAD" ? undefined : a.body);
    });
    this.servers.set(dropletId, server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    return path;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.servers.values()].map(
        (s) =>
          new Promise<void>((r) => {
            s.close(() => r());
            s.closeAllConnections();
          }),
      ),
    );
    for (const id of this.servers.keys()) rmSync(this.socketPath(id), { force: true });
    this.servers.clear();
  }
}
