import { remote } from "@pulumi/command";
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { readAdminKeysScript, renderAdminKeysCommand } from "../cloud-init/adminKeys";
import { renderUserData } from "../cloud-init/userData";
import { DEFAULTS } from "./defaults";
import { buildFirewallRules } from "./firewallRules";
import { buildRegistration, type Registration } from "./registration";
import { Verification, type VerificationSummary } from "./Verification";
import type { MemberConfig } from "./validate";

export interface PoolServerArgs {
  /** The validated member (components/validate.ts). */
  readonly member: MemberConfig;
  /** CIDRs allowed to reach TCP 22. */
  readonly sshSourceCidrs: readonly string[];
  /**
   * OpenSSH public keys installed for root for human login (resolved from
   * `sshKeyFingerprints` by components/preflight.ts). Default: none.
   */
  readonly adminPublicKeys?: readonly string[];
  /** Extra droplet tags. Default: none. */
  readonly tags?: readonly string[];
  /**
   * Protect the reserved IPs against deletion, so `pulumi destroy` or a refactor cannot
   * release the address the pool knows. Default: `DEFAULTS.protectReservedIp` (true).
   */
  readonly protectReservedIp?: boolean;
  /**
   * Seconds each verification phase waits for the droplet to boot and synchronise.
   * Default: `DEFAULTS.verifyTimeoutSeconds` (600).
   */
  readonly verifyTimeoutSeconds?: number;
  /**
   * Fail when the deployer has no IPv6 route instead of skipping the IPv6 outside check.
   * Default: `DEFAULTS.requireIpv6OutsideCheck` (false).
   */
  readonly requireIpv6OutsideCheck?: boolean;
}

/** Both verification phases of a member (docs/verification.md). */
export interface MemberVerification {
  /** On the new droplet's own public addresses, before a reserved IP moved to it. */
  readonly beforeAssignment: VerificationSummary;
  /** On the reserved addresses, after the assignments. */
  readonly afterAssignment: VerificationSummary;
}

/**
 * One NTP Pool member: a droplet running NTPsec behind a reserved IPv4 (and optional
 * IPv6), a cloud firewall attached by tag, and a deploy key generated in the stack.
 *
 * The reserved IPs depend only on the region, never on the droplet. A new droplet (new
 * user-data, image or size) is created beside the old one and verified on its own public
 * address; only then do the reserved IPs move to it, and the old droplet, which served on
 * them until that moment, is deleted last (create-before-delete, asked for explicitly
 * below). A pre-check that fails leaves the addresses on the old droplet: the pool never
 * sees a booting member.
 */
export class PoolServer extends pulumi.ComponentResource {
  public readonly name: string;
  public readonly region: string;
  public readonly upstreams: readonly string[];
  public readonly droplet: digitalocean.Droplet;
  public readonly dropletId: pulumi.Output<string>;
  public readonly reservedIp: digitalocean.ReservedIp;
  public readonly ipv4: pulumi.Output<string>;
  public readonly ipv6: pulumi.Output<string | undefined>;
  public readonly firewall: digitalocean.Firewall;
  public readonly ipAssignment: digitalocean.ReservedIpAssignment;
  public readonly ipv6Assignment?: digitalocean.ReservedIpv6Assignment;
  /** The humans' keys for root (cloud-init/scripts/ntppool-admin-keys.sh). */
  public readonly adminKeys: remote.Command;
  /** The deploy key's private half (OpenSSH), always a secret. */
  public readonly deployPrivateKey: pulumi.Output<string>;
  public readonly registration: pulumi.Output<Registration>;
  /** Both phases of the post-deploy checks; public data only. */
  public readonly verification: pulumi.Output<MemberVerification>;
  /** URNs for a DigitalOcean project. */
  public readonly projectResources: pulumi.Output<string>[];

  constructor(name: string, args: PoolServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ntppool:index:PoolServer", name, {}, opts);
    const { member } = args;
    const protect = args.protectReservedIp ?? DEFAULTS.protectReservedIp;
    const timeoutSeconds = args.verifyTimeoutSeconds ?? DEFAULTS.verifyTimeoutSeconds;
    const requireIpv6 = args.requireIpv6OutsideCheck ?? DEFAULTS.requireIpv6OutsideCheck;
    const child = { parent: this };
    // Create-before-delete, said explicitly. The bridged DigitalOcean provider answers a
    // replacement with delete-before-replace whenever the resource's autonamed `name` is set
    // by the program (pulumi-terraform-bridge pkg/tfbridge/schema.go,
    // nameRequiresDeleteBeforeReplace; every DigitalOcean resource with a `name` is autonamed,
    // pulumi-digitalocean provider/resources.go SetAutonaming), and the engine follows the
    // provider unless the program sets `deleteBeforeReplace` itself, false included (pulumi/pulumi
    // pkg/resource/deploy/step_generator.go, "The user can override the provider's decision";
    // the Node SDK sends `deleteBeforeReplaceDefined`, runtime/resource.js). Delete-before-replace
    // on the droplet first deletes everything that a new droplet replaces — both assignments,
    // then the droplet — so the pool's address goes unserved for a whole first boot.
    const createBeforeDelete = { deleteBeforeReplace: false } as const;

    this.name = member.name;
    this.region = member.region;
    this.upstreams = member.upstreams;

    const tag = new digitalocean.Tag(`${name}-tag`, { name: `ntppool-${member.name}` }, child);

    const deployKey = new tls.PrivateKey(
      `${name}-deploy-key`,
      { algorithm: "ED25519" },
      { ...child, additionalSecretOutputs: ["privateKeyOpenssh", "privateKeyPem"] },
    );
    this.deployPrivateKey = pulumi.secret(deployKey.privateKeyOpenssh);
    // A new deploy key (a replaced tls key) replaces this one (`public_key` is ForceNew,
    // sshkey/resource_ssh_key.go) and with it every droplet (`ssh_keys` is ForceNew):
    // delete-before-replace here would delete the droplets first too. Create-before-delete
    // is safe: DigitalOcean refuses a duplicate public key, never a duplicate key name.
    const deploySshKey = new digitalocean.SshKey(
      `${name}-deploy-sshkey`,
      { name: `ntppool-${member.name}-deploy`, publicKey: deployKey.publicKeyOpenssh },
      { ...child, ...createBeforeDelete },
    );

    this.reservedIp = new digitalocean.ReservedIp(
      `${name}-ip`,
      { region: member.region },
      { ...child, protect },
    );
    const reservedIpv6 = member.ipv6
      ? new digitalocean.ReservedIpv6(
          `${name}-ipv6`,
          { regionSlug: member.region },
          { ...child, protect },
        )
      : undefined;

    // The reserved IPv6 is known before the droplet exists, so the user-data that adds it
    // in the guest is rendered from it; it never changes, so it never replaces the droplet.
    const userData = pulumi
      .output(reservedIpv6?.ip)
      .apply((v6) => renderUserData({ upstreams: member.upstreams, reservedIpv6: v6 }));

    this.droplet = new digitalocean.Droplet(
      `${name}-droplet`,
      {
        name: member.name,
        region: member.region,
        size: member.size,
        image: member.image,
        ipv6: member.ipv6,
        monitoring: true,
        // Only the deploy key: `ssh_keys` is ForceNew (droplet/resource_droplet.go), so a
        // human key here would rebuild every droplet when someone joins; adminKeys below
        // installs those on the running droplet instead. No gracefulShutdown either: the
        // provider uses it only on delete (resource_droplet.go resourceDigitalOceanDropletDelete),
        // where it delays removing a droplet that no longer has the pool's address.
        sshKeys: [deploySshKey.id],
        tags: [tag.name, ...(args.tags ?? DEFAULTS.tags)],
        userData,
      },
      {
        ...child,
        // The old droplet keeps serving on the reserved IPs until the new one is verified;
        // DigitalOcean does not require droplet names to be unique, so both can exist.
        ...createBeforeDelete,
        // `size` is not ForceNew in the provider: a change is a hard power-off, a resize
        // that grows the disk for good (`resize_disk` defaults to true) and a power-on, on
        // the droplet that holds the pool's address, with no verification after it (the
        // id stays). Replacing instead gives the same safe sequence as any other change:
        // new droplet, verified on its own address, then the addresses move.
        replaceOnChanges: ["size"],
      },
    );
    this.dropletId = this.droplet.id;
    const dropletNumber = this.droplet.id.apply((id) => Number.parseInt(id, 10));

    const rules = buildFirewallRules(args.sshSourceCidrs);
    this.firewall = new digitalocean.Firewall(
      `${name}-firewall`,
      {
        name: `ntppool-${member.name}`,
        // By tag, not droplet id: a firewall takes at most 10 droplets but 5 tags, and a
        // replaced droplet is covered from its first boot.
        tags: [tag.name],
        inboundRules: rules.inboundRules.map((r) => ({
          ...r,
          sourceAddresses: [...r.sourceAddresses],
        })),
        outboundRules: rules.outboundRules.map((r) => ({
          ...r,
          destinationAddresses: [...r.destinationAddresses],
        })),
      },
      child,
    );

    const reservedV6 = pulumi.output(reservedIpv6?.ip);
    const verifyCommon = {
      memberName: member.name,
      reservedIpv6: reservedV6,
      privateKey: this.deployPrivateKey,
      upstreams: member.upstreams,
      dropletId: this.dropletId,
      sshSourceCidrs: args.sshSourceCidrs,
      timeoutSeconds,
      requireIpv6,
    };

    // Phase 1: the new droplet on its own public addresses, through the firewall, while the
    // reserved IPs still point where they did (at the old droplet, on a replacement).
    const precheck = new Verification(
      `${name}-precheck`,
      {
        ...verifyCommon,
        ipv4: this.droplet.ipv4Address,
        ipv6: member.ipv6 ? this.droplet.ipv6Address : undefined,
      },
      { parent: this, dependsOn: [this.firewall] },
    );

    this.adminKeys = new remote.Command(
      `${name}-admin-keys`,
      {
        connection: {
          host: this.droplet.ipv4Address,
          user: "root",
          privateKey: this.deployPrivateKey,
        },
        create: renderAdminKeysCommand(args.adminPublicKeys ?? []),
        stdin: readAdminKeysScript(),
        triggers: [this.dropletId],
        addPreviousOutputInEnv: false,
      },
      // After the pre-check proved SSH reachable; before the addresses move, so that a
      // failure here also leaves them where they were.
      { parent: this, dependsOn: [precheck.onDroplet] },
    );

    this.ipAssignment = new digitalocean.ReservedIpAssignment(
      `${name}-ip-assignment`,
      { ipAddress: this.reservedIp.ipAddress, dropletId: dropletNumber },
      // Create-before-delete moves the address to a new droplet before the old assignment
      // goes; the provider only unassigns if the IP is still on the old droplet
      // (reservedip/resource_reserved_ip_assignment.go, Delete). An assignment has no `name`,
      // so the provider answers create-before-delete for it today; said explicitly all the
      // same (on both assignments), since delete-before-replace here unassigns the address.
      {
        parent: this,
        dependsOn: [precheck.onDroplet, precheck.outside, this.adminKeys],
        ...createBeforeDelete,
      },
    );
    if (reservedIpv6 !== undefined) {
      this.ipv6Assignment = new digitalocean.ReservedIpv6Assignment(
        `${name}-ipv6-assignment`,
        { ip: reservedIpv6.ip, dropletId: dropletNumber },
        // After the IPv4 one: the IPv6 assignment neither waits for the droplet's pending
        // actions nor retries (reservedipv6/resource_reserved_ipv6_assignment.go, Create), and
        // DigitalOcean allows one pending action per droplet ("Droplet already has a pending
        // event"), so run in parallel the two would fail intermittently.
        { parent: this, dependsOn: [this.ipAssignment], ...createBeforeDelete },
      );
    }

    this.ipv4 = this.reservedIp.ipAddress;
    this.ipv6 = reservedV6;

    // Phase 2: on the reserved addresses, through the firewall, as the pool will see it.
    const verify = new Verification(
      `${name}-verify`,
      { ...verifyCommon, ipv4: this.ipv4, ipv6: this.ipv6 },
      {
        parent: this,
        dependsOn: [
          this.ipAssignment,
          this.firewall,
          ...(this.ipv6Assignment !== undefined ? [this.ipv6Assignment] : []),
        ],
      },
    );
    this.verification = pulumi
      .all([precheck.summary, verify.summary])
      .apply(([beforeAssignment, afterAssignment]) => ({ beforeAssignment, afterAssignment }));
    this.registration = pulumi
      .all([this.ipv4, this.ipv6])
      .apply(([v4, v6]) => buildRegistration(v4, v6));
    // The Projects API lists reserved IPs under their old name, `do:floatingip:<ip>`
    // (DigitalOcean API reference, Projects: "Floating IPs retrieved using the Projects API
    // will retain the original name"); the provider stores what it lists, so sending the
    // ReservedIp's own `do:reservedip:` URN would be a diff on every later `pulumi up`.
    this.projectResources = [
      this.droplet.dropletUrn,
      pulumi.interpolate`do:floatingip:${this.reservedIp.ipAddress}`,
    ];

    this.registerOutputs({
      name: this.name,
      region: this.region,
      ipv4: this.ipv4,
      ipv6: this.ipv6,
      dropletId: this.dropletId,
      registration: this.registration,
      verification: this.verification,
    });
  }
}
