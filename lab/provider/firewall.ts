import type { ApiClient } from "./client";
import { type Created, type Inputs, type ProviderResource, strings } from "./resource";

type Rule = Record<string, unknown>;

/** godo Sources/Destinations from one Pulumi rule (firewalls.go:144-198); empty lists omitted. */
function endpoints(rule: Rule, side: "source" | "destination"): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const pick = (k: string) => rule[`${side}${k}`];
  const addresses = strings(pick("Addresses"));
  const tags = strings(pick("Tags"));
  const ids = ((pick("DropletIds") as unknown[] | undefined) ?? []).map(Number);
  const lbs = strings(pick("LoadBalancerUids"));
  const k8s = strings(pick("KubernetesIds"));
  if (addresses.length) out.addresses = addresses;
  if (tags.length) out.tags = tags;
  if (ids.length) out.droplet_ids = ids;
  if (lbs.length) out.load_balancer_uids = lbs;
  if (k8s.length) out.kubernetes_ids = k8s;
  return out;
}

const expandRule = (rule: Rule, side: "source" | "destination"): Record<string, unknown> => ({
  protocol: String(rule.protocol),
  // godo: `ports` is omitempty (an icmp rule without a port sends none).
  ...(rule.portRange ? { ports: String(rule.portRange) } : {}),
  [side === "source" ? "sources" : "destinations"]: endpoints(rule, side),
});

/** firewallRequest (resource_firewall.go:163-187, firewalls.go:144-198). */
export function firewallRequest(name: string, inputs: Inputs): Record<string, unknown> {
  const ids = ((inputs.dropletIds as unknown[] | undefined) ?? []).map(Number);
  return {
    name: String(inputs.name ?? name),
    droplet_ids: ids.length ? ids : null,
    tags: strings(inputs.tags),
    inbound_rules: ((inputs.inboundRules as Rule[] | undefined) ?? []).map((r) =>
      expandRule(r, "source"),
    ),
    outbound_rules: ((inputs.outboundRules as Rule[] | undefined) ?? []).map((r) =>
      expandRule(r, "destination"),
    ),
  };
}

interface ApiRule {
  protocol: string;
  ports: string;
  sources?: Record<string, unknown[] | undefined>;
  destinations?: Record<string, unknown[] | undefined>;
}

interface ApiFirewall {
  id: string;
  name: string;
  status: string;
  created_at: string;
  droplet_ids: number[] | null;
  tags: string[] | null;
  pending_changes: { droplet_id: number; removing: boolean; status: string }[] | null;
  inbound_rules: ApiRule[] | null;
  outbound_rules: ApiRule[] | null;
}

/** flattenFirewall{In,Out}boundRules (firewalls.go:228-337): "0" is "all", icmp has no port. */
function flattenRule(r: ApiRule, side: "source" | "destination"): Rule {
  const out: Rule = { protocol: r.protocol };
  if (r.ports === "0") {
    if (r.protocol !== "icmp") out.portRange = "all";
  } else out.portRange = r.ports;
  const e = (side === "source" ? r.sources : r.destinations) ?? {};
  const map: [string, string][] = [
    ["tags", "Tags"],
    ["droplet_ids", "DropletIds"],
    ["addresses", "Addresses"],
    ["load_balancer_uids", "LoadBalancerUids"],
    ["kubernetes_ids", "KubernetesIds"],
  ];
  for (const [api, pulumi] of map) if (e[api] !== undefined) out[`${side}${pulumi}`] = e[api];
  return out;
}

/**
 * digitalocean.Firewall — terraform-provider-digitalocean digitalocean/firewall/resource_firewall.go:
 * Create (62-83): POST /v2/firewalls; then Read (85-123): GET /v2/firewalls/{id}.
 */
export const firewall: ProviderResource = {
  type: "digitalocean:index/firewall:Firewall",
  async create(api: ApiClient, name: string, inputs: Inputs): Promise<Created> {
    const { body } = await api.call<{ firewall: ApiFirewall }>(
      "POST",
      "/v2/firewalls",
      firewallRequest(name, inputs),
    );
    const id = body.firewall.id;
    const { body: read } = await api.call<{ firewall: ApiFirewall }>("GET", `/v2/firewalls/${id}`);
    const f = read.firewall;
    return {
      id,
      outputs: {
        ...inputs,
        status: f.status,
        createdAt: f.created_at,
        pendingChanges: (f.pending_changes ?? []).map((c) => ({
          dropletId: c.droplet_id,
          removing: c.removing,
          status: c.status,
        })),
        name: f.name,
        dropletIds: f.droplet_ids ?? undefined,
        inboundRules: (f.inbound_rules ?? []).map((r) => flattenRule(r, "source")),
        outboundRules: (f.outbound_rules ?? []).map((r) => flattenRule(r, "destination")),
        tags: f.tags ?? [],
      },
    };
  },
};
