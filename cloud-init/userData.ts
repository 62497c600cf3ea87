import { readFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { NTPSEC_PATHS, renderNtpConf, renderNtpsecDefaults } from "./ntpConf";

/** DigitalOcean: "User data is limited to 64 KiB" (droplets/how-to/provide-user-data). */
export const USER_DATA_LIMIT_BYTES = 64 * 1024;

export interface UserDataInput {
  /** The member's validated upstreams. */
  readonly upstreams: readonly string[];
  /** The reserved IPv6 address to configure in the guest; none when IPv6 is off. */
  readonly reservedIpv6?: string;
}

const INSTALL_SCRIPT_PATH = "/usr/local/sbin/ntppool-install";

/** The first-boot install script, shipped as a file so shellcheck can read it. */
export const INSTALL_SCRIPT = readFileSync(
  path.join(__dirname, "scripts", "ntppool-install.sh"),
  "utf8",
);

/**
 * Keys-only SSH. DigitalOcean's images log in as root with the droplet's keys, so root
 * stays allowed, but never with a password.
 */
export const SSHD_DROP_IN = [
  "# Written by ntp-pool: a public server for years must not accept passwords.",
  "PasswordAuthentication no",
  "KbdInteractiveAuthentication no",
  "PermitRootLogin prohibit-password",
  "",
].join("\n");

/**
 * Debian's unit has Restart=no, because a restarted `ntpd -g` accepts any time its
 * servers give; `tos minsane 3` in ntp.conf answers that. A silent member loses 5 points
 * per monitor check, so ntpd comes back on its own.
 */
export const NTPSEC_RESTART_DROP_IN = [
  "[Unit]",
  "StartLimitIntervalSec=0",
  "",
  "[Service]",
  "Restart=always",
  "RestartSec=5s",
  "",
].join("\n");

/**
 * At pool rates (10–40k queries/s in underserved zones) a conntrack table overflows and
 * then drops everything. Only matters once something loads a stateful ruleset (ufw,
 * docker), so the exemption is in place before that can happen.
 */
export const NOTRACK_RULESET = [
  "table inet ntppool_notrack",
  "delete table inet ntppool_notrack",
  "table inet ntppool_notrack {",
  "  chain prerouting {",
  "    type filter hook prerouting priority raw; policy accept;",
  "    udp dport 123 notrack",
  "  }",
  "  chain output {",
  "    type filter hook output priority raw; policy accept;",
  "    udp sport 123 notrack",
  "  }",
  "}",
  "",
].join("\n");

export const NOTRACK_UNIT = [
  "[Unit]",
  "Description=Exempt NTP (UDP 123) from connection tracking",
  "DefaultDependencies=no",
  "Before=network-pre.target",
  "Wants=network-pre.target",
  "ConditionPathExists=/usr/sbin/nft",
  "",
  "[Service]",
  "Type=oneshot",
  "RemainAfterExit=yes",
  "ExecStart=/usr/sbin/nft -f /etc/ntppool/notrack.nft",
  "ExecStop=/usr/sbin/nft delete table inet ntppool_notrack",
  "",
  "[Install]",
  "WantedBy=sysinit.target",
  "",
].join("\n");

/**
 * DigitalOcean routes a reserved IPv6 to the droplet but does not configure it in the
 * guest; it must be added at every boot, before ntpd opens its sockets.
 */
export function renderReservedIpv6Unit(address: string): string {
  return [
    "[Unit]",
    `Description=Reserved IPv6 ${address} of this NTP Pool member`,
    "Before=ntpsec.service",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=/sbin/ip -6 address replace ${address}/128 dev lo`,
    `ExecStop=/sbin/ip -6 address del ${address}/128 dev lo`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** Where the UDP receive-buffer setting is written (applied at every boot by systemd-sysctl). */
export const UDP_BUFFER_SYSCTL_PATH = "/etc/sysctl.d/60-ntppool-udp.conf";

/**
 * ntpd (NTPsec 1.2.2) never sets SO_RCVBUF, so its sockets get net.core.rmem_default
 * (208 KiB), a few milliseconds of requests at pool rates: any scheduling stall drops
 * requests while the CPU is mostly idle. Measured (BENCHMARKS.md, `npm run bench`, one core):
 * on a busy host the default buffer lost > 1% from ~30k queries/s while 1 MiB and 4 MiB held
 * to the generator's limit; on a quiet host 1 MiB gave the highest loss-free rate (77k/s vs
 * 69k/s default), and 4 MiB a lower one (50k/s: a deeper queue of colder packets). 1 MiB.
 */
const UDP_BUFFER_SYSCTL = [
  "# Written by ntp-pool: room for bursts of NTP requests in ntpd's sockets (BENCHMARKS.md).",
  "net.core.rmem_default = 1048576",
  "",
].join("\n");

/**
 * Daily package lists and unattended upgrades, with Debian's default origins: the point
 * release and bookworm-security, not bookworm-updates (the unattended-upgrades package's
 * 50unattended-upgrades; docs/timekeeping.md#the-leap-second-file-for-years says what that
 * means for tzdata).
 */
const AUTO_UPGRADES = [
  'APT::Periodic::Update-Package-Lists "1";',
  'APT::Periodic::Unattended-Upgrade "1";',
  "",
].join("\n");

/** Renders the droplet's `#cloud-config`; throws if it would exceed DigitalOcean's limit. */
export function renderUserData(input: UserDataInput): string {
  const files: { path: string; content: string; permissions: string; owner?: string }[] = [
    { path: NTPSEC_PATHS.conf, content: renderNtpConf(input.upstreams), permissions: "0644" },
    { path: NTPSEC_PATHS.defaults, content: renderNtpsecDefaults(), permissions: "0644" },
    {
      path: "/etc/systemd/system/ntpsec.service.d/10-ntppool-restart.conf",
      content: NTPSEC_RESTART_DROP_IN,
      permissions: "0644",
    },
    { path: "/etc/ntppool/notrack.nft", content: NOTRACK_RULESET, permissions: "0644" },
    {
      path: "/etc/systemd/system/ntppool-notrack.service",
      content: NOTRACK_UNIT,
      permissions: "0644",
    },
    {
      path: "/etc/ssh/sshd_config.d/50-ntppool.conf",
      content: SSHD_DROP_IN,
      permissions: "0644",
    },
    { path: "/etc/apt/apt.conf.d/20auto-upgrades", content: AUTO_UPGRADES, permissions: "0644" },
    { path: UDP_BUFFER_SYSCTL_PATH, content: UDP_BUFFER_SYSCTL, permissions: "0644" },
    { path: INSTALL_SCRIPT_PATH, content: INSTALL_SCRIPT, permissions: "0755" },
  ];
  if (input.reservedIpv6 !== undefined) {
    files.push({
      path: "/etc/systemd/system/ntppool-reserved-ipv6.service",
      content: renderReservedIpv6Unit(input.reservedIpv6),
      permissions: "0644",
    });
  }
  const cloudConfig = {
    // Keys only, from the first boot on (cloud-init's cc_set_passwords).
    ssh_pwauth: false,
    package_update: true,
    // tzdata brings a current leap-seconds.list: an image's tzdata may be older than the
    // suites' (each file is valid ~6 months past its IERS bulletin), and RFC 8633 §3.7 wants
    // a valid leap file on a server.
    packages: ["tzdata", "unattended-upgrades", "nftables"],
    write_files: files,
    runcmd: [[INSTALL_SCRIPT_PATH]],
  };
  const text = `#cloud-config\n${stringify(cloudConfig, { lineWidth: 0 })}`;
  const size = Buffer.byteLength(text, "utf8");
  if (size > USER_DATA_LIMIT_BYTES) {
    throw new Error(
      `user-data: rendered cloud-config is ${size} bytes, over DigitalOcean's ${USER_DATA_LIMIT_BYTES}-byte limit`,
    );
  }
  return text;
}
