import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import {
  accountLimitProblems,
  type PreviousMember,
  regionChangeProblems,
  resolveAdminKeys,
} from "./preflightRules";
import { ConfigError, type FleetConfig } from "./validate";

/** What the checks found that the components need. */
export interface Preflight {
  /** The OpenSSH public keys `sshKeyFingerprints` names, for human login. */
  readonly adminPublicKeys: readonly string[];
}

/**
 * The checks that need the cloud or the stack's history, run before any resource is
 * registered: a region change (refused: a new member), the account's reserved-IP and
 * droplet limits, and the human SSH keys (looked up so that a typo fails here, not as a
 * half-built member). Throws `pulumi.RunError` (printed without a stack trace).
 */
export async function preflight(fleet: FleetConfig): Promise<Preflight> {
  const [previous, account, keys] = await Promise.all([
    previousMembers(),
    digitalocean.getAccount(),
    fleet.sshKeyFingerprints.length > 0
      ? digitalocean.getSshKeys({}).then((r) => r.sshKeys)
      : Promise.resolve([]),
  ]);
  const limits = accountLimitProblems(fleet.members.length, account);
  const admin = resolveAdminKeys(fleet.sshKeyFingerprints, keys);
  const problems = [
    ...regionChangeProblems(fleet.members, previous),
    ...limits.problems,
    ...admin.problems,
  ];
  if (problems.length > 0) throw new pulumi.RunError(new ConfigError(problems).message);
  for (const w of limits.warnings) pulumi.log.warn(w);
  return { adminPublicKeys: admin.publicKeys };
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
