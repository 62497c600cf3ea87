import { randomUUID } from "node:crypto";
import ipaddr from "ipaddr.js";
import { parsePortRange } from "../../ntp/portRange";
import type { Cloud, FirewallRecord } from "./cloud";
import {
  accepted,
  addReads,
  bodyObject,
  intList,
  noContent,
  notFound,
  ok,
  paginate,
  type Request,
  type Router,
  stringList,
  unprocessable,
} from "./core";
import { findDroplet } from "./droplets";
import type { FirewallRuleSpec } from "./realiser";

/**
 * Cloud firewalls (godo firewalls.go; TF firewall/; docs/digitalocean-api.md#firewalls, #firewall-validation). The API echoes
 * what was sent, with the read-back rules TF depends on (TF firewall/firewalls.go
 * flattenFirewallInboundRules/OutboundRules): every rule carries `sources`/`destinations`,
 * ports "0" for all ports and for icmp, `droplet_ids` only the explicitly attached droplets.
 */

/** docs products/networking/firewalls/details/limits (docs/decisions.md#cloud-firewall): per firewall. */
const FIREWALL_LIMITS = { rules: 50, dropletIds: 10, tags: 5 } as const;
/** OAS resources/firewalls/models/firewall.yml:66. */
const FIREWALL_NAME = /^[a-zA-Z0-9][a-zA-Z0-9.-]+$/;

type Direction = "inbound" | "outbound";

function parseRules(cloud: Cloud, raw: unknown, dir: Direction): FirewallRuleSpec[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw unprocessable(`${dir}_rules must be an array`);
  const side = dir === "inbound" ? "sources" : "destinations";
  return raw.map((rule: unknown, i: number) => {
    const at = `${dir}_rules[${i}]`;
    if (typeof rule !== "object" || rule === null) throw unprocessable(`${at} must be an object`);
    const r = rule as Record<string, unknown>;
    const protocol = r.protocol;
    if (protocol !== "tcp" && protocol !== "udp" && protocol !== "icmp") {
      throw unprocessable(
        `${at}.protocol must be tcp, udp or icmp (got ${JSON.stringify(protocol)})`,
      );
    }
    const ports = typeof r.ports === "string" ? r.ports.trim() : undefined;
    if (protocol !== "icmp") {
      // Observed wording for a missing port (doctl#247/PR#278, TF PR#39).
      if (ports === undefined || ports === "")
        throw unprocessable("You must specify a positive value for ports.");
      if (parsePortRange(ports) === undefined)
        throw unprocessable(`${at}.ports is not a port, a range or "all": "${ports}"`);
    }
    const target = (r[side] ?? {}) as Record<string, unknown>;
    if (typeof target !== "object" || Array.isArray(target))
      throw unprocessable(`${at}.${side} must be an object`);
    const addresses = stringList(target, "addresses");
    for (const a of addresses) {
      // Historical wording "invalid address" (TF issue #33); IPv4, IPv6 or either as CIDR (firewall_rule.yml).
      if (!validAddress(a))
        throw unprocessable(`invalid address: "${a}" in ${at}.${side}.addresses`);
    }
    const tags = stringList(target, "tags");
    for (const t of tags)
      if (!cloud.tags.has(t.toLowerCase())) throw unprocessable(`tag "${t}" does not exist`);
    const dropletIds = intList(target, "droplet_ids");
    for (const id of dropletIds)
      if (!cloud.droplets.has(id)) throw unprocessable(`droplet ${id} does not exist`);
    return {
      protocol,
      ...(ports !== undefined && protocol !== "icmp" ? { ports } : {}),
      addresses,
      dropletIds,
      tags,
      loadBalancerUids: stringList(target, "load_balancer_uids"),
      kubernetesIds: stringList(target, "kubernetes_ids"),
    };
  });
}

function validAddress(a: string): boolean {
  try {
    if (a.includes("/")) ipaddr.parseCIDR(a);
    else ipaddr.parse(a);
    return ipaddr.isValid(a.split("/")[0] as string);
  } catch {
    return false;
  }
}

function renderRule(r: FirewallRuleSpec, dir: Direction): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  if (r.addresses.length) target.addresses = r.addresses;
  if (r.tags.length) target.tags = r.tags;
  if (r.dropletIds.length) target.droplet_ids = r.dropletIds;
  if (r.loadBalancerUids.length) target.load_balancer_uids = r.loadBalancerUids;
  if (r.kubernetesIds.length) target.kubernetes_ids = r.kubernetesIds;
  // "0" means all ports; icmp always "0" (OAS firewall_rule.yml:16-22). Ranges echo verbatim.
  const ports = r.protocol === "icmp" || r.ports === undefined || r.ports === "all" ? "0" : r.ports;
  return {
    protocol: r.protocol,
    ports,
    [dir === "inbound" ? "sources" : "destinations"]: target,
  };
}

/** Droplets the firewall covers: explicit ids plus every droplet carrying one of its tags. */
function coveredDroplets(cloud: Cloud, fw: FirewallRecord): number[] {
  const tags = new Set(fw.tags.map((t) => t.toLowerCase()));
  return [...cloud.droplets.values()]
    .filter((d) => fw.dropletIds.includes(d.id) || d.tags.some((t) => tags.has(t.toLowerCase())))
    .map((d) => d.id);
}

function renderFirewall(cloud: Cloud, fw: FirewallRecord): Record<string, unknown> {
  return {
    id: fw.id,
    name: fw.name,
    status: fw.status,
    created_at: fw.createdAt,
    // Only explicitly attached droplets (TF firewall/firewalls.go: tag-matched ids would be a perpetual diff).
    droplet_ids: fw.dropletIds,
    tags: fw.tags,
    inbound_rules: fw.inboundRules.map((r) => renderRule(r, "inbound")),
    outbound_rules: fw.outboundRules.map((r) => renderRule(r, "outbound")),
    pending_changes:
      fw.status === "waiting"
        ? coveredDroplets(cloud, fw).map((id) => ({
            droplet_id: id,
            removing: false,
            status: "waiting",
          }))
        : [],
  };
}

interface FirewallFields {
  name: string;
  inboundRules: FirewallRuleSpec[];
  outboundRules: FirewallRuleSpec[];
  dropletIds: number[];
  tags: string[];
}

function parseFirewall(cloud: Cloud, req: Request): FirewallFields {
  const b = bodyObject(req);
  const name = typeof b.name === "string" ? b.name : "";
  if (!FIREWALL_NAME.test(name))
    throw unprocessable(`name must match ${FIREWALL_NAME.source} (got "${name}")`);
  const inboundRules = parseRules(cloud, b.inbound_rules, "inbound");
  const outboundRules = parseRules(cloud, b.outbound_rules, "outbound");
  // OAS firewalls_create.yml:7: at least one rule.
  if (inboundRules.length + outboundRules.length === 0) {
    throw unprocessable("At least one inbound or outbound rule is required.");
  }
  const dropletIds = intList(b, "droplet_ids");
  for (const id of dropletIds)
    if (!cloud.droplets.has(id)) throw unprocessable(`droplet ${id} does not exist`);
  // Firewall tags must already exist (OAS shared/attributes/existing_tags_array.yml); wording UNCONFIRMED.
  const tags = stringList(b, "tags").map((t) => {
    const tag = cloud.tags.get(t.toLowerCase());
    if (!tag) throw unprocessable(`tag "${t}" does not exist`);
    return tag.name;
  });
  const fields = { name, inboundRules, outboundRules, dropletIds, tags };
  checkLimits(fields);
  return fields;
}

function checkLimits(
  f: Pick<FirewallFields, "inboundRules" | "outboundRules" | "dropletIds" | "tags">,
): void {
  const rules = f.inboundRules.length + f.outboundRules.length;
  if (rules > FIREWALL_LIMITS.rules)
    throw unprocessable(`a firewall has at most ${FIREWALL_LIMITS.rules} rules (got ${rules})`);
  if (f.dropletIds.length > FIREWALL_LIMITS.dropletIds) {
    throw unprocessable(
      `a firewall has at most ${FIREWALL_LIMITS.dropletIds} droplets (got ${f.dropletIds.length})`,
    );
  }
  if (f.tags.length > FIREWALL_LIMITS.tags)
    throw unprocessable(
      `a firewall has at most ${FIREWALL_LIMITS.tags} tags (got ${f.tags.length})`,
    );
}

function findFirewall(cloud: Cloud, id: string | undefined): FirewallRecord {
  const fw = cloud.firewalls.get(id ?? "");
  if (!fw) throw notFound();
  return fw;
}

const union = <T>(a: readonly T[], b: readonly T[]): T[] => [...new Set([...a, ...b])];

export function registerFirewalls(router: Router, cloud: Cloud): void {
  const res = "firewalls";
  router.add("POST", "/v2/firewalls", res, (req) => {
    const f = parseFirewall(cloud, req);
    const fw: FirewallRecord = {
      id: randomUUID(),
      createdAt: cloud.iso(),
      status: "waiting",
      ...f,
    };
    cloud.firewalls.set(fw.id, fw);
    cloud.refreshFirewalls();
    return accepted({ firewall: renderFirewall(cloud, fw) });
  });
  addReads(router, {
    path: "/v2/firewalls",
    resource: res,
    listKey: "firewalls",
    itemKey: "firewall",
    all: () => cloud.firewalls.values(),
    find: (id) => findFirewall(cloud, id),
    render: (f) => renderFirewall(cloud, f),
  });
  // Replace semantics: the full request every time (TF resource_firewall.go Update).
  router.add("PUT", "/v2/firewalls/:id", res, (req) => {
    const fw = findFirewall(cloud, req.params.id);
    Object.assign(fw, parseFirewall(cloud, req));
    cloud.refreshFirewalls();
    return ok({ firewall: renderFirewall(cloud, fw) });
  });
  router.add("DELETE", "/v2/firewalls/:id", res, (req) => {
    cloud.firewalls.delete(findFirewall(cloud, req.params.id).id);
    cloud.refreshFirewalls();
    return noContent;
  });
  const change = (
    path: string,
    apply: (fw: FirewallRecord, b: Record<string, unknown>, add: boolean) => void,
  ): void => {
    for (const [method, add] of [
      ["POST", true],
      ["DELETE", false],
    ] as const) {
      router.add(method, `/v2/firewalls/:id/${path}`, res, (req) => {
        const fw = findFirewall(cloud, req.params.id);
        apply(fw, bodyObject(req), add);
        checkLimits(fw);
        cloud.refreshFirewalls();
        return noContent;
      });
    }
  };
  // godo firewalls.go AddDroplets/RemoveDroplets, AddTags/RemoveTags, AddRules/RemoveRules (204).
  change("droplets", (fw, b, add) => {
    const ids = intList(b, "droplet_ids");
    for (const id of ids)
      if (add && !cloud.droplets.has(id)) throw unprocessable(`droplet ${id} does not exist`);
    fw.dropletIds = add ? union(fw.dropletIds, ids) : fw.dropletIds.filter((d) => !ids.includes(d));
  });
  change("tags", (fw, b, add) => {
    const tags = stringList(b, "tags");
    for (const t of tags)
      if (add && !cloud.tags.has(t.toLowerCase())) throw unprocessable(`tag "${t}" does not exist`);
    const lower = tags.map((t) => t.toLowerCase());
    fw.tags = add
      ? union(
          fw.tags,
          tags.map((t) => cloud.tags.get(t.toLowerCase())?.name ?? t),
        )
      : fw.tags.filter((t) => !lower.includes(t.toLowerCase()));
  });
  change("rules", (fw, b, add) => {
    const inbound = parseRules(cloud, b.inbound_rules, "inbound");
    const outbound = parseRules(cloud, b.outbound_rules, "outbound");
    const same = (x: FirewallRuleSpec) => (y: FirewallRuleSpec) =>
      JSON.stringify(x) === JSON.stringify(y);
    if (add) {
      fw.inboundRules = [
        ...fw.inboundRules,
        ...inbound.filter((r) => !fw.inboundRules.some(same(r))),
      ];
      fw.outboundRules = [
        ...fw.outboundRules,
        ...outbound.filter((r) => !fw.outboundRules.some(same(r))),
      ];
    } else {
      fw.inboundRules = fw.inboundRules.filter((r) => !inbound.some(same(r)));
      fw.outboundRules = fw.outboundRules.filter((r) => !outbound.some(same(r)));
    }
  });
  // Firewalls covering a droplet, explicitly or by tag (godo firewalls.go ListByDroplet).
  router.add("GET", "/v2/droplets/:id/firewalls", res, (req) => {
    const d = findDroplet(cloud, req.params.id);
    const list = [...cloud.firewalls.values()].filter((f) =>
      coveredDroplets(cloud, f).includes(d.id),
    );
    return paginate(
      req,
      "firewalls",
      list.map((f) => renderFirewall(cloud, f)),
    );
  });
}
