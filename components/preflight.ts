import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import {
  accountLimitProblems,
  apiFailureProblem,
  catalogProblems,
  type PreviousMember,
  regionChangeProblems,
  resolveAdminKeys,
  type TokenSource,
} from "./preflightRules";
import { ConfigError, type FleetConfig } from "./validate";

/** What the checks found that the components need. */
export interface Preflight {
  /** The OpenSSH public keys `sshKeyFingerprints` names, for human login. */
  readonly adminPublicKeys: readonly string[];
}

/**
 * The checks that need the cloud or the stack's history, run before any resource is
 * registered: a region change (refused: a new member), regions, sizes and images that
 * DigitalOcean does not offer (its own catalog), the account's reserved-IP and droplet
 * limits, and the human SSH keys (looked up so that a typo fails here, not as a half-built
 * member). Throws `pulumi.RunError` (printed without a stack trace), also when the API
 * itself cannot be used (no network, a missing or refused token).
 */
export async function preflight(fleet: FleetConfig): Promise<Preflight> {
  const images = [...new Set(fleet.members.map((m) => m.image))];
  const [previous, cloud] = await Promise.all([previousMembers(), readCloud(fleet, images)]);
  const limits = accountLimitProblems(fleet.members.length, cloud.account);
  const admin = resolveAdminKeys(fleet.sshKeyFingerprints, cloud.keys);
  const problems = [
    ...regionChangeProblems(fleet.members, previous),
    ...catalogProblems(fleet.members, cloud.catalog),
    ...limits.problems,
    ...admin.problems,
  ];
  if (problems.length > 0)
    throw new pulumi.RunError(new ConfigError([...new Set(problems)]).message);
  for (const w of limits.warnings) pulumi.log.warn(w);
  return { adminPublicKeys: admin.publicKeys };
}

/** The DigitalOcean data sources the checks need; an API failure becomes one line. */
async function readCloud(fleet: FleetConfig, images: readonly string[]) {
  try {
    const [account, keys, regions, sizes, found] = await Promise.all([
      digitalocean.getAccount(),
      fleet.sshKeyFingerprints.length > 0
        ? digitalocean.getSshKeys({}).then((r) => r.sshKeys)
        : Promise.resolve([]),
      digitalocean.getRegions({}).then((r) => r.regions),
      digitalocean.getSizes({}).then((r) => r.sizes),
      digitalocean
        .getImages({ filters: [{ key: "slug", values: [...images] }] })
        .then((r) => r.images),
    ]);
    return { account, keys, catalog: { regions, sizes, images: found } };
  } catch (err) {
    // The engine would print an invoke's gRPC error as an unhandled exception with its stack.
    const detail = err instanceof Error ? err.message : String(err);
    throw new pulumi.RunError(apiFailureProblem(detail, tokenSource()));
  }
}

/** Where the DigitalOcean provider takes its token from (config first, then environment). */
function tokenSource(): TokenSource {
  if (Object.keys(pulumi.runtime.allConfig()).includes("digitalocean:token")) return "config";
  return process.env.DIGITALOCEAN_TOKEN || process.env.DIGITALOCEAN_ACCESS_TOKEN
    ? "environment"
    : "none";
}

/**
 * The `members` output of this stack's last deployment, read through a reference to the
 * stack itself (undefined on the first deployment: no outputs yet).
 */
async function previousMembers(): Promise<Record<string, PreviousMember> | undefined> {
  const self = new pulumi.StackReference(
    `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
  );
  const details = await self.getOutputDetails("members");
  const value = details.value ?? details.secretValue;
  return value !== null && typeof value === "object"
    ? (value as Record<string, PreviousMember>)
    : undefined;
}
