import ipaddr from "ipaddr.js";
import { findOpenRegion } from "./catalog";
import type { Cloud, ReservedIpRecord } from "./cloud";
import { bodyObject, created, notFound, type Router, unprocessable } from "./core";
import { renderDroplet } from "./droplets";
import { type ReservedFlavour, registerReservedRoutes } from "./reservedIps";

/**
 * Reserved IPv6 addresses and their actions (godo reserved_ipv6.go, reserved_ipv6_actions.go;
 * TF reservedipv6/; docs/digitalocean-api.md#reserved-ipv6). Assign/unassign share reservedIps.ts's machinery;
 * TF waits on these actions only through the global `/v2/actions/{id}`.
 */

const V6: ReservedFlavour = {
  table: (c) => c.reservedIpv6,
  resourceType: "reserved_ipv6",
  realise: (c, ip, id) => c.realiser.setReservedIpv6(ip, id),
  // An IPv6 address does not fit godo's int `resource_id` (action.go); JSON null decodes to 0.
  resourceId: () => null,
};

/** Canonical lower-case compressed form (TF lower-cases IPv6, resource_droplet.go). */
const canonical = (ip: string): string => {
  try {
    return ipaddr.IPv6.parse(ip).toString();
  } catch {
    return ip.toLowerCase();
  }
};

function renderReservedIpv6(cloud: Cloud, r: ReservedIpRecord): Record<string, unknown> {
  const d = r.dropletId === null ? undefined : cloud.droplets.get(r.dropletId);
  return {
    ip: r.ip,
    region_slug: r.region,
    // time.Time in godo (reserved_ipv6.go): RFC 3339, never "".
    reserved_at: r.reservedAt,
    droplet: d ? renderDroplet(cloud, d) : null,
  };
}

function find(cloud: Cloud, ip: string | undefined): ReservedIpRecord {
  const r = cloud.reservedIpv6.get(canonical(ip ?? ""));
  if (!r) throw notFound();
  return r;
}

export function registerReservedIpv6(router: Router, cloud: Cloud): void {
  const res = "reserved_ipv6";
  router.add("POST", "/v2/reserved_ipv6", res, async (req) => {
    const b = bodyObject(req);
    const region = b.region_slug;
    if (typeof region !== "string" || !findOpenRegion(region)) {
      throw unprocessable(`region_slug is not an available region: ${JSON.stringify(region)}`);
    }
    const ip = canonical(await cloud.realiser.allocateReservedIpv6(region));
    const r: ReservedIpRecord = {
      ip,
      region,
      dropletId: null,
      locked: false,
      projectId: cloud.defaultProjectId,
      reservedAt: cloud.iso(),
    };
    cloud.reservedIpv6.set(ip, r);
    // 201 (OAS reservedIPv6_create.yml:24), unlike IPv4's 202.
    return created({ reserved_ipv6: renderReservedIpv6(cloud, r) });
  });
  registerReservedRoutes(router, cloud, V6, {
    path: "/v2/reserved_ipv6",
    listKey: "reserved_ipv6s",
    itemKey: "reserved_ipv6",
    render: renderReservedIpv6,
    find,
    release: (ip) => cloud.realiser.releaseReservedIpv6(ip),
  });
}
