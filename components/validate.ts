import * as ipaddr from "ipaddr.js";
import { z } from "zod";
import { checkUpstream, MAX_UPSTREAMS, MIN_UPSTREAMS } from "../ntp/upstreamRules";
import { DEFAULTS } from "./defaults";

export interface ParseResult {
  readonly config: FleetConfig;
  /** Accepted but risky settings, e.g. SSH open to the world. */
  readonly warnings: readonly string[];
}

/** Thrown with every problem found, each naming the setting, the rule and the value. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `invalid ntp-pool configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "ConfigError";
  }
}

/**
 * Images whose first boot the user-data is written for: cloud-init that runs `packages:`
 * before `runcmd` (the install script relies on it), NTPsec 1.2 packaged as `ntpsec` with
 * its unit `ntpsec.service`, apt, and the `time-daemon` conflict the install script resolves
 * (docs/decisions.md#daemon-and-image). Debian 12 is what the lab boots; Ubuntu 24.04 ships the
 * same NTPsec 1.2.2 and cloud-init ≥ 22.4, with systemd-timesyncd preinstalled, which the
 * install script purges first. Anything else (Debian 11's ntpsec 1.2.0 without
 * `/etc/default/ntpsec` IGNORE_DHCP, Rocky/Fedora without an `ntpsec` package, custom images
 * without an anchor IP) would boot into a member that never serves.
 */
const SUPPORTED_IMAGES: readonly string[] = ["debian-12-x64", "ubuntu-24-04-x64"];

const MIN_VERIFY_TIMEOUT_SECONDS = 60;
const MAX_VERIFY_TIMEOUT_SECONDS = 3600;

// A DNS label: DigitalOcean turns the droplet name into the guest's hostname, and the
// name also prefixes tags and firewall names, whose character sets are narrower still.
const MEMBER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// Region slugs are three letters and a digit (nyc1, ams3, sfo3, blr1, ...):
// docs.digitalocean.com/platform/regional-availability/
const REGION_SLUG = /^[a-z]{3}[0-9]$/;
const SLUG = /^[a-z0-9][a-z0-9.-]{0,63}$/;
// DigitalOcean tag names: letters, numbers, colons, dashes and underscores, up to 255.
const TAG = /^[A-Za-z0-9:_-]{1,255}$/;
// An MD5 fingerprint as DigitalOcean shows it, or a numeric key id.
const SSH_KEY_REF = /^([0-9a-f]{2}(:[0-9a-f]{2}){15}|[0-9]{1,12})$/;

const stringList = z.array(z.string());

/**
 * The settings of the `ntp-pool` config namespace, declared once: their names
 * ({@link SETTING_NAMES}), their types ({@link FleetConfig}) and their defaults (from
 * components/defaults.ts, applied here and nowhere else in parsing) all derive from this
 * shape. Anything else in the namespace is a typo. `Pulumi.yaml` declares the same names and
 * defaults for the CLI; test/unit/product/validate.test.ts keeps the two equal.
 */
const memberShape = z.strictObject({
  /** Droplet name and prefix of every resource of the member (a DNS label). */
  name: z.string(),
  /** DigitalOcean region slug, e.g. `ams3`. */
  region: z.string(),
  /** Droplet size slug; the fleet's `size` when unset. */
  size: z.string().optional(),
  /** Droplet image slug; the fleet's `image` when unset. */
  image: z.string().optional(),
  /** Whether the member also serves on a reserved IPv6 address; the fleet's when unset. */
  ipv6: z.boolean().optional(),
  /** The member's 4–7 upstream NTP servers; the fleet's `upstreams` when unset. */
  upstreams: stringList.optional(),
});
const fleetShape = z.strictObject({
  members: z.array(memberShape),
  /** Droplet size slug for members that do not set their own. */
  size: z.string().default(DEFAULTS.size),
  /** Droplet image slug for members that do not set their own. */
  image: z.string().default(DEFAULTS.image),
  /** Also serve on a reserved IPv6 address (members may override). */
  ipv6: z.boolean().default(DEFAULTS.ipv6),
  /** Fleet-wide upstreams (members may override); no default: the user must choose them. */
  upstreams: stringList.optional(),
  /** Who may reach TCP 22 (CIDRs); must include the machine running `pulumi up`. */
  sshSourceCidrs: stringList,
  /** Existing DigitalOcean SSH keys (fingerprints or ids) for human login. */
  sshKeyFingerprints: stringList.default(() => [...DEFAULTS.sshKeyFingerprints]),
  /** Extra tags on every droplet. */
  tags: stringList.default(() => [...DEFAULTS.tags]),
  /** DigitalOcean project to create for the fleet's resources; none when undefined. */
  projectName: z.string().optional(),
  /** Protect the reserved IPs from deletion. */
  protectReservedIp: z.boolean().default(DEFAULTS.protectReservedIp),
  /** Seconds the post-deploy verification may take. */
  verifyTimeoutSeconds: z.number().default(DEFAULTS.verifyTimeoutSeconds),
  /** Fail, instead of warn and skip, when the deployer cannot reach IPv6. */
  requireIpv6OutsideCheck: z.boolean().default(DEFAULTS.requireIpv6OutsideCheck),
});

/** The names of the `ntp-pool` settings, in declaration order. */
export const SETTING_NAMES = Object.keys(fleetShape.shape) as readonly SettingName[];
export type SettingName = keyof typeof fleetShape.shape;

/** Arrays made read-only, one level down (the config is shared, never changed). */
type Frozen<T> = {
  readonly [K in keyof T]: T[K] extends readonly (infer U)[] ? readonly U[] : T[K];
};
type Settings = z.output<typeof fleetShape>;
/** Settings a member inherits from the fleet unless it sets its own. */
type Inherited = "size" | "image" | "ipv6" | "upstreams";

/** One pool member, with every default and fleet-wide value applied. */
export type MemberConfig = Frozen<
  Pick<z.output<typeof memberShape>, "name" | "region"> &
    Pick<Settings, Exclude<Inherited, "upstreams">> & { upstreams: string[] }
>;

/** The validated fleet: the settings with their defaults, members resolved. */
export type FleetConfig = Frozen<
  Omit<Settings, "members" | Inherited> & { members: readonly MemberConfig[] }
>;

/**
 * Validates raw settings (as read from the stack's config) and applies the defaults.
 * Throws a {@link ConfigError} listing every problem; never returns a partial fleet.
 */
export function parseFleetConfig(raw: Readonly<Record<string, unknown>>): ParseResult {
  const shaped = fleetShape.safeParse(raw, { reportInput: true });
  if (!shaped.success) {
    throw new ConfigError(shaped.error.issues.flatMap(describeIssue));
  }
  const input = shaped.data;
  const problems: string[] = [];
  const warnings: string[] = [];
  // The engine hands over Pulumi.yaml's declared defaults (components/defaults.ts) as if the
  // stack had set them, so the "none" defaults mean unset, whoever wrote them.
  const fleetUpstreams =
    input.upstreams === undefined || input.upstreams.length === 0 ? undefined : input.upstreams;
  const projectName =
    input.projectName === undefined || input.projectName === DEFAULTS.projectName
      ? undefined
      : input.projectName;

  if (input.members.length === 0) {
    problems.push("members: at least one member is required (got [])");
  }
  const seenNames = new Map<string, number>();
  const members = input.members.map((m, i): MemberConfig => {
    const at = `members[${i}]`;
    if (!MEMBER_NAME.test(m.name)) {
      problems.push(
        `${at}.name: must be a DNS label — lowercase letters, digits and inner hyphens, 1 to 63 characters — as DigitalOcean makes it the droplet's hostname (got ${show(m.name)})`,
      );
    }
    const first = seenNames.get(m.name);
    if (first !== undefined) {
      problems.push(
        `${at}.name: member names must be unique; ${show(m.name)} is already members[${first}].name`,
      );
    } else {
      seenNames.set(m.name, i);
    }
    if (!REGION_SLUG.test(m.region)) {
      problems.push(
        `${at}.region: must be a DigitalOcean region slug, three letters and a digit such as "ams3" (got ${show(m.region)})`,
      );
    }
    const size = m.size ?? input.size;
    if (!SLUG.test(size)) {
      problems.push(
        `${m.size === undefined ? "size" : `${at}.size`}: must be a DigitalOcean size slug such as "s-1vcpu-1gb" (got ${show(size)})`,
      );
    }
    const image = m.image ?? input.image;
    if (!SUPPORTED_IMAGES.includes(image)) {
      problems.push(
        `${m.image === undefined ? "image" : `${at}.image`}: must be one of ${SUPPORTED_IMAGES.join(", ")} — the images whose first boot the user-data is written for (NTPsec 1.2 packaged as ntpsec, cloud-init running packages before runcmd) (got ${show(image)})`,
      );
    }
    const ipv6 = m.ipv6 ?? input.ipv6;
    const upstreamsAt = m.upstreams === undefined ? "upstreams" : `${at}.upstreams`;
    const upstreams = (m.upstreams ?? fleetUpstreams ?? []).map((u) => u.trim().toLowerCase());
    if (m.upstreams === undefined && fleetUpstreams === undefined) {
      problems.push(
        `${at}.upstreams: no upstreams — set the fleet-wide "upstreams" or this member's own list of ${MIN_UPSTREAMS} to ${MAX_UPSTREAMS} servers`,
      );
    } else {
      problems.push(...checkUpstreams(upstreamsAt, upstreams, ipv6, at));
    }
    return { name: m.name, region: m.region, size, image, ipv6, upstreams };
  });
  // A fleet-wide list nobody uses is still checked: it is what the next member inherits.
  if (fleetUpstreams !== undefined && input.members.every((m) => m.upstreams !== undefined)) {
    problems.push(
      ...checkUpstreams(
        "upstreams",
        fleetUpstreams.map((u) => u.trim().toLowerCase()),
        true,
        "upstreams",
      ),
    );
  }

  if (input.sshSourceCidrs.length === 0) {
    problems.push(
      "sshSourceCidrs: at least one CIDR is required — it must include the machine running `pulumi up`, whose verification logs in over SSH (got [])",
    );
  }
  input.sshSourceCidrs.forEach((cidr, i) => {
    const problem = checkCidr(cidr);
    if (problem !== undefined) {
      problems.push(`sshSourceCidrs[${i}]: ${problem} (got ${show(cidr)})`);
    } else if (/\/0$/.test(cidr)) {
      warnings.push(
        `sshSourceCidrs[${i}]: ${cidr} opens SSH (TCP 22) to the whole internet; keys-only login is enforced, but list your own addresses instead`,
      );
    }
  });
  const { sshKeyFingerprints, tags, verifyTimeoutSeconds } = input;
  sshKeyFingerprints.forEach((fp, i) => {
    if (!SSH_KEY_REF.test(fp)) {
      problems.push(
        `sshKeyFingerprints[${i}]: must be a DigitalOcean SSH key MD5 fingerprint ("aa:bb:...", 16 pairs) or numeric key id (got ${show(fp)})`,
      );
    }
  });
  tags.forEach((tag, i) => {
    if (!TAG.test(tag)) {
      problems.push(
        `tags[${i}]: must be a DigitalOcean tag — letters, digits, ":", "-" and "_", 1 to 255 characters (got ${show(tag)})`,
      );
    }
  });
  if (projectName !== undefined) {
    // DigitalOcean: "The human-readable name for the project. Maximum length 175."
    if (projectName.trim() === "" || projectName.length > 175 || hasControlCharacter(projectName)) {
      problems.push(
        `projectName: must be 1 to 175 printable characters, or "" for no project (got ${show(projectName)})`,
      );
    }
  }
  if (
    !Number.isInteger(verifyTimeoutSeconds) ||
    verifyTimeoutSeconds < MIN_VERIFY_TIMEOUT_SECONDS ||
    verifyTimeoutSeconds > MAX_VERIFY_TIMEOUT_SECONDS
  ) {
    problems.push(
      `verifyTimeoutSeconds: must be a whole number of seconds from ${MIN_VERIFY_TIMEOUT_SECONDS} to ${MAX_VERIFY_TIMEOUT_SECONDS} — a first boot with apt takes minutes (got ${show(verifyTimeoutSeconds)})`,
    );
  }

  if (problems.length > 0) {
    // A bad fleet-wide value is found once per member that inherits it; report it once.
    throw new ConfigError([...new Set(problems)]);
  }
  return {
    config: {
      members,
      sshSourceCidrs: input.sshSourceCidrs,
      sshKeyFingerprints,
      tags,
      projectName,
      protectReservedIp: input.protectReservedIp,
      verifyTimeoutSeconds,
      requireIpv6OutsideCheck: input.requireIpv6OutsideCheck,
    },
    warnings,
  };
}

/** Problems with one list of upstreams; `setting` is where the list came from. */
function checkUpstreams(
  setting: string,
  upstreams: readonly string[],
  ipv6: boolean,
  member: string,
): string[] {
  const problems: string[] = [];
  if (upstreams.length < MIN_UPSTREAMS || upstreams.length > MAX_UPSTREAMS) {
    problems.push(
      `${setting}: a pool member needs ${MIN_UPSTREAMS} to ${MAX_UPSTREAMS} upstreams (ntppool.org/join/configuration) — got ${upstreams.length}`,
    );
  }
  const seen = new Set<string>();
  upstreams.forEach((u, i) => {
    const at = `${setting}[${i}]`;
    if (seen.has(u)) {
      problems.push(`${at}: duplicate upstream ${show(u)}`);
    }
    seen.add(u);
    const problem = checkUpstream(u);
    if (problem !== undefined) {
      problems.push(`${at}: ${problem} (got ${show(u)})`);
    } else if (!ipv6 && ipaddr.IPv6.isValid(u)) {
      problems.push(
        `${at}: an IPv6 upstream needs IPv6 on the droplet, but ${member === setting ? "a member using it" : member} has ipv6 false (got ${show(u)})`,
      );
    }
  });
  return problems;
}

/** Why a CIDR is unacceptable, or undefined. */
export function checkCidr(cidr: string): string | undefined {
  if (!cidr.includes("/") || !ipaddr.isValidCIDR(cidr)) {
    return 'must be a CIDR such as "203.0.113.7/32" or "2001:db8::/48"';
  }
  const [addr, bits] = ipaddr.parseCIDR(cidr);
  const network =
    addr.kind() === "ipv4"
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  if (network.toString() !== addr.toString()) {
    return `has host bits set; the network is ${network.toString()}/${bits}`;
  }
  return undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const at = formatPath(issue.path);
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) {
        return [`${at}: required setting is missing`];
      }
      return [`${at}: must be ${article(issue.expected)} (got ${show(issue.input)})`];
    case "unrecognized_keys": {
      const inMember = issue.path.length > 0;
      const known = inMember ? Object.keys(memberShape.shape) : SETTING_NAMES;
      return issue.keys.map(
        (k) =>
          `${inMember ? `${at}.` : ""}${k}: unknown setting; known ones are ${known.join(", ")}`,
      );
    }
    default:
      return [`${at}: ${issue.message}`];
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(root)";
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
    .join("");
}

function article(expected: string): string {
  const names: Record<string, string> = {
    string: "a string",
    number: "a number",
    boolean: "true or false",
    array: "a list",
    object: "a mapping",
  };
  return names[expected] ?? expected;
}

function hasControlCharacter(s: string): boolean {
  return [...s].some((c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || code === 0x7f;
  });
}

/** The value as it would appear in the stack file, cut short so a message stays one line. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
