import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
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
  /** Existing DigitalOcean SSH key fingerprints or ids for human login. Default: none. */
  readonly sshKeyFingerprints?: readonly string[];
  /** Extra droplet tags. Default: none. */
  readonly tags?: readonly string[];
  /**
   * Protect the reserved IPs against deletion, so `pulumi destroy` or a refactor cannot
   * release the address the pool knows. Default: `DEFAULTS.protectReservedIp` (true).
   */
  readonly protectReservedIp?: boolean;
  /**
   * Seconds the post-deploy verification waits for cloud-init and the first sync.
   * Default: `DEFAULTS.verifyTimeoutSeconds` (600).
   */
  readonly verifyTimeoutSeconds?: number;
}

/**
 * One NTP Pool member: a droplet running NTPsec behind a reserved IPv4 (and optional
 * IPv6), a cloud firewall attached by tag, and a deploy key generated in the stack.
 *
 * The reserved IPs depend only on the region, never on the droplet: replacing the droplet
 * (new user-data, image or size) replaces the assignment and keeps the address.
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
  /** The deploy key's private half (OpenSSH), always a secret. */
  public readonly deployPrivateKey: pulumi.Output<string>;
  public readonly registration: pulumi.Output<Registration>;
  /** Both post-deploy checks combined (components/Verification.ts); public data only. */
  public readonly verification: pulumi.Output<VerificationSummary>;
  /** URNs for a DigitalOcean project. */
  public readonly projectResources: pulumi.Output<string>[];

  constructor(name: string, args: PoolServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ntppool:index:PoolServer", name, {}, opts);
    const { member } = args;
    const protect = args.protectReservedIp ?? DEFAULTS.protectReservedIp;
    const child = { parent: this };

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
    const deploySshKey = new digitalocean.SshKey(
      `${name}-deploy-sshkey`,
      { name: `ntppool-${member.name}-deploy`, publicKey: deployKey.publicKeyOpenssh },
      child,
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
        // Lets DigitalOcean shut ntpd down cleanly (drift file saved) on power-off/resize.
        gracefulShutdown: true,
        sshKeys: [deploySshKey.id, ...(args.sshKeyFingerprints ?? DEFAULTS.sshKeyFingerprints)],
        tags: [tag.name, ...(args.tags ?? DEFAULTS.tags)],
        userData,
      },
      child,
    );
    this.dropletId = this.droplet.id;
    const dropletNumber = this.droplet.id.apply((id) => Number.parseInt(id, 10));

    this.ipAssignment = new digitalocean.ReservedIpAssignment(
      `${name}-ip-assignment`,
      { ipAddress: this.reservedIp.ipAddress, dropletId: dropletNumber },
      // Pulumi's default create-before-delete moves the address to a new droplet before the
      // old assignment goes; the provider only unassigns if the IP is still on the old droplet
      // (the provider docs' create_before_destroy example for assignments).
      child,
    );
    if (reservedIpv6 !== undefined) {
      this.ipv6Assignment = new digitalocean.ReservedIpv6Assignment(
        `${name}-ipv6-assignment`,
        { ip: reservedIpv6.ip, dropletId: dropletNumber },
        child,
      );
    }

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

    this.ipv4 = this.reservedIp.ipAddress;
    this.ipv6 = pulumi.output(reservedIpv6?.ip);

    // Judged on the reserved addresses, through the firewall, as the pool will see it.
    const verify = new Verification(
      `${name}-verify`,
      {
        memberName: member.name,
        ipv4: this.ipv4,
        ipv6: this.ipv6,
        privateKey: this.deployPrivateKey,
        upstreams: member.upstreams,
        dropletId: this.dropletId,
        timeoutSeconds: args.verifyTimeoutSeconds ?? DEFAULTS.verifyTimeoutSeconds,
      },
      {
        parent: this,
        dependsOn: [
          this.ipAssignment,
          this.firewall,
          ...(this.ipv6Assignment !== undefined ? [this.ipv6Assignment] : []),
        ],
      },
    );
    this.verification = verify.summary;
    this.registration = pulumi
      .all([this.ipv4, this.ipv6])
      .apply(([v4, v6]) => buildRegistration(v4, v6));
    this.projectResources = [this.droplet.dropletUrn, this.reservedIp.reservedIpUrn];

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
