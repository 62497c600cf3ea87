import { local, remote } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { renderLocalVerifyCommand, renderRemoteVerifyCommand } from "../verify/commands";
import { readVerifyScript } from "../verify/paths";
import { combineSummary, type VerificationSummary } from "../verify/summary";
import { DEFAULTS } from "./defaults";

export type { VerificationSummary } from "../verify/summary";

export interface VerificationArgs {
  /** Member name, for messages. */
  readonly memberName: string;
  /** SSH host of the on-droplet check and the IPv4 address checked from outside. */
  readonly ipv4: pulumi.Input<string>;
  /** IPv6 address checked from outside, when the member has one. Default: none. */
  readonly ipv6?: pulumi.Input<string | undefined>;
  /**
   * The member's reserved IPv6, which the on-droplet check requires to be configured in the
   * guest (user-data adds it at every boot, before the address is assigned). Default: none.
   */
  readonly reservedIpv6?: pulumi.Input<string | undefined>;
  /** The deploy key's private half (OpenSSH PEM). Always kept secret. */
  readonly privateKey: pulumi.Input<string>;
  /** The member's upstreams (host names or IPs), as written into ntp.conf. */
  readonly upstreams: readonly string[];
  /** The droplet's id: a new droplet re-runs both checks. */
  readonly dropletId: pulumi.Input<string>;
  /** The firewall's SSH sources, named when SSH turns out to be filtered. */
  readonly sshSourceCidrs: readonly string[];
  /**
   * Bound on each check, seconds: waiting for the droplet to boot and synchronise, SSH
   * dials included. Default: `DEFAULTS.verifyTimeoutSeconds` (600).
   */
  readonly timeoutSeconds?: number;
  /**
   * Fail when the deployer has no IPv6 route instead of skipping the IPv6 outside check
   * with a warning. Default: `DEFAULTS.requireIpv6OutsideCheck` (false).
   */
  readonly requireIpv6?: boolean;
  /** SSH user of the on-droplet check. Default: "root" (DigitalOcean's images). */
  readonly sshUser?: string;
}

/**
 * Unlimited SSH dials: the wait is bounded by time instead (the command's create timeout,
 * below). A dial count is no bound at all: @pulumi/command backs off 100 ms × 1.5 up to 5 s
 * between dials, so 30 refused dials last ~111 s and 30 filtered ones ~9 min
 * (pulumi-command provider/pkg/provider/remote/connection.go, dialWithRetry: -1 = unlimited).
 */
const SSH_DIAL_UNLIMITED = -1;
/** Seconds per SSH dial attempt (the provider's default). */
const SSH_PER_DIAL_TIMEOUT = 15;
/** The port the firewall opens to sshSourceCidrs (components/firewallRules.ts). */
const SSH_PORT = 22;
/**
 * The outside check waits this much longer than the SSH check for the first sync: when
 * both fail, the SSH check's reason (upstreams unreachable, cloud-init failed), which only
 * the droplet can see, is the first error of the run.
 */
const OUTSIDE_GRACE_SECONDS = 30;

/**
 * The checks of one member on one pair of addresses (docs/verification.md); `pulumi up`
 * succeeds only if the member serves good time there. PoolServer runs it twice: on the new
 * droplet's own public addresses before any reserved IP moves to it, and on the reserved
 * addresses after the assignments.
 *
 * - `${name}-reach` (local.Command, first): verify/outside.ts --reach-only from the
 *   deployer's machine waits until the IPv4 address answers NTP at all and its SSH port
 *   opens; SSH filtered while NTP answers means the deployer is not in sshSourceCidrs, and
 *   fails at once instead of letting the SSH check dial for `timeoutSeconds`.
 * - `${name}-on-droplet` (remote.Command): cloud-init/scripts/ntppool-verify.sh, sent on
 *   stdin over SSH, waits for cloud-init and the first sync, checks the leap file and that
 *   the reserved IPv6 is configured in the guest; its failures say why (upstreams
 *   unreachable, cloud-init errors, ...), which nothing outside the droplet can see.
 * - `${name}-outside` (local.Command, beside the SSH check): verify/outside.ts waits for a
 *   synchronised answer, then samples like a pool monitor and checks stratum, the offset
 *   against an upstream and that mode 6 is refused.
 * Both re-run when the droplet id changes; both are bounded by
 * `timeoutSeconds` through `customTimeouts`, which the command provider applies as its
 * context deadline (pulumi-go-provider infer/provider.go wraps every provider in
 * middleware/cancel, which sets context.WithTimeout from the request's timeout).
 * Pass what must exist first in `opts.dependsOn` (the firewall, the assignments): it is
 * applied to both commands, since a component's dependsOn does not delay its children.
 */
export class Verification extends pulumi.ComponentResource {
  /** Both checks combined; public data only (see verify/summary.ts). */
  public readonly summary: pulumi.Output<VerificationSummary>;
  public readonly reach: local.Command;
  public readonly onDroplet: remote.Command;
  public readonly outside: local.Command;

  constructor(name: string, args: VerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ntppool:index:Verification", name, {}, opts);
    const timeoutSeconds = args.timeoutSeconds ?? DEFAULTS.verifyTimeoutSeconds;
    const upstreams = [...args.upstreams];
    const dependsOn = toArray(opts?.dependsOn);
    // A minute over the scripts' own bounds, so that their messages win the race.
    const bound = `${timeoutSeconds + OUTSIDE_GRACE_SECONDS + 60}s`;
    const customTimeouts = { create: bound, update: bound };

    const outsideCommand = (reachOnly: boolean) =>
      pulumi.all([args.ipv4, args.ipv6]).apply(([ipv4, ipv6]) =>
        renderLocalVerifyCommand({
          ipv4,
          ...(ipv6 !== undefined && !reachOnly ? { ipv6 } : {}),
          upstreams: reachOnly ? [] : upstreams,
          waitSeconds: reachOnly ? timeoutSeconds : timeoutSeconds + OUTSIDE_GRACE_SECONDS,
          ...(reachOnly
            ? { ssh: { port: SSH_PORT, sources: args.sshSourceCidrs }, reachOnly }
            : {}),
          requireIpv6: args.requireIpv6 ?? DEFAULTS.requireIpv6OutsideCheck,
        }),
      );

    this.reach = new local.Command(
      `${name}-reach`,
      { create: outsideCommand(true), triggers: [args.dropletId], addPreviousOutputInEnv: false },
      { parent: this, dependsOn, customTimeouts },
    );

    this.onDroplet = new remote.Command(
      `${name}-on-droplet`,
      {
        connection: {
          host: args.ipv4,
          user: args.sshUser ?? "root",
          privateKey: pulumi.secret(args.privateKey),
          dialErrorLimit: SSH_DIAL_UNLIMITED,
          perDialTimeout: SSH_PER_DIAL_TIMEOUT,
        },
        create: pulumi.output(args.reservedIpv6).apply((reservedIpv6) =>
          renderRemoteVerifyCommand({
            timeoutSeconds,
            upstreams,
            ...(reservedIpv6 !== undefined ? { reservedIpv6 } : {}),
          }),
        ),
        // The script travels on stdin, so editing it re-runs the check without touching
        // user-data (a user-data change replaces the droplet).
        stdin: readVerifyScript(),
        triggers: [args.dropletId],
        // Stock sshd refuses environment variables (no AcceptEnv), so none are sent: the
        // previous output would otherwise go as PULUMI_COMMAND_STDOUT.
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [this.reach, ...dependsOn], customTimeouts },
    );

    this.outside = new local.Command(
      `${name}-outside`,
      { create: outsideCommand(false), triggers: [args.dropletId], addPreviousOutputInEnv: false },
      // Beside the SSH check: it waits for the first synchronised answer itself, and a
      // failure of both reports the SSH check's reason (upstreams, cloud-init) next to it.
      { parent: this, dependsOn: [this.reach, ...dependsOn], customTimeouts },
    );

    // The stdout of a command whose connection holds a secret may come back marked secret;
    // the summary is rebuilt from whitelisted fields only (zod strips the rest), so it is
    // public and safe to show in `pulumi stack output`.
    this.summary = pulumi.unsecret(
      pulumi
        .all([this.onDroplet.stdout, this.outside.stdout])
        .apply(([onDroplet, outside]) => combineSummary(onDroplet, outside)),
    );
    this.registerOutputs({ summary: this.summary });
  }
}

function toArray<T>(
  v: pulumi.Input<pulumi.Input<T>[]> | pulumi.Input<T> | undefined,
): pulumi.Input<T>[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v as pulumi.Input<T>];
}
