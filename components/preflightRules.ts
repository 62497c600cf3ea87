/**
 * Rules checked before any resource is registered that need more than the stack file: what
 * the stack deployed last time and what the DigitalOcean account allows. Pure functions;
 * components/preflight.ts reads the inputs and turns problems into one error.
 */
import type { MemberConfig } from "./validate";
import { show } from "./validate";

/** What a previous deployment recorded per member (its `members` stack output). */
export interface PreviousMember {
  readonly region?: unknown;
}

/**
 * A member's reserved IPs are regional and their region is ForceNew in the provider
 * (reservedip/resource_reserved_ip.go `region`, reservedipv6/resource_reserved_ipv6.go
 * `region_slug`); they are also protected. A region change can therefore only fail on a
 * protected resource, or release the address the pool knows. It is a new member instead.
 */
export function regionChangeProblems(
  members: readonly MemberConfig[],
  previous: Readonly<Record<string, PreviousMember>> | undefined,
): string[] {
  if (previous === undefined) return [];
  const problems: string[] = [];
  members.forEach((m, i) => {
    const was = previous[m.name]?.region;
    if (typeof was !== "string" || was === m.region) return;
    problems.push(
      `members[${i}].region: member ${show(m.name)} was deployed in ${show(was)} and its reserved IPs cannot move region, so a region change is a new member (got ${show(m.region)}). Keep ${show(m.name)} in ${show(was)} and, to move it: ` +
        `1. add a member with a new name in ${show(m.region)} and run pulumi up; ` +
        "2. add its addresses at manage.ntppool.org; " +
        `3. delete ${show(m.name)}'s servers there and wait for their traffic to fade (days); ` +
        `4. pulumi state unprotect its reserved IPs (pulumi stack --show-urns | grep ${m.name}-ip), remove it from members and run pulumi up`,
    );
  });
  return problems;
}

/** The account limits the program depends on (GET /v2/account). */
export interface AccountLimits {
  readonly dropletLimit?: number;
  /** DigitalOcean still calls the reserved-IP quota `floating_ip_limit` (godo account.go). */
  readonly floatingIpLimit?: number;
}

/**
 * Every member holds one reserved IPv4 (3 per account by default: DigitalOcean docs,
 * networking/reserved-ips/details/limits), and a replacement briefly runs the new droplet
 * beside the old one, so a change that replaces every droplet at once (new upstreams, new
 * image) needs twice the fleet's droplets.
 */
export function accountLimitProblems(
  memberCount: number,
  account: AccountLimits,
): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const ips = account.floatingIpLimit;
  if (typeof ips === "number" && ips > 0 && memberCount > ips) {
    problems.push(
      `members: ${memberCount} members need ${memberCount} reserved IPv4 addresses, and this DigitalOcean account allows ${ips} (its reserved IP limit) — ask DigitalOcean support to raise it, or deploy at most ${ips} members`,
    );
  }
  const droplets = account.dropletLimit;
  if (typeof droplets === "number" && droplets > 0) {
    if (memberCount > droplets) {
      problems.push(
        `members: ${memberCount} members need ${memberCount} droplets, and this DigitalOcean account allows ${droplets} (its droplet limit) — ask DigitalOcean support to raise it`,
      );
    } else if (2 * memberCount > droplets) {
      warnings.push(
        `members: a change that replaces every droplet at once (upstreams, image, size) runs ${2 * memberCount} droplets for a few minutes, and this account allows ${droplets}: such an update stops at the limit with the old droplets still serving — change members a few at a time, or ask DigitalOcean to raise the limit`,
      );
    }
  }
  return { problems, warnings };
}

/** One SSH key of the account as `digitalocean.getSshKeys` returns it. */
export interface AccountSshKey {
  readonly id: number | string;
  readonly fingerprint: string;
  readonly publicKey: string;
  readonly name?: string;
}

/** The public keys `sshKeyFingerprints` names (fingerprints or ids), or one problem each. */
export function resolveAdminKeys(
  refs: readonly string[],
  keys: readonly AccountSshKey[],
): { publicKeys: string[]; problems: string[] } {
  const publicKeys: string[] = [];
  const problems: string[] = [];
  refs.forEach((ref, i) => {
    const key = keys.find((k) => k.fingerprint === ref || String(k.id) === ref);
    if (key === undefined) {
      problems.push(
        `sshKeyFingerprints[${i}]: no SSH key with this fingerprint or id in the DigitalOcean account (${keys.length} keys there; add it with doctl compute ssh-key import) (got ${show(ref)})`,
      );
    } else if (!publicKeys.includes(key.publicKey.trim())) {
      publicKeys.push(key.publicKey.trim());
    }
  });
  return { publicKeys, problems };
}
