import { newestFirst, PENDING_EVENT, renderAction, startAction } from "./actions";
import {
  findImage,
  findOpenRegion,
  findRegion,
  findSize,
  type ImageObject,
  type SizeObject,
} from "./catalog";
import type { Cloud, DropletRecord } from "./cloud";
import {
  accepted,
  bodyObject,
  created,
  intParam,
  noContent,
  notFound,
  ok,
  paginate,
  type Request,
  type Router,
  stringField,
  unprocessable,
} from "./core";

/**
 * Droplets and droplet actions (godo droplets.go, droplet_actions.go; TF
 * droplet/resource_droplet.go; docs/digitalocean-api.md#droplets). Realisation order: realiser.ts.
 */

/** OAS resources/droplets/models/droplet_create.yml:80-88: user_data up to 64 KiB. */
const USER_DATA_LIMIT = 64 * 1024;

/** VPC of a region: every droplet gets its region's default VPC (OAS droplet_create.yml vpc_uuid). */
const defaultVpc = (region: string): string => {
  const hex = Buffer.from(region.padEnd(6, "0")).toString("hex").slice(0, 12).padEnd(12, "0");
  return `5a4c0000-0000-4000-8000-${hex}`;
};

export function renderDroplet(_cloud: Cloud, d: DropletRecord): Record<string, unknown> {
  const size = findSize(d.size) as SizeObject;
  const image = findImage(d.spec.image) as ImageObject;
  const n = d.network;
  const v4: Record<string, unknown>[] = [];
  const v6: Record<string, unknown>[] = [];
  if (n) {
    // The droplet's own public address first: TF's ipv4_address is the first public v4 entry
    // (resource_droplet.go setDropletAttributes). Neither the anchor nor a reserved IP is
    // listed (docs/digitalocean-api.md#droplets: unconfirmed; listing them would risk being first).
    v4.push({ ...v4Entry(n.publicIpv4), type: "public" });
    if (n.privateIpv4) {
      // Private networks have no gateway in the API (OAS network_v4.yml "not provided").
      v4.push({
        ip_address: n.privateIpv4.address,
        netmask: n.privateIpv4.netmask,
        type: "private",
      });
    }
    if (n.publicIpv6) {
      v6.push({
        ip_address: n.publicIpv6.address,
        netmask: n.publicIpv6.cidr,
        gateway: n.publicIpv6.gateway,
        type: "public",
      });
    }
  }
  return {
    id: d.id,
    name: d.name,
    memory: size.memory,
    vcpus: size.vcpus,
    disk: size.disk,
    // Never locked: TF's refresh counts a locked droplet as not found (resource_droplet.go
    // dropletStateRefreshFunc), and no emulated operation needs to hide one.
    locked: false,
    status: d.status,
    kernel: null,
    created_at: d.createdAt,
    features: d.features,
    backup_ids: [],
    next_backup_window: null,
    snapshot_ids: [],
    image,
    volume_ids: [],
    size,
    size_slug: size.slug,
    networks: { v4, v6 },
    region: findRegion(d.spec.region),
    tags: d.tags,
    vpc_uuid: d.spec.vpcUuid,
  };
}

const v4Entry = (c: { address: string; netmask: string; gateway: string }) => ({
  ip_address: c.address,
  netmask: c.netmask,
  gateway: c.gateway,
});

export function findDroplet(cloud: Cloud, id: unknown): DropletRecord {
  const d = cloud.droplets.get(intParam(id, "droplet id"));
  if (!d) throw notFound();
  return d;
}

/** Resolves `ssh_keys` (ids or MD5 fingerprints) to public keys, or 422 naming the bad ones. */
function publicKeysFor(cloud: Cloud, refs: unknown): string[] {
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) throw unprocessable("ssh_keys must be an array");
  const keys: string[] = [];
  const bad: string[] = [];
  for (const r of refs) {
    const k = [...cloud.keys.values()].find((v) => v.id === r || v.fingerprint === r);
    if (k) keys.push(k.publicKey);
    else bad.push(String(r));
  }
  // Observed wording (poseidon/typhoon#106, docs/digitalocean-api.md#ssh-key-errors).
  if (bad.length > 0)
    throw unprocessable(`${bad.join(", ")} are invalid key identifiers for Droplet creation.`);
  return keys;
}

function createDroplet(cloud: Cloud, req: Request) {
  const b = bodyObject(req);
  const name = stringField(b, "name");
  // Hostname characters (OAS droplet_create.yml name: "alphanumeric, dashes, periods").
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,253}[a-zA-Z0-9])?$/.test(name)) {
    throw unprocessable(
      `Name is invalid: only letters, numbers, periods and dashes are allowed (got "${name}")`,
    );
  }
  const regionSlug = stringField(b, "region");
  const region = findOpenRegion(regionSlug);
  if (!region) throw unprocessable(`Region is not available: "${regionSlug}"`);
  const sizeSlug = stringField(b, "size");
  if (!findSize(sizeSlug)) throw unprocessable(`Size is not available: "${sizeSlug}"`);
  if (!region.sizes.includes(sizeSlug))
    throw unprocessable(`Size is not available in this region: "${sizeSlug}" in "${regionSlug}"`);
  const imageRef = b.image;
  const img =
    typeof imageRef === "string" || typeof imageRef === "number" ? findImage(imageRef) : undefined;
  if (!img)
    throw unprocessable(
      `You specified an invalid image for Droplet creation: ${JSON.stringify(imageRef)}`,
    );
  const userData = b.user_data === undefined || b.user_data === null ? "" : b.user_data;
  if (typeof userData !== "string") throw unprocessable("user_data must be a string");
  const udBytes = Buffer.byteLength(userData, "utf8");
  if (udBytes > USER_DATA_LIMIT) {
    // Limit: OAS droplet_create.yml:80-88; the wording of the real answer is UNCONFIRMED.
    throw unprocessable(`user_data is limited to 64 KiB (65536 bytes); got ${udBytes} bytes`);
  }
  const tags = b.tags === undefined || b.tags === null ? [] : b.tags;
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string" || !TAG_NAME.test(t))) {
    throw unprocessable(`tags must be names matching ${TAG_NAME.source}`);
  }
  const publicKeys = publicKeysFor(cloud, b.ssh_keys);
  const live = [...cloud.droplets.values()].filter((d) => !d.deleting).length;
  if (live >= cloud.account.dropletLimit) {
    // Observed wording (OpenRouterLabs/spawn#3059, docs/digitalocean-api.md#reserved-ip-limits).
    throw unprocessable("creating this/these droplet(s) will exceed your droplet limit");
  }
  const vpc =
    typeof b.vpc_uuid === "string" && b.vpc_uuid !== "" ? b.vpc_uuid : defaultVpc(regionSlug);
  const id = cloud.dropletId();
  // Tags named at create are created if new (OAS droplet_create.yml tags); canonical spelling kept.
  const canonicalTags = (tags as string[]).map((t) => cloud.ensureTag(t).name);
  const features: string[] = [];
  if (b.backups === true) features.push("backups");
  if (b.ipv6 === true) features.push("ipv6");
  if (b.monitoring === true) features.push("monitoring");
  if (b.private_networking === true) features.push("private_networking");
  const spec = {
    id,
    name,
    region: regionSlug,
    size: sizeSlug,
    image: img.slug,
    userData,
    ipv6: b.ipv6 === true,
    privateNetworking: b.private_networking === true,
    tags: canonicalTags,
    publicKeys,
    vpcUuid: vpc,
    metadataSocket: "",
  };
  const d: DropletRecord = {
    id,
    name,
    spec,
    status: "new",
    size: sizeSlug,
    createdAt: cloud.iso(),
    tags: [...canonicalTags],
    features,
    deleting: false,
    projectId: cloud.defaultProjectId,
  };
  cloud.droplets.set(id, d);
  // The `create` action is in the droplet's action list and holds its pending event until it
  // completes, at the instant the droplet turns active (docs/digitalocean-api.md#polling, last rule; TF
  // reserved_ip_actions.go waitOnDroplet waits on exactly this list).
  const action = startAction(
    cloud,
    {
      type: "create",
      resourceId: id,
      resourceType: "droplet",
      region: regionSlug,
      listedOn: id,
      locks: [id],
      minMs: cloud.timings.dropletNewMs,
    },
    async () => {
      const socket = await cloud.metadataSocket(id);
      const full = { ...spec, metadataSocket: socket };
      d.spec = full;
      d.network = await cloud.realiser.createDroplet(full);
      await cloud.applyFirewalls();
      await cloud.realiser.startDroplet(id);
      return () => {
        d.status = "active";
      };
    },
    () => {
      d.status = "errored";
    },
  );
  // 202 with the create action's link (OAS droplets_create.yml; doctl --wait follows
  // links.actions[rel=create].href, do/droplets.go Create).
  return accepted({
    droplet: renderDroplet(cloud, d),
    links: {
      actions: [{ id: action.id, rel: "create", href: `${req.origin}/v2/actions/${action.id}` }],
    },
  });
}

/** Tag names: OAS resources/tags/models/tags.yml:17 (also TF tag/tags.go). */
export const TAG_NAME = /^[a-zA-Z0-9:\-_]{1,255}$/;

/** DELETE: 204 at once; the IPs are moved off, then the machine removed, then GET 404s. */
function destroyDroplet(cloud: Cloud, d: DropletRecord): void {
  if (d.deleting) return;
  d.deleting = true;
  cloud.spawn(`delete droplet ${d.id}`, async () => {
    // A running action (its create, a power action, an IP move) finishes first: the realiser
    // never gets two calls for one droplet at once (realiser.ts).
    while (cloud.pendingEvent.has(d.id)) await new Promise((r) => setTimeout(r, 20));
    // Reserved IPs stay on the account, unassigned (OAS droplets_destroy_withAssociatedResourcesSelective.yml).
    for (const [table, set] of [
      [cloud.reservedIps, (ip: string) => cloud.realiser.setReservedIpv4(ip, null)],
      [cloud.reservedIpv6, (ip: string) => cloud.realiser.setReservedIpv6(ip, null)],
    ] as const) {
      for (const r of table.values()) {
        if (r.dropletId !== d.id) continue;
        await set(r.ip);
        r.dropletId = null;
        // The orphaned IP stays in the project it was listed in (its droplet's): UNCONFIRMED
        // on DigitalOcean (docs/digitalocean-api.md#droplet-deletion), and the least surprising for a client.
        r.projectId = d.projectId;
      }
    }
    await cloud.realiser.deleteDroplet(d.id);
    cloud.droplets.delete(d.id);
    cloud.pendingEvent.delete(d.id);
    // A deleted droplet leaves every firewall's explicit list.
    for (const fw of cloud.firewalls.values())
      fw.dropletIds = fw.dropletIds.filter((x) => x !== d.id);
    await cloud.applyFirewalls();
  });
}

type PowerMethod = "powerOff" | "shutdown" | "powerOn" | "reboot";

/** Droplet action types the emulator performs, with the realiser call and the status after. */
const POWER: Readonly<
  Record<string, { method: PowerMethod; from: readonly string[]; to: "off" | "active" }>
> = {
  power_off: { method: "powerOff", from: ["active"], to: "off" },
  shutdown: { method: "shutdown", from: ["active"], to: "off" },
  power_on: { method: "powerOn", from: ["off"], to: "active" },
  reboot: { method: "reboot", from: ["active"], to: "active" },
  power_cycle: { method: "reboot", from: ["active", "off"], to: "active" },
};

function dropletAction(cloud: Cloud, req: Request) {
  const d = findDroplet(cloud, req.params.id);
  if (d.deleting) throw notFound();
  const b = bodyObject(req);
  const type = stringField(b, "type");
  const base = {
    type,
    resourceId: d.id,
    resourceType: "droplet",
    region: d.spec.region,
    listedOn: d.id,
    locks: [d.id],
    minMs: cloud.timings.actionMs,
  };
  // A droplet still being created (or mid-action) holds its one pending event (docs/digitalocean-api.md#one-pending-event-per-droplet).
  if (cloud.pendingEvent.has(d.id)) throw unprocessable(PENDING_EVENT);
  const power = POWER[type];
  let action: ReturnType<typeof startAction>;
  if (power) {
    if (!power.from.includes(d.status)) {
      // TF tolerates exactly this text on power_off (resource_droplet.go:604-608).
      throw unprocessable(
        d.status === "off" ? "Droplet is already powered off." : "Droplet is already powered on.",
      );
    }
    action = startAction(cloud, base, async () => {
      await cloud.realiser[power.method](d.id);
      return () => {
        d.status = power.to;
      };
    });
  } else if (type === "rename") {
    const name = stringField(b, "name");
    action = startAction(cloud, base, async () => () => {
      d.name = name;
    });
  } else if (type === "resize") {
    const size = stringField(b, "size");
    if (!findSize(size)) throw unprocessable(`Size is not available: "${size}"`);
    // Resizing needs the droplet off (TF powers it off first, resource_droplet.go:600-620).
    if (d.status !== "off") throw unprocessable("Droplet must be powered off before resizing.");
    action = startAction(cloud, base, async () => () => {
      d.size = size;
    });
  } else if (type === "enable_backups" || type === "disable_backups") {
    action = startAction(cloud, base, async () => () => {
      d.features = d.features.filter((f) => f !== "backups");
      if (type === "enable_backups") d.features.push("backups");
    });
  } else {
    // enable_ipv6 / enable_private_networking / rebuild / snapshot ... need a realisation
    // the lab does not have: refused rather than pretended.
    throw unprocessable(`action type "${type}" is not emulated by the lab`);
  }
  return created({ action: renderAction(action) });
}

export function registerDroplets(router: Router, cloud: Cloud): void {
  router.add("POST", "/v2/droplets", "droplets", (req) => createDroplet(cloud, req));
  router.add("GET", "/v2/droplets", "droplets", (req) => {
    const tag = req.query.get("tag_name");
    const list = [...cloud.droplets.values()]
      .filter((d) => tag === null || d.tags.some((t) => t.toLowerCase() === tag.toLowerCase()))
      .filter((d) => !(req.query.get("name") ?? "") || d.name === req.query.get("name"))
      .map((d) => renderDroplet(cloud, d));
    return paginate(req, "droplets", list);
  });
  router.add("DELETE", "/v2/droplets", "droplets", (req) => {
    const tag = req.query.get("tag_name");
    if (!tag) throw unprocessable("tag_name is required to delete droplets by tag");
    for (const d of cloud.droplets.values()) {
      if (d.tags.some((t) => t.toLowerCase() === tag.toLowerCase())) destroyDroplet(cloud, d);
    }
    return noContent;
  });
  router.add("GET", "/v2/droplets/:id", "droplets", (req) =>
    ok({ droplet: renderDroplet(cloud, findDroplet(cloud, req.params.id)) }),
  );
  router.add("DELETE", "/v2/droplets/:id", "droplets", (req) => {
    destroyDroplet(cloud, findDroplet(cloud, req.params.id));
    return noContent;
  });
  router.add("GET", "/v2/droplets/:id/actions", "droplet_actions", (req) => {
    const d = findDroplet(cloud, req.params.id);
    const list = newestFirst([...cloud.actions.values()].filter((a) => a.dropletId === d.id));
    return paginate(req, "actions", list.map(renderAction));
  });
  router.add("GET", "/v2/droplets/:id/actions/:aid", "droplet_actions", (req) => {
    const d = findDroplet(cloud, req.params.id);
    const a = cloud.actions.get(intParam(req.params.aid, "action id"));
    if (!a || a.dropletId !== d.id) throw notFound();
    return ok({ action: renderAction(a) });
  });
  router.add("POST", "/v2/droplets/:id/actions", "droplet_actions", (req) =>
    dropletAction(cloud, req),
  );
}
