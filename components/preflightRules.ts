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

/** A region as `digitalocean.getRegions` returns it (GET /v2/regions). */
interface CatalogRegion {
  readonly slug: string;
  /** Whether new droplets can be created there. */
  readonly available: boolean;
  /** The size slugs offered there. */
  readonly sizes: readonly string[];
}

/** A droplet size as `digitalocean.getSizes` returns it (GET /v2/sizes). */
interface CatalogSize {
  readonly slug: string;
  readonly available: boolean;
  readonly regions: readonly string[];
}

/** An image as `digitalocean.getImages` returns it (GET /v2/images). */
interface CatalogImage {
  readonly slug: string;
  readonly regions: readonly string[];
}

export interface Catalog {
  readonly regions: readonly CatalogRegion[];
  readonly sizes: readonly CatalogSize[];
  readonly images: readonly CatalogImage[];
}

const listed = (slugs: readonly string[]): string =>
  slugs.length === 0 ? "none" : [...slugs].sort().join(", ");

/**
 * Regions, sizes and images DigitalOcean does not offer, checked against its own catalog so
 * that a typo or a retired slug stops `pulumi preview` instead of failing the droplet's
 * create (a 422) half-way through an update. A size or image slug the program accepts
 * (components/validate.ts checks the form) may still be missing, unavailable, or not offered
 * in the member's region.
 */
export function catalogProblems(members: readonly MemberConfig[], catalog: Catalog): string[] {
  const problems: string[] = [];
  const open = catalog.regions.filter((r) => r.available).map((r) => r.slug);
  members.forEach((m, i) => {
    const at = `members[${i}]`;
    const region = catalog.regions.find((r) => r.slug === m.region);
    if (region === undefined) {
      problems.push(
        `${at}.region: DigitalOcean has no region ${show(m.region)}; its catalog (GET /v2/regions) takes new droplets in ${listed(open)} (got ${show(m.region)})`,
      );
    } else if (!region.available) {
      problems.push(
        `${at}.region: DigitalOcean's region ${show(m.region)} takes no new droplets (available: false in GET /v2/regions); pick one of ${listed(open)} (got ${show(m.region)})`,
      );
    }
    const usable = region?.available === true ? region : undefined;
    const size = catalog.sizes.find((s) => s.slug === m.size);
    if (size === undefined) {
      problems.push(
        `${at}.size: DigitalOcean has no droplet size ${show(m.size)} (GET /v2/sizes; \`doctl compute size list\` shows them) (got ${show(m.size)})`,
      );
    } else if (!size.available) {
      problems.push(
        `${at}.size: DigitalOcean no longer offers size ${show(m.size)} for new droplets (available: false in GET /v2/sizes) (got ${show(m.size)})`,
      );
    } else if (usable !== undefined && !size.regions.includes(m.region)) {
      problems.push(
        `${at}.size: size ${show(m.size)} is not offered in ${show(m.region)}; DigitalOcean offers it in ${listed(size.regions)} (got ${show(m.size)})`,
      );
    }
    const image = catalog.images.find((img) => img.slug === m.image);
    if (image === undefined) {
      problems.push(
        `${at}.image: DigitalOcean offers no image ${show(m.image)} (none with this slug in GET /v2/images) (got ${show(m.image)})`,
      );
    } else if (usable !== undefined && !image.regions.includes(m.region)) {
      problems.push(
        `${at}.image: image ${show(m.image)} is not available in ${show(m.region)}; DigitalOcean has it in ${listed(image.regions)} (got ${show(m.image)})`,
      );
    }
  });
  return problems;
}

/** Where the provider's token comes from, as far as the program can tell. */
export type TokenSource = "config" | "environment" | "none";

/**
 * One line for a DigitalOcean API call that failed before any resource (the preflight's data
 * sources), naming what to fix, instead of the unhandled gRPC error the engine would print
 * with its stack. `detail` is the provider's error text; godo formats API errors as
 * "<METHOD> <URL>: <status> (request "<id>") <message>" (godo.go, ErrorResponse.Error), and
 * the provider retries connection errors before giving up (go-retryablehttp).
 */
export function apiFailureProblem(detail: string, token: TokenSource): string {
  // The engine wraps the provider's error ("invocation of … returned an error: invoking …:
  // 1 error occurred:" then "* <the provider's error>" lines): quote the provider's own line.
  const lines = detail
    .replace(/^\d+ [A-Z_]+: /, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const own = lines
    .filter((l) => l.startsWith("* "))
    .pop()
    ?.slice(2);
  const text = (own ?? lines[0] ?? "").slice(0, 300);
  const set = 'pulumi config set --secret digitalocean:token "dop_v1_…"';
  if (/: 401\b|Unable to authenticate you/i.test(detail)) {
    return token === "none"
      ? `digitalocean:token: not set, and DigitalOcean refuses the API without one (401) — create a token with read and write scope in the control panel (API → Tokens) and run ${set}`
      : `digitalocean:token: DigitalOcean does not accept the ${token === "config" ? "stack's token" : "token from DIGITALOCEAN_TOKEN/DIGITALOCEAN_ACCESS_TOKEN"} (401: revoked, expired or mistyped) — create a new one with read and write scope and run ${set} (${text})`;
  }
  if (/: 403\b|not authorized|do not have access/i.test(detail)) {
    return `digitalocean:token: DigitalOcean refuses this token the request (403: a read-only or narrowly scoped token) — it needs read and write scope; run ${set} with one that has them (${text})`;
  }
  if (/: 429\b|rate limit/i.test(detail)) {
    return `DigitalOcean API: rate limit reached (429) for this token — wait a minute and run pulumi up again (${text})`;
  }
  if (/: 5\d\d\b/.test(detail)) {
    return `DigitalOcean API: server error, nothing was changed — check https://status.digitalocean.com and run pulumi up again (${text})`;
  }
  if (
    /dial tcp|no such host|connection refused|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|i\/o timeout|network is unreachable|TLS handshake timeout|giving up after \d+ attempt/i.test(
      detail,
    )
  ) {
    return `DigitalOcean API unreachable from this machine — check its network, DNS and proxy (or digitalocean:apiEndpoint, if set); nothing was changed (${text})`;
  }
  return `DigitalOcean API: the call failed before any resource was created, nothing was changed — check digitalocean:token and the network (${text})`;
}
