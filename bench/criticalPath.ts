/**
 * Part 4, on paper: the boot-to-verified sequence of a member on a real droplet. No Pulumi
 * CLI and no DigitalOcean account are available here, so every step carries its source:
 * "measured here" (this bench, the lab, docs/lab-mechanisms.md on this machine) or "estimate" (with
 * the reasoning). Pure data + the one measured figure the bench plugs in.
 */

export interface PathStep {
  readonly step: string;
  /** Seconds, low–high. */
  readonly low: number;
  readonly high: number;
  readonly source: string;
  /** What the user-data / program does about this step. */
  readonly keptShort: string;
}

/**
 * The sequence, in order; everything is serial on the critical path except where noted.
 * `firstSync` is the bench's measured median (seconds) of NTPsec with our ntp.conf.
 */
export function criticalPath(
  firstSync: number | null,
  lab: { precheckAfterSync: number | null; postcheck: number | null } = {
    precheckAfterSync: null,
    postcheck: null,
  },
): PathStep[] {
  const sync = firstSync ?? 9;
  const inLab = (v: number | null, what: string) =>
    v === null
      ? "not measured in this run"
      : `measured here: ${what} ${v.toFixed(1)} s median (part 1b)`;
  return [
    {
      step: "API: droplet create → status active (Pulumi waits for it)",
      low: 30,
      high: 60,
      source: "estimate: typical for DigitalOcean droplets (not measured: no account here)",
      keptShort:
        "Tag, SSH key, reserved IPs and firewall are created in parallel with it (no dependency on the droplet).",
    },
    {
      step: "firewall attach (by tag)",
      low: 1,
      high: 5,
      source: "estimate: one API call; runs while the guest boots, so off the critical path",
      keptShort:
        "Firewall attaches by tag (no per-droplet dependency); it must exist before the pre-check, which goes through it.",
    },
    {
      step: "kernel + systemd until cloud-init's local stage",
      low: 3,
      high: 10,
      source: "estimate: stock Debian 12 cloud image",
      keptShort: "Stock image, no custom kernel or reboot in user-data.",
    },
    {
      step: "cloud-init init-local, init (metadata, write_files, SSH keys), modules:config",
      low: 2,
      high: 6,
      source:
        "measured here: all four stages without package work 4.5 s (debootstrap root + NoCloud, docs/lab-mechanisms.md#cloud-init)",
      keptShort:
        "write_files puts ntp.conf, /etc/default/ntpsec and the unit drop-ins in place BEFORE any package is installed, so ntpd's first start already uses the final config (no restart cycle).",
    },
    {
      step: "package_update: apt-get update (Debian mirror via DigitalOcean)",
      low: 5,
      high: 20,
      source:
        "estimate; on this machine apt-get update + install of 46 packages took 30.6 s (docs/lab-mechanisms.md#host-packages)",
      keptShort:
        "Needed for a current tzdata (leap file). No package_upgrade: a full upgrade would add minutes; unattended-upgrades does it later.",
    },
    {
      step: "packages: tzdata, unattended-upgrades, nftables",
      low: 5,
      high: 20,
      source: "estimate: three small packages, some already in the image",
      keptShort:
        "Only three packages; ntpsec itself is installed by the script after timesyncd is gone (no apt conflict failure + retry).",
    },
    {
      step: "runcmd ntppool-install: purge systemd-timesyncd, apt-get install ntpsec ntpsec-ntpdate, enable + restart units",
      low: 8,
      high: 25,
      source:
        "estimate: ~5 packages incl. python3-ntp; apt runs non-interactively with --force-confold (no conffile prompt)",
      keptShort: "One apt transaction; keeps the written config (confold); restarts ntpd once.",
    },
    {
      step: "ntpd start → synchronised (leap 00, stratum 2, system peer), 4 upstreams with iburst",
      low: Math.floor(sync),
      high: Math.ceil(sync + 3),
      source: `measured here: median ${sync.toFixed(1)} s (part 1a); on the internet RTTs add milliseconds, iburst's 2 s spacing dominates`,
      keptShort:
        "iburst on every server; 4 upstreams so minsane 3 is met at once; no driftfile needed for the first sync (docs/lab-mechanisms.md#time-to-sync).",
    },
    {
      step: "pre-check on the droplet's own address (before any reserved IP moves): SSH reach, on-droplet check (cloud-init status --wait, ntpq every 2 s until synchronised), outside check polling every 2 s until synchronised, then 3 samples 2 s apart",
      low: 5,
      high: 10,
      source: `design (components/PoolServer.ts phase 1, verify/outsideCheck.ts); ${inLab(lab.precheckAfterSync, "passed after the first sync in")}`,
      keptShort:
        "Both checks start as soon as SSH answers and wait for the sync themselves; IPv4, IPv6, the reference upstream and the mode-6 probe are asked concurrently.",
    },
    {
      step: "reserved IPv4 assignment, then reserved IPv6 assignment",
      low: 2,
      high: 10,
      source:
        "estimate: one API action each, serial (the IPv6 one does not wait for the droplet's pending action, reservedipv6/resource_reserved_ipv6_assignment.go); the lab's emulated API takes 0.1 s",
      keptShort:
        "The price of never pointing the pool's address at a booting droplet: the assignment waits for the pre-check.",
    },
    {
      step: "post-check on the reserved addresses: SSH reach, on-droplet check (already synchronised), outside check (3 samples 2 s apart)",
      low: 5,
      high: 8,
      source: `design: the pool monitor's pattern, 3 samples 2 s apart, 3 s timeout (verify/outsideCheck.ts); ${inLab(lab.postcheck, "assigned → passed in")}`,
      keptShort: "ntpd is already synchronised, so only the sampling itself is left.",
    },
  ];
}

/** Sum of the serial steps (the firewall step overlaps the boot). */
export function pathTotal(steps: readonly PathStep[]): { low: number; high: number } {
  const serial = steps.filter((s) => !s.source.includes("off the critical path"));
  return {
    low: serial.reduce((a, s) => a + s.low, 0),
    high: serial.reduce((a, s) => a + s.high, 0),
  };
}
