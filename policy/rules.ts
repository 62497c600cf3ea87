/**
 * The pool rules as pure functions over resource properties, so they are unit-tested
 * directly (no policy engine). policy/index.ts wires them into a CrossGuard pack. Each
 * function returns the violations it found; an empty list means compliant.
 */
import { portRangeCovers } from "../ntp/portRange";
import { checkUpstream, isPoolNtpName, MAX_UPSTREAMS, MIN_UPSTREAMS } from "../ntp/upstreamRules";
import { ntpConfDirectives, ntpConfOf } from "../ntp/userData";

export const TYPES = {
  droplet: "digitalocean:index/droplet:Droplet",
  firewall: "digitalocean:index/firewall:Firewall",
  reservedIp: "digitalocean:index/reservedIp:ReservedIp",
  reservedIpAssignment: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
} as const;

const ANY_V4 = "0.0.0.0/0";
const ANY_V6 = "::/0";
const NTP_PORT = 123;
const SSH_PORT = 22;

interface Rule {
  protocol?: unknown;
  portRange?: unknown;
  sourceAddresses?: unknown;
  destinationAddresses?: unknown;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function rulesFor(value: unknown): Rule[] {
  return Array.isArray(value) ? (value as Rule[]) : [];
}

function allowsFrom(
  rules: Rule[],
  protocol: string,
  port: number,
  key: "sourceAddresses" | "destinationAddresses",
  cidr: string,
): boolean {
  return rules.some(
    (r) =>
      String(r.protocol).toLowerCase() === protocol &&
      portRangeCovers(
        r.portRange === undefined || r.portRange === null ? undefined : String(r.portRange),
        port,
      ) &&
      strings(r[key]).includes(cidr),
  );
}

/** Mandatory firewall rules: NTP in from everywhere (v4 and v6) and NTP out to upstreams. */
export function checkFirewall(props: Record<string, unknown>): string[] {
  const inbound = rulesFor(props.inboundRules);
  const outbound = rulesFor(props.outboundRules);
  const problems: string[] = [];
  for (const cidr of [ANY_V4, ANY_V6]) {
    if (!allowsFrom(inbound, "udp", NTP_PORT, "sourceAddresses", cidr)) {
      problems.push(
        `inboundRules: no rule allows udp ${NTP_PORT} from ${cidr}; pool clients and monitors come from anywhere (an unanswered monitor check costs 5 points)`,
      );
    }
  }
  const outboundNtp = [ANY_V4, ANY_V6].some((cidr) =>
    allowsFrom(outbound, "udp", NTP_PORT, "destinationAddresses", cidr),
  );
  if (!outboundNtp) {
    problems.push(
      `outboundRules: no rule allows udp ${NTP_PORT} to ${ANY_V4} or ${ANY_V6}; DigitalOcean firewalls deny outbound by default, so ntpd could not reach its upstreams`,
    );
  }
  return problems;
}

/** Advisory: SSH reachable from the whole internet. */
export function checkSshExposure(props: Record<string, unknown>): string[] {
  const inbound = rulesFor(props.inboundRules);
  return [ANY_V4, ANY_V6]
    .filter((cidr) => allowsFrom(inbound, "tcp", SSH_PORT, "sourceAddresses", cidr))
    .map(
      (cidr) =>
        `inboundRules: tcp ${SSH_PORT} is open to ${cidr}; restrict sshSourceCidrs to the addresses you deploy and administer from`,
    );
}

/** The pool's rules for the daemon's configuration (ntppool.org/join/configuration, RFC 8633). */
export function checkNtpConf(conf: string): string[] {
  const problems: string[] = [];
  const lines = ntpConfDirectives(conf);
  const servers = lines.filter((d) => d[0] === "server");
  if (servers.length < MIN_UPSTREAMS || servers.length > MAX_UPSTREAMS) {
    problems.push(
      `ntp.conf: ${servers.length} \`server\` lines; a pool member needs ${MIN_UPSTREAMS} to ${MAX_UPSTREAMS} hand-picked upstreams`,
    );
  }
  for (const d of lines.filter((x) => x[0] === "pool")) {
    problems.push(
      `ntp.conf: \`pool ${d[1] ?? ""}\` draws random upstreams; a pool member uses fixed \`server\` lines`,
    );
  }
  for (const d of lines) {
    if (!["server", "pool", "peer"].includes(d[0] ?? "")) continue;
    const host = d[1] ?? "";
    if (d.slice(2).includes("burst")) {
      problems.push(
        `ntp.conf: \`${d.join(" ")}\` uses burst, which floods the upstream (use iburst only)`,
      );
    }
    if (isPoolNtpName(host)) {
      problems.push(
        `ntp.conf: upstream ${host} is a pool.ntp.org name; a pool member must not take time from the pool`,
      );
    } else if (d[0] !== "pool") {
      const other = checkUpstream(host);
      if (other !== undefined) {
        problems.push(`ntp.conf: upstream ${host} ${other}`);
      }
    }
  }
  const defaults = lines.filter(
    (d) =>
      d[0] === "restrict" &&
      (d[1] === "default" || ((d[1] === "-4" || d[1] === "-6") && d[2] === "default")),
  );
  if (defaults.length === 0) {
    problems.push(
      "ntp.conf: no `restrict default` line; it must carry noquery (mode 6 queries make a reflection amplifier)",
    );
  }
  for (const d of defaults) {
    if (!d.includes("noquery")) {
      problems.push(
        `ntp.conf: \`${d.join(" ")}\` lacks noquery (mode 6 queries make a reflection amplifier)`,
      );
    }
  }
  return problems;
}

/** Droplet user-data must write an ntp.conf that follows the pool rules. */
export function checkDropletUserData(props: Record<string, unknown>): string[] {
  const userData = props.userData;
  if (typeof userData !== "string" || userData === "") {
    return ["userData: empty; the droplet would not be configured as a pool member"];
  }
  const conf = ntpConfOf(userData);
  if (conf === undefined) {
    return [
      "userData: no #cloud-config write_files entry for ntp.conf; cannot check the pool rules",
    ];
  }
  return checkNtpConf(conf);
}

/** The part of a stack resource the reserved-IP rule needs. */
export interface StackResource {
  type: string;
  urn: string;
  name: string;
  props: Record<string, unknown>;
  /** URNs of the resources each input property depends on. */
  propertyDependencies: Record<string, string[]>;
}

/**
 * Every droplet needs a reserved IPv4: it is the member's identity in the pool for years and
 * must survive droplet replacement (docs/decisions.md#reserved-ip). A droplet counts as covered when a
 * ReservedIpAssignment or a ReservedIp's `dropletId` depends on it, or names its id.
 */
export function checkReservedIps(resources: readonly StackResource[]): string[] {
  const droplets = resources.filter((r) => r.type === TYPES.droplet);
  const links = resources.filter(
    (r) => r.type === TYPES.reservedIpAssignment || r.type === TYPES.reservedIp,
  );
  const covered = (d: StackResource) =>
    links.some((l) => {
      if ((l.propertyDependencies.dropletId ?? []).includes(d.urn)) return true;
      const id = d.props.id;
      const target = l.props.dropletId;
      return id !== undefined && target !== undefined && String(id) === String(target);
    });
  return droplets
    .filter((d) => !covered(d))
    .map(
      (d) =>
        `droplet ${d.name}: no ReservedIp/ReservedIpAssignment points at it; the pool needs an address that survives droplet replacement`,
    );
}
