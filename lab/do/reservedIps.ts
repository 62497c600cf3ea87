import { newestFirst, PENDING_EVENT, renderAction, startAction } from "./actions";
import { findOpenRegion, findRegion } from "./catalog";
import type { Cloud, ReservedIpRecord } from "./cloud";
import {
  accepted,
  addReads,
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
import { renderDroplet } from "./droplets";

/**
 * Reserved IPv4 addresses and their actions (godo reserved_ips.go, reserved_ips_actions.go;
 * TF reservedip/; docs/digitalocean-api.md#reserved-ipv4, #reserved-ip-limits, #unassign). The assign/unassign machinery is shared
 * with reserved IPv6 (reservedIpv6.ts), which differs in paths, shapes and address family.
 */

/** What differs between the IPv4 and IPv6 flavours. */
export interface ReservedFlavour {
  readonly table: (cloud: Cloud) => Map<string, ReservedIpRecord>;
  /** `resource_type` of its actions (OAS reserved_ip_action.yml / reserved_ipv6_action.yml). */
  readonly resourceType: string;
  readonly realise: (cloud: Cloud, ip: string, dropletId: number | null) => Promise<void>;
  /** `resource_id` of its actions: an int for godo (action.go); see the flavours. */
  readonly resourceId: (ip: string) => number | null;
}

/**
 * The real API's `resource_id` for an IP action is UNCONFIRMED (docs/digitalocean-api.md#actions); godo needs
 * an integer, so IPv4 actions carry the address as a 32-bit number.
 */
const ipv4AsInt = (ip: string): number =>
  ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);

const V4: ReservedFlavour = {
  table: (c) => c.reservedIps,
  resourceType: "reserved_ip",
  realise: (c, ip, id) => c.realiser.setReservedIpv4(ip, id),
  resourceId: ipv4AsInt,
};

/** The project an IP is listed in: its droplet's while assigned (docs/digitalocean-api.md#moving-an-assigned-reserved-ip). */
export function projectOf(cloud: Cloud, r: ReservedIpRecord): string {
  const d = r.dropletId === null ? undefined : cloud.droplets.get(r.dropletId);
  return d ? d.projectId : r.projectId;
}

function renderReservedIp(cloud: Cloud, r: ReservedIpRecord): Record<string, unknown> {
  const d = r.dropletId === null ? undefined : cloud.droplets.get(r.dropletId);
  return {
    ip: r.ip,
    region: findRegion(r.region),
    // The entire droplet object when assigned: TF reads droplet.region.slug and droplet.id
    // (resource_reserved_ip.go read); null otherwise (its Delete nil-checks nothing, but only
    // assignment resources read it when they expect it: docs/digitalocean-api.md#reserved-ipv4-assignment).
    droplet: d ? renderDroplet(cloud, d) : null,
    locked: r.locked,
    project_id: projectOf(cloud, r),
  };
}

function findReserved(flavour: ReservedFlavour, cloud: Cloud, ip: unknown): ReservedIpRecord {
  const r = flavour.table(cloud).get(String(ip).toLowerCase());
  if (!r) throw notFound();
  return r;
}

/**
 * assign (also re-pointing an assigned IP: docs "How to Reassign or Unassign Reserved IPs")
 * or unassign. 422 if the IP is not assigned (TF tolerates exactly a 422 as "already
 * unassigned", resource_reserved_ip.go Delete); the droplets involved hold a pending event
 * until the realiser has moved the address.
 */
function reservedAction(
  flavour: ReservedFlavour,
  cloud: Cloud,
  r: ReservedIpRecord,
  body: Record<string, unknown>,
): ReturnType<typeof startAction> {
  const type = stringField(body, "type");
  if (r.locked) throw unprocessable("The reserved IP already has a pending event.");
  const table = flavour.table(cloud);
  if (type === "assign") {
    const dropletId = intParam(body.droplet_id, "droplet_id", 422);
    const d = cloud.droplets.get(dropletId);
    if (!d || d.deleting) throw unprocessable(`Droplet ${dropletId} was not found.`);
    // Regional (docs reserved-ips/details/availability); wording UNCONFIRMED.
    if (d.spec.region !== r.region) {
      throw unprocessable(
        `The Droplet is in ${d.spec.region}; the reserved IP ${r.ip} can only be assigned in ${r.region}.`,
      );
    }
    // One reserved IP of each family per droplet (docs reserved-ips/details/limits); wording UNCONFIRMED.
    const other = [...table.values()].find((o) => o !== r && o.dropletId === dropletId);
    if (other)
      throw unprocessable(`Droplet ${dropletId} already has reserved IP ${other.ip} assigned.`);
    if (flavour.resourceType === "reserved_ipv6" && !d.spec.ipv6) {
      // The lab can only route a reserved IPv6 to a droplet with IPv6 (DO behaviour unconfirmed, docs/digitalocean-api.md#reserved-ipv6).
      throw unprocessable(`Droplet ${dropletId} does not have IPv6 enabled.`);
    }
    const previous = r.dropletId;
    const locks = previous !== null && previous !== dropletId ? [dropletId, previous] : [dropletId];
    const action = startAction(
      cloud,
      {
        type: "assign_ip",
        resourceId: flavour.resourceId(r.ip),
        resourceType: flavour.resourceType,
        resourceKey: r.ip,
        region: r.region,
        locks,
        projectId: d.projectId,
        minMs: cloud.timings.actionMs,
      },
      async () => {
        await flavour.realise(cloud, r.ip, dropletId);
        return () => {
          r.dropletId = dropletId;
          r.locked = false;
        };
      },
      () => {
        r.locked = false;
      },
    );
    r.locked = true;
    return action;
  }
  if (type === "unassign") {
    const dropletId = r.dropletId;
    if (dropletId === null)
      throw unprocessable(`The reserved IP ${r.ip} is not assigned to a Droplet.`);
    const d = cloud.droplets.get(dropletId);
    const action = startAction(
      cloud,
      {
        type: "unassign_ip",
        resourceId: flavour.resourceId(r.ip),
        resourceType: flavour.resourceType,
        resourceKey: r.ip,
        region: r.region,
        locks: [dropletId],
        projectId: projectOf(cloud, r),
        minMs: cloud.timings.actionMs,
      },
      async () => {
        await flavour.realise(cloud, r.ip, null);
        return () => {
          // It stays on the account (doctl reserved-ip-action unassign help), in the project it was listed in.
          if (d) r.projectId = d.projectId;
          r.dropletId = null;
          r.locked = false;
        };
      },
      () => {
        r.locked = false;
      },
    );
    r.locked = true;
    return action;
  }
  throw unprocessable(`action type "${type}" is not valid for a reserved IP (assign, unassign)`);
}

/** The pending event of a reserved-IP delete, which has no action of its own. */
const DELETE_EVENT = 0;

/** Unassigns (if needed) and releases an address; answers when both are done. */
async function deleteReserved(
  flavour: ReservedFlavour,
  cloud: Cloud,
  r: ReservedIpRecord,
  release: (ip: string) => Promise<void>,
): Promise<void> {
  if (r.locked) throw unprocessable("The reserved IP already has a pending event.");
  const dropletId = r.dropletId;
  // The unassign is an event of the droplet too (no overlapping realiser calls for it).
  if (dropletId !== null && cloud.pendingEvent.has(dropletId)) throw unprocessable(PENDING_EVENT);
  r.locked = true;
  if (dropletId !== null) cloud.pendingEvent.set(dropletId, DELETE_EVENT);
  try {
    // Deleting an assigned reserved IP unassigns it (docs "How to Delete Reserved IPs").
    if (dropletId !== null) await flavour.realise(cloud, r.ip, null);
    await release(r.ip);
  } finally {
    r.locked = false;
    if (dropletId !== null && cloud.pendingEvent.get(dropletId) === DELETE_EVENT) {
      cloud.pendingEvent.delete(dropletId);
    }
  }
  flavour.table(cloud).delete(r.ip);
}

/** The account's quota of reserved IPv4 addresses (godo account.go `reserved_ip_limit`). */
function checkQuota(cloud: Cloud): void {
  if (cloud.reservedIps.size >= cloud.account.reservedIpLimit) {
    // Limit: docs reserved-ips/details/limits and godo account.go reserved_ip_limit; wording UNCONFIRMED.
    throw unprocessable(
      `You have reached the reserved IP limit of your account (${cloud.account.reservedIpLimit}).`,
    );
  }
}

async function createReservedIp(cloud: Cloud, req: Request) {
  const b = bodyObject(req);
  let region: string | undefined =
    typeof b.region === "string" && b.region !== "" ? b.region : undefined;
  const dropletId =
    b.droplet_id === undefined || b.droplet_id === null
      ? undefined
      : intParam(b.droplet_id, "droplet_id", 422);
  const d = dropletId === undefined ? undefined : cloud.droplets.get(dropletId);
  if (dropletId !== undefined && (!d || d.deleting))
    throw unprocessable(`Droplet ${dropletId} was not found.`);
  region ??= d?.spec.region;
  if (region === undefined) throw unprocessable("region or droplet_id is required");
  if (!findOpenRegion(region)) throw unprocessable(`Region is not available: "${region}"`);
  const projectId =
    typeof b.project_id === "string" && b.project_id !== "" ? b.project_id : cloud.defaultProjectId;
  if (!cloud.projects.has(projectId)) throw unprocessable(`project_id ${projectId} was not found.`);
  checkQuota(cloud);
  const ip = await cloud.realiser.allocateReservedIpv4(region);
  // Re-checked after the await: parallel creates must not overrun the quota.
  try {
    checkQuota(cloud);
  } catch (e) {
    await cloud.realiser.releaseReservedIpv4(ip);
    throw e;
  }
  const r: ReservedIpRecord = {
    ip,
    region,
    dropletId: null,
    locked: false,
    projectId,
    reservedAt: cloud.iso(),
  };
  cloud.reservedIps.set(ip, r);
  const links: Record<string, unknown> = {};
  if (d) {
    const action = reservedAction(V4, cloud, r, { type: "assign", droplet_id: d.id });
    links.actions = [
      { id: action.id, rel: "assign_ip", href: `${req.origin}/v2/actions/${action.id}` },
    ];
  }
  // 202 with `links` (OAS reservedIPs_create.yml:27).
  return accepted({ reserved_ip: renderReservedIp(cloud, r), links });
}

/** The routes both families share: list, get, delete, and the IP's actions (godo reserved_ips*.go). */
export function registerReservedRoutes(
  router: Router,
  cloud: Cloud,
  f: ReservedFlavour,
  r: {
    readonly path: string;
    readonly listKey: string;
    readonly itemKey: string;
    readonly render: (cloud: Cloud, rec: ReservedIpRecord) => Record<string, unknown>;
    readonly find: (cloud: Cloud, ip: string | undefined) => ReservedIpRecord;
    readonly release: (ip: string) => Promise<void>;
  },
): void {
  const res = f.resourceType === "reserved_ip" ? "reserved_ips" : f.resourceType;
  addReads(router, {
    path: r.path,
    resource: res,
    listKey: r.listKey,
    itemKey: r.itemKey,
    all: () => f.table(cloud).values(),
    find: (ip) => r.find(cloud, ip),
    render: (rec) => r.render(cloud, rec),
  });
  router.add("DELETE", `${r.path}/:ip`, res, async (req) => {
    await deleteReserved(f, cloud, r.find(cloud, req.params.ip), r.release);
    return noContent;
  });
  const acts = `${f.resourceType}_actions`;
  router.add("POST", `${r.path}/:ip/actions`, acts, (req) => {
    const rec = r.find(cloud, req.params.ip);
    return created({ action: renderAction(reservedAction(f, cloud, rec, bodyObject(req))) });
  });
  const actionsOf = (ip: string) =>
    newestFirst(
      [...cloud.actions.values()].filter(
        (a) => a.resourceType === f.resourceType && a.resourceKey === ip,
      ),
    );
  router.add("GET", `${r.path}/:ip/actions`, acts, (req) =>
    paginate(req, "actions", actionsOf(r.find(cloud, req.params.ip).ip).map(renderAction)),
  );
  router.add("GET", `${r.path}/:ip/actions/:aid`, acts, (req) => {
    const rec = r.find(cloud, req.params.ip);
    const id = intParam(req.params.aid, "action id");
    const a = actionsOf(rec.ip).find((x) => x.id === id);
    if (!a) throw notFound();
    return ok({ action: renderAction(a) });
  });
}

export function registerReservedIps(router: Router, cloud: Cloud): void {
  router.add("POST", "/v2/reserved_ips", "reserved_ips", (req) => createReservedIp(cloud, req));
  registerReservedRoutes(router, cloud, V4, {
    path: "/v2/reserved_ips",
    listKey: "reserved_ips",
    itemKey: "reserved_ip",
    render: renderReservedIp,
    find: (c, ip) => findReserved(V4, c, ip),
    release: (ip) => cloud.realiser.releaseReservedIpv4(ip),
  });
}
