/**
 * The member's cloud firewall rules, as a pure function of the settings.
 *
 * DigitalOcean cloud firewalls are stateful and deny by default in both directions
 * (docs.digitalocean.com/products/networking/firewalls/): with no outbound rule nothing
 * leaves — no apt, no DNS, no upstream NTP — so every outbound need is listed here.
 */

/** Matches DigitalOcean's `FirewallInboundRule`. */
interface InboundRule {
  readonly protocol: "tcp" | "udp" | "icmp";
  /** A port or range ("123", "1-65535"); absent for ICMP. */
  readonly portRange?: string;
  readonly sourceAddresses: readonly string[];
}

/** Matches DigitalOcean's `FirewallOutboundRule`. */
interface OutboundRule {
  readonly protocol: "tcp" | "udp" | "icmp";
  readonly portRange?: string;
  readonly destinationAddresses: readonly string[];
}

export interface FirewallRules {
  readonly inboundRules: readonly InboundRule[];
  readonly outboundRules: readonly OutboundRule[];
}

const EVERYWHERE: readonly string[] = ["0.0.0.0/0", "::/0"];

/** DigitalOcean's limit per firewall (docs: "Limits"). */
export const MAX_FIREWALL_RULES = 50;

export function buildFirewallRules(sshSourceCidrs: readonly string[]): FirewallRules {
  const inboundRules: InboundRule[] = [
    // The pool's monitors and clients come from anywhere, on both address families.
    { protocol: "udp", portRange: "123", sourceAddresses: EVERYWHERE },
    { protocol: "tcp", portRange: "22", sourceAddresses: sshSourceCidrs },
    // Path MTU discovery and the pool's traceroutes need ICMP.
    { protocol: "icmp", sourceAddresses: EVERYWHERE },
  ];
  const outboundRules: OutboundRule[] = [
    { protocol: "udp", portRange: "123", destinationAddresses: EVERYWHERE },
    { protocol: "udp", portRange: "53", destinationAddresses: EVERYWHERE },
    // DNS answers over 512 bytes (and DNSSEC) fall back to TCP.
    { protocol: "tcp", portRange: "53", destinationAddresses: EVERYWHERE },
    // apt: Debian mirrors over HTTP, security and third-party repositories over HTTPS.
    { protocol: "tcp", portRange: "80", destinationAddresses: EVERYWHERE },
    { protocol: "tcp", portRange: "443", destinationAddresses: EVERYWHERE },
    { protocol: "icmp", destinationAddresses: EVERYWHERE },
  ];
  return { inboundRules, outboundRules };
}
