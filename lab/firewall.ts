import ipaddr from "ipaddr.js";
import { isAllPorts, parsePortRange } from "../ntp/portRange";
import type { FirewallRuleSpec, FirewallSpec } from "./do/realiser";

/**
 * Translation of DigitalOcean Cloud Firewall rules (the `digitalocean.Firewall` resource's
 * inputs) into nftables. Pure: no I/O. The lab loads the result into its edge namespace, the
 * router between the droplets and the rest of the lab, so the firewall has its own connection
 * tracking separate from the guest's (as DigitalOcean's firewall lives outside the droplet).
 *
 * DigitalOcean semantics reproduced (docs.digitalocean.com/products/networking/firewalls/):
 * a droplet covered by at least one firewall (by tag or droplet id) is default-deny in both
 * directions; every rule of every covering firewall opens traffic; it is stateful (replies to
 * allowed traffic pass); a droplet covered by no firewall is open.
 */

/** One element of Firewall `inboundRules` as the resource receives it. */
export interface DoInboundRule {
  readonly protocol: string;
  readonly portRange?: string;
  readonly sourceAddresses?: readonly string[];
  readonly sourceDropletIds?: readonly number[];
  readonly sourceTags?: readonly string[];
  readonly sourceLoadBalancerUids?: readonly string[];
  readonly sourceKubernetesIds?: readonly string[];
}

/** One element of Firewall `outboundRules`. */
export interface DoOutboundRule {
  readonly protocol: string;
  readonly portRange?: string;
  readonly destinationAddresses?: readonly string[];
  readonly destinationDropletIds?: readonly number[];
  readonly destinationTags?: readonly string[];
  readonly destinationLoadBalancerUids?: readonly string[];
  readonly destinationKubernetesIds?: readonly string[];
}

export interface LabFirewall {
  readonly name: string;
  readonly inboundRules: readonly DoInboundRule[];
  readonly outboundRules: readonly DoOutboundRule[];
  readonly tags: readonly string[];
  readonly dropletIds: readonly (number | string)[];
}

/** A droplet as seen from the edge: the edge-side interface that leads to it. */
export interface LabPort {
  readonly ifname: string;
  readonly dropletId: string;
  readonly tags: readonly string[];
}

export const EDGE_FIREWALL_TABLE = "ntplab_fw";

/**
 * The nftables port match for a rule's port range (read by ntp/portRange.ts): "123" → 123;
 * "8000-9000" → "8000-9000"; every port ("all", "0", "1-65535", "" or missing) → null, no
 * port match at all. Throws naming `field` when the range is not one.
 */
export function nftPorts(field: string, value: string | undefined): string | number | null {
  const r = parsePortRange(value);
  if (r === undefined) {
    throw new Error(
      `${field}: portRange must be "all", a port or "lo-hi" within 1-65535; got "${(value ?? "").trim()}"`,
    );
  }
  if (isAllPorts(r)) return null;
  return r.from === r.to ? r.from : `${r.from}-${r.to}`;
}

/** Splits addresses/CIDRs by family, normalised ("1.2.3.4" → "1.2.3.4/32"). */
export function splitAddresses(
  field: string,
  addrs: readonly string[],
): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of addrs) {
    let net: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      net = a.includes("/") ? ipaddr.parseCIDR(a) : [ipaddr.parse(a), a.includes(":") ? 128 : 32];
    } catch {
      throw new Error(`${field}: "${a}" is not an IP address or CIDR`);
    }
    const [ip, bits] = net;
    const text = `${ip.toString()}/${bits}`;
    (ip.kind() === "ipv4" ? v4 : v6).push(text);
  }
  return { v4, v6 };
}

function unsupported(field: string, v: readonly unknown[] | undefined): void {
  if (v !== undefined && v.length > 0) {
    throw new Error(
      `${field}: not emulated by the lab (only address-based rules are); got ${JSON.stringify(v)}`,
    );
  }
}

const set = (xs: readonly string[]): string =>
  xs.length === 1 ? (xs[0] as string) : `{ ${xs.join(", ")} }`;

/** nft rule lines (without chain) for one DigitalOcean rule. */
export function translateRule(
  direction: "inbound" | "outbound",
  index: number,
  rule: DoInboundRule | DoOutboundRule,
): string[] {
  const field = `${direction}Rules[${index}]`;
  const isIn = direction === "inbound";
  const r = rule as DoInboundRule & DoOutboundRule;
  if (isIn) {
    unsupported(`${field}.sourceDropletIds`, r.sourceDropletIds);
    unsupported(`${field}.sourceTags`, r.sourceTags);
    unsupported(`${field}.sourceLoadBalancerUids`, r.sourceLoadBalancerUids);
    unsupported(`${field}.sourceKubernetesIds`, r.sourceKubernetesIds);
  } else {
    unsupported(`${field}.destinationDropletIds`, r.destinationDropletIds);
    unsupported(`${field}.destinationTags`, r.destinationTags);
    unsupported(`${field}.destinationLoadBalancerUids`, r.destinationLoadBalancerUids);
    unsupported(`${field}.destinationKubernetesIds`, r.destinationKubernetesIds);
  }
  const addrField = isIn ? `${field}.sourceAddresses` : `${field}.destinationAddresses`;
  const { v4, v6 } = splitAddresses(
    addrField,
    (isIn ? r.sourceAddresses : r.destinationAddresses) ?? [],
  );
  const dir = isIn ? "saddr" : "daddr";
  const proto = r.protocol.toLowerCase();
  const comment = `comment "${field} ${proto}${r.portRange ? ` ${r.portRange}` : ""}"`;
  const lines: string[] = [];
  if (proto === "icmp") {
    if (r.portRange !== undefined && r.portRange !== "") {
      throw new Error(`${field}.portRange: icmp rules take no port range; got "${r.portRange}"`);
    }
    if (v4.length) lines.push(`ip ${dir} ${set(v4)} meta l4proto icmp counter accept ${comment}`);
    if (v6.length)
      lines.push(`ip6 ${dir} ${set(v6)} meta l4proto ipv6-icmp counter accept ${comment}`);
    return lines;
  }
  if (proto !== "tcp" && proto !== "udp") {
    throw new Error(`${field}.protocol: must be tcp, udp or icmp; got "${r.protocol}"`);
  }
  const ports = nftPorts(`${field}.portRange`, r.portRange);
  const l4 = ports === null ? `meta l4proto ${proto}` : `${proto} dport ${ports}`;
  if (v4.length) lines.push(`ip ${dir} ${set(v4)} ${l4} counter accept ${comment}`);
  if (v6.length) lines.push(`ip6 ${dir} ${set(v6)} ${l4} counter accept ${comment}`);
  return lines;
}

/** Whether `fw` applies to the droplet behind `port` (by tag or by droplet id). */
export function covers(fw: LabFirewall, port: LabPort): boolean {
  return (
    fw.tags.some((t) => port.tags.includes(t)) ||
    fw.dropletIds.some((id) => String(id) === port.dropletId)
  );
}

/**
 * A firewall as the API holds it (lab/do/realiser.ts FirewallSpec) in the lab's (the Pulumi
 * resource's) terms. "all", "0" or no ports mean every port for tcp/udp; icmp has none
 * (docs/digitalocean-api.md#firewalls; the provider maps "0" back the same way, firewalls.go:250-259).
 */
export function labFirewall(fw: FirewallSpec): LabFirewall {
  const port = (r: FirewallRuleSpec): string | undefined =>
    r.protocol === "icmp"
      ? undefined
      : r.ports === undefined || r.ports === "0" || r.ports === ""
        ? "all"
        : r.ports;
  return {
    name: fw.name,
    tags: [...fw.tags],
    dropletIds: [...fw.dropletIds],
    inboundRules: fw.inboundRules.map((r) => ({
      protocol: r.protocol,
      portRange: port(r),
      sourceAddresses: r.addresses,
      sourceTags: r.tags,
      sourceDropletIds: r.dropletIds,
      sourceLoadBalancerUids: r.loadBalancerUids,
      sourceKubernetesIds: r.kubernetesIds,
    })),
    outboundRules: fw.outboundRules.map((r) => ({
      protocol: r.protocol,
      portRange: port(r),
      destinationAddresses: r.addresses,
      destinationTags: r.tags,
      destinationDropletIds: r.dropletIds,
      destinationLoadBalancerUids: r.loadBalancerUids,
      destinationKubernetesIds: r.kubernetesIds,
    })),
  };
}
