/**
 * Every default of the project, in one place; components/validate.ts applies them to the
 * settings it declares. `Pulumi.yaml` declares the same values for the CLI;
 * test/unit/product/validate.test.ts ("declares the config namespace's settings ...") fails if the
 * two ever disagree.
 */
export const DEFAULTS = {
  /**
   * Debian 12: its cloud-init (22.4.2) and NTPsec (1.2.2) are the versions the lab runs,
   * so what is tested here is what boots on the droplet.
   */
  image: "debian-12-x64",
  /**
   * 1 vCPU / 1 GiB. The 512 MiB size runs ntpd, but apt and unattended-upgrades on it can
   * be OOM-killed mid-upgrade on a box that must run untouched for years.
   */
  size: "s-1vcpu-1gb",
  /** IPv4 and IPv6 are separate pool servers; offering both is what the pool asks for. */
  ipv6: true,
  /**
   * The reserved IP is the member's identity in the pool for years (ntppool.org/join asks
   * for a static address; the pool knows a server only by it).
   */
  protectReservedIp: true,
  /** Seconds the post-deploy check waits for cloud-init and the first sync. */
  verifyTimeoutSeconds: 600,
  /**
   * GitHub's hosted runners and many home networks have no IPv6: the IPv6 outside check is
   * then skipped with a warning (the on-droplet check still proves the address is
   * configured). Set it to make a deployer without IPv6 an error.
   */
  requireIpv6OutsideCheck: false,
  sshKeyFingerprints: [] as readonly string[],
  tags: [] as readonly string[],
  /**
   * None: then every member lists its own. Declared with this default in `Pulumi.yaml`
   * because the engine requires every declared key that has no default, and hands the
   * default to the program as if the stack had set it (pulumi/pulumi
   * sdk/go/common/workspace/config.go, mergeConfig): an empty list therefore means unset.
   */
  upstreams: [] as readonly string[],
  /** None (no DigitalOcean project); declared as `""` in `Pulumi.yaml` for the same reason. */
  projectName: "",
} as const;
