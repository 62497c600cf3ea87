import { local, remote } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { renderLocalVerifyCommand, renderRemoteVerifyCommand } from "../verify/commands";
import { OUTSIDE_SCRIPT_PATH, readVerifyScript, resolveTsxCli } from "../verify/paths";
import { combineSummary, type VerificationSummary } from "../verify/summary";
import { DEFAULTS } from "./defaults";

export type { VerificationSummary } from "../verify/summary";

export interface VerificationArgs {
  /** Member name, for messages. */
  readonly memberName: string;
  /** Reserved IPv4: the SSH host of the on-droplet check and the address checked from outside. */
  readonly ipv4: pulumi.Input<string>;
  /** Reserved IPv6, checked from outside when the member has one. Default: none. */
  readonly ipv6?: pulumi.Input<string | undefined>;
  /** The deploy key's private half (OpenSSH PEM). Always kept secret. */
  readonly privateKey: pulumi.Input<string>;
  /** The member's upstreams (host names or IPs), as written into ntp.conf. */
  readonly upstreams: readonly string[];
  /** The droplet's id: a new droplet behind the same reserved IP re-runs both checks. */
  readonly dropletId: pulumi.Input<string>;
  /**
   * Bound on waiting for cloud-init plus ntpd's first sync on the droplet, seconds.
   * Default: `DEFAULTS.verifyTimeoutSeconds` (600).
   */
  readonly timeoutSeconds?: number;
  /** SSH user of the on-droplet check. Default: "root" (DigitalOcean's images). */
  readonly sshUser?: string;
}

/**
 * SSH dial attempts before the on-droplet check gives up. The reserved IP is assigned as
 * soon as the droplet is "active", about a minute before sshd listens; the provider retries
 * with a growing back-off, so 30 attempts cover several minutes of boot.
 */
const SSH_DIAL_ERROR_LIMIT = 30;
/** Seconds per SSH dial attempt (the provider's default). */
const SSH_PER_DIAL_TIMEOUT = 15;

/**
 * Post-deploy verification of one member (issue 3, README "Verification"): `pulumi up`
 * succeeds only if the member serves good time.
 *
 * - `${name}-on-droplet` (remote.Command): cloud-init/scripts/ntppool-verify.sh, sent on
 *   stdin over SSH, waits for cloud-init and for ntpd to synchronise, checks the leap file.
 * - `${name}-outside` (local.Command, after it): verify/outside.ts from the deployer's
 *   machine — NTP answers on the reserved addresses, offset against an upstream, mode 6
 *   refused.
 *
 * Both re-run when the droplet id changes. Pass the IP assignment(s) and the firewall in
 * `opts.dependsOn`: they are applied to both commands, since a component's dependsOn does
 * not delay its children.
 */
export class Verification extends pulumi.ComponentResource {
  /** Both checks combined; public data only (see verify/summary.ts). */
  public readonly summary: pulumi.Output<VerificationSummary>;
  public readonly onDroplet: remote.Command;
  public readonly outside: local.Command;

  constructor(name: string, args: VerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ntppool:index:Verification", name, {}, opts);
    const timeoutSeconds = args.timeoutSeconds ?? DEFAULTS.verifyTimeoutSeconds;
    const upstreams = [...args.upstreams];
    const dependsOn = opts?.dependsOn;

    this.onDroplet = new remote.Command(
      `${name}-on-droplet`,
      {
        connection: {
          host: args.ipv4,
          user: args.sshUser ?? "root",
          privateKey: pulumi.secret(args.privateKey),
          dialErrorLimit: SSH_DIAL_ERROR_LIMIT,
          perDialTimeout: SSH_PER_DIAL_TIMEOUT,
        },
        create: renderRemoteVerifyCommand({ timeoutSeconds, upstreams }),
        // The script travels on stdin, so editing it re-runs the check without touching
        // user-data (a user-data change replaces the droplet).
        stdin: readVerifyScript(),
        triggers: [args.dropletId],
        // Stock sshd refuses environment variables (no AcceptEnv), so none are sent: the
        // previous output would otherwise go as PULUMI_COMMAND_STDOUT.
        addPreviousOutputInEnv: false,
      },
      { parent: this, ...(dependsOn !== undefined ? { dependsOn } : {}) },
    );

    const node = process.execPath;
    const tsxCli = resolveTsxCli();
    this.outside = new local.Command(
      `${name}-outside`,
      {
        create: pulumi.all([args.ipv4, args.ipv6]).apply(([ipv4, ipv6]) =>
          renderLocalVerifyCommand({
            node,
            tsxCli,
            outsideScript: OUTSIDE_SCRIPT_PATH,
            ipv4,
            ...(ipv6 !== undefined ? { ipv6 } : {}),
            upstreams,
          }),
        ),
        triggers: [args.dropletId],
        addPreviousOutputInEnv: false,
      },
      {
        parent: this,
        // Judged from outside only once the droplet reports itself synchronised.
        dependsOn: [this.onDroplet, ...toArray(dependsOn)],
      },
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
