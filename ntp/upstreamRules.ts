/**
 * The pool's rules for a member's upstreams, for the stack's settings (components/validate.ts)
 * and the policy pack (policy/rules.ts) alike. Pure: no I/O, no Pulumi.
 */
import * as ipaddr from "ipaddr.js";

/** RFC 8633 §3.2 / ntppool.org "join": 4 to 7 upstreams; fewer cannot outvote a falseticker. */
export const MIN_UPSTREAMS = 4;
export const MAX_UPSTREAMS = 7;
/**
 * Public NTP services that smear leap seconds. RFC 8633 §3.7.1: a smearing source MUST NOT
 * feed a public server. Google: developers.google.com/time/smear; Meta:
 * engineering.fb.com/2020/03/18/production-engineering/ntp-service; Amazon:
 * docs.aws.amazon.com/AWSEC2/latest/UserGuide/set-time.html ("leap smearing").
 */
const SMEARING_NAMES: readonly (readonly [RegExp, string])[] = [
  [/(^|\.)time\.google\.com$/, "Google"],
  [/^time[1-4]\.google\.com$/, "Google"],
  [/^time\.android\.com$/, "Google"],
  [/(^|\.)time\.facebook\.com$/, "Meta"],
  [/^time[1-5]\.facebook\.com$/, "Meta"],
  [/^time\.aws\.com$/, "Amazon"],
];
/** Google's anycast addresses (time.google.com) and Amazon Time Sync's link-local address. */
const SMEARING_ADDRESSES: Record<string, string> = {
  "216.239.35.0": "Google",
  "216.239.35.4": "Google",
  "216.239.35.8": "Google",
  "216.239.35.12": "Google",
  "169.254.169.123": "Amazon",
  "fd00:ec2::123": "Amazon",
};

// One DNS label of a hostname (RFC 1123 §2.1): letters, digits, inner hyphens.
const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A pool.ntp.org name (any case, with or without the root's dot): the pool itself. */
export function isPoolNtpName(host: string): boolean {
  return /(^|\.)pool\.ntp\.org\.?$/i.test(host);
}

/** Why one upstream is unacceptable, or undefined when it is fine. */
export function checkUpstream(upstream: string): string | undefined {
  if (
    ipaddr.isValid(upstream) &&
    (ipaddr.IPv4.isValidFourPartDecimal(upstream) || ipaddr.IPv6.isValid(upstream))
  ) {
    const smearing =
      SMEARING_ADDRESSES[ipaddr.parse(upstream).toNormalizedString()] ??
      SMEARING_ADDRESSES[upstream];
    if (smearing !== undefined) {
      return smearingRule(smearing);
    }
    const range = ipaddr.parse(upstream).range();
    if (range === "loopback" || range === "unspecified") {
      // 127.127.t.u is the classic syntax for reference clocks such as LOCAL.
      return "must not be a loopback address: the pool forbids the LOCAL clock and a member cannot be its own upstream";
    }
    if (range === "multicast" || range === "broadcast" || range === "linkLocal") {
      return `must be a unicast server address, not ${range}`;
    }
    return undefined;
  }
  if (upstream.length > 253 || !upstream.includes(".")) {
    return "must be a fully qualified hostname or an IP address";
  }
  if (!upstream.split(".").every((label) => HOST_LABEL.test(label))) {
    return "must be a hostname (letters, digits, hyphens and dots) or an IP address";
  }
  if (isPoolNtpName(upstream)) {
    return "must not be a pool.ntp.org name: a pool member may not take time from the pool (ntppool.org/join/configuration)";
  }
  const smearing = SMEARING_NAMES.find(([re]) => re.test(upstream));
  if (smearing !== undefined) {
    return smearingRule(smearing[1]);
  }
  return undefined;
}

function smearingRule(vendor: string): string {
  return `${vendor}'s public NTP smears leap seconds, which RFC 8633 §3.7.1 forbids for public servers`;
}
