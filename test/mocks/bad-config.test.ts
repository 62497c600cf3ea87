import { describe, expect, it } from "vitest";
import { BASE_CONFIG, runProgram } from "../helpers/mockProgram";
import { recorded } from "../helpers/mocks";

const U = BASE_CONFIG.upstreams;
const member = (extra: Record<string, unknown>) => [{ name: "ams-1", region: "ams3", ...extra }];

/** [description, config, the exact problem line]. Each config differs from BASE_CONFIG in one way. */
const CASES: [string, Record<string, unknown>, string][] = [
  [
    "no members",
    { ...BASE_CONFIG, members: [] },
    "members: at least one member is required (got [])",
  ],
  [
    "members missing",
    { upstreams: U, sshSourceCidrs: ["198.51.100.7/32"] },
    "members: required setting is missing",
  ],
  [
    "members not a list",
    { ...BASE_CONFIG, members: "ams-1" },
    'members: must be a list (got "ams-1")',
  ],
  [
    "member without region",
    { ...BASE_CONFIG, members: [{ name: "ams-1" }] },
    "members[0].region: required setting is missing",
  ],
  [
    "member name with underscore",
    { ...BASE_CONFIG, members: [{ name: "ams_1", region: "ams3" }] },
    'members[0].name: must be a DNS label — lowercase letters, digits and inner hyphens, 1 to 63 characters — as DigitalOcean makes it the droplet\'s hostname (got "ams_1")',
  ],
  [
    "member name with shell",
    { ...BASE_CONFIG, members: [{ name: "a;reboot", region: "ams3" }] },
    'members[0].name: must be a DNS label — lowercase letters, digits and inner hyphens, 1 to 63 characters — as DigitalOcean makes it the droplet\'s hostname (got "a;reboot")',
  ],
  [
    "member name too long",
    { ...BASE_CONFIG, members: [{ name: "a".repeat(64), region: "ams3" }] },
    `members[0].name: must be a DNS label — lowercase letters, digits and inner hyphens, 1 to 63 characters — as DigitalOcean makes it the droplet's hostname (got "${"a".repeat(64)}")`,
  ],
  [
    "duplicate member names",
    {
      ...BASE_CONFIG,
      members: [
        { name: "ams-1", region: "ams3" },
        { name: "ams-1", region: "fra1" },
      ],
    },
    'members[1].name: member names must be unique; "ams-1" is already members[0].name',
  ],
  [
    "bad region",
    { ...BASE_CONFIG, members: [{ name: "ams-1", region: "Amsterdam" }] },
    'members[0].region: must be a DigitalOcean region slug, three letters and a digit such as "ams3" (got "Amsterdam")',
  ],
  [
    "unknown member key",
    { ...BASE_CONFIG, members: member({ regoin: "ams3" }) },
    "members[0].regoin: unknown setting; known ones are name, region, size, image, ipv6, upstreams",
  ],
  [
    "ipv6 as text",
    { ...BASE_CONFIG, members: member({ ipv6: "yes" }) },
    'members[0].ipv6: must be true or false (got "yes")',
  ],
  [
    "bad size",
    { ...BASE_CONFIG, members: member({ size: "Large One" }) },
    'members[0].size: must be a DigitalOcean size slug such as "s-1vcpu-1gb" (got "Large One")',
  ],
  [
    "an image the user-data is not written for",
    { ...BASE_CONFIG, image: "centos-stream-9-x64" },
    'image: must be one of debian-12-x64, ubuntu-24-04-x64 — the images whose first boot the user-data is written for (NTPsec 1.2 packaged as ntpsec, cloud-init running packages before runcmd) (got "centos-stream-9-x64")',
  ],
  [
    "bad fleet image",
    { ...BASE_CONFIG, image: "debian 12" },
    'image: must be one of debian-12-x64, ubuntu-24-04-x64 — the images whose first boot the user-data is written for (NTPsec 1.2 packaged as ntpsec, cloud-init running packages before runcmd) (got "debian 12")',
  ],
  [
    "three upstreams",
    { ...BASE_CONFIG, upstreams: U.slice(0, 3) },
    "upstreams: a pool member needs 4 to 7 upstreams (ntppool.org/join/configuration) — got 3",
  ],
  [
    "eight upstreams",
    {
      ...BASE_CONFIG,
      upstreams: [...U, "a.example.net", "b.example.net", "c.example.net", "d.example.net"],
    },
    "upstreams: a pool member needs 4 to 7 upstreams (ntppool.org/join/configuration) — got 8",
  ],
  [
    "no upstreams anywhere",
    { members: BASE_CONFIG.members, sshSourceCidrs: ["198.51.100.7/32"] },
    'members[0].upstreams: no upstreams — set the fleet-wide "upstreams" or this member\'s own list of 4 to 7 servers',
  ],
  [
    "pool upstream",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "0.pool.ntp.org"] },
    'upstreams[3]: must not be a pool.ntp.org name: a pool member may not take time from the pool (ntppool.org/join/configuration) (got "0.pool.ntp.org")',
  ],
  [
    "vendor pool upstream",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "2.debian.pool.ntp.org"] },
    'upstreams[3]: must not be a pool.ntp.org name: a pool member may not take time from the pool (ntppool.org/join/configuration) (got "2.debian.pool.ntp.org")',
  ],
  [
    "Google upstream",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "time.google.com"] },
    'upstreams[3]: Google\'s public NTP smears leap seconds, which RFC 8633 §3.7.1 forbids for public servers (got "time.google.com")',
  ],
  [
    "Google by address",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "216.239.35.4"] },
    'upstreams[3]: Google\'s public NTP smears leap seconds, which RFC 8633 §3.7.1 forbids for public servers (got "216.239.35.4")',
  ],
  [
    "Meta upstream",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "time2.facebook.com"] },
    'upstreams[3]: Meta\'s public NTP smears leap seconds, which RFC 8633 §3.7.1 forbids for public servers (got "time2.facebook.com")',
  ],
  [
    "Amazon upstream",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "time.aws.com"] },
    'upstreams[3]: Amazon\'s public NTP smears leap seconds, which RFC 8633 §3.7.1 forbids for public servers (got "time.aws.com")',
  ],
  [
    "Amazon link-local",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "169.254.169.123"] },
    'upstreams[3]: Amazon\'s public NTP smears leap seconds, which RFC 8633 §3.7.1 forbids for public servers (got "169.254.169.123")',
  ],
  [
    "LOCAL clock address",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "127.127.1.0"] },
    'upstreams[3]: must not be a loopback address: the pool forbids the LOCAL clock and a member cannot be its own upstream (got "127.127.1.0")',
  ],
  [
    "duplicate upstream",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "NTP1.time.nl"] },
    'upstreams[3]: duplicate upstream "ntp1.time.nl"',
  ],
  [
    "upstream with shell",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "a.example.net;id"] },
    'upstreams[3]: must be a hostname (letters, digits, hyphens and dots) or an IP address (got "a.example.net;id")',
  ],
  [
    "upstream with newline (YAML/conf injection)",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "a.example.net\nrestrict default"] },
    'upstreams[3]: must be a hostname (letters, digits, hyphens and dots) or an IP address (got "a.example.net\\nrestrict default")',
  ],
  [
    "single-label upstream",
    { ...BASE_CONFIG, upstreams: [...U.slice(0, 3), "ntpserver"] },
    'upstreams[3]: must be a fully qualified hostname or an IP address (got "ntpserver")',
  ],
  [
    "IPv6 upstream without IPv6",
    {
      ...BASE_CONFIG,
      members: member({ ipv6: false, upstreams: [...U.slice(0, 3), "2001:db8::123"] }),
    },
    'members[0].upstreams[3]: an IPv6 upstream needs IPv6 on the droplet, but members[0] has ipv6 false (got "2001:db8::123")',
  ],
  [
    "member upstreams too few",
    { ...BASE_CONFIG, members: member({ upstreams: ["ntp1.time.nl"] }) },
    "members[0].upstreams: a pool member needs 4 to 7 upstreams (ntppool.org/join/configuration) — got 1",
  ],
  [
    "no SSH CIDR",
    { ...BASE_CONFIG, sshSourceCidrs: [] },
    "sshSourceCidrs: at least one CIDR is required — it must include the machine running `pulumi up`, whose verification logs in over SSH (got [])",
  ],
  [
    "SSH CIDR missing",
    { members: BASE_CONFIG.members, upstreams: U },
    "sshSourceCidrs: required setting is missing",
  ],
  [
    "SSH address without prefix",
    { ...BASE_CONFIG, sshSourceCidrs: ["198.51.100.7"] },
    'sshSourceCidrs[0]: must be a CIDR such as "203.0.113.7/32" or "2001:db8::/48" (got "198.51.100.7")',
  ],
  [
    "SSH CIDR with host bits",
    { ...BASE_CONFIG, sshSourceCidrs: ["198.51.100.7/24"] },
    'sshSourceCidrs[0]: has host bits set; the network is 198.51.100.0/24 (got "198.51.100.7/24")',
  ],
  [
    "SSH CIDR garbage",
    { ...BASE_CONFIG, sshSourceCidrs: ["300.1.1.1/32"] },
    'sshSourceCidrs[0]: must be a CIDR such as "203.0.113.7/32" or "2001:db8::/48" (got "300.1.1.1/32")',
  ],
  [
    "bad fingerprint",
    { ...BASE_CONFIG, sshKeyFingerprints: ["SHA256:abc"] },
    'sshKeyFingerprints[0]: must be a DigitalOcean SSH key MD5 fingerprint ("aa:bb:...", 16 pairs) or numeric key id (got "SHA256:abc")',
  ],
  [
    "bad tag",
    { ...BASE_CONFIG, tags: ["time servers"] },
    'tags[0]: must be a DigitalOcean tag — letters, digits, ":", "-" and "_", 1 to 255 characters (got "time servers")',
  ],
  [
    "blank project name",
    { ...BASE_CONFIG, projectName: " " },
    'projectName: must be 1 to 175 printable characters, or "" for no project (got " ")',
  ],
  [
    "timeout too short",
    { ...BASE_CONFIG, verifyTimeoutSeconds: 5 },
    "verifyTimeoutSeconds: must be a whole number of seconds from 60 to 3600 — a first boot with apt takes minutes (got 5)",
  ],
  [
    "timeout as words",
    { ...BASE_CONFIG, verifyTimeoutSeconds: "soon" },
    'verifyTimeoutSeconds: must be a number (got "soon")',
  ],
  [
    "protect as text",
    { ...BASE_CONFIG, protectReservedIp: "no" },
    'protectReservedIp: must be true or false (got "no")',
  ],
  [
    "unknown top-level setting",
    { ...BASE_CONFIG, upstream: U },
    "upstream: unknown setting; known ones are members, size, image, ipv6, upstreams, sshSourceCidrs, sshKeyFingerprints, tags, projectName, protectReservedIp, verifyTimeoutSeconds, requireIpv6OutsideCheck",
  ],
];

describe("bad configuration is refused before any resource exists", () => {
  it("has at least 25 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(CASES)("%s", async (_what, config, problem) => {
    const failure = await runProgram(config).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(Error);
    const err = failure as Error;
    // pulumi.RunError: the CLI prints the message alone, without a stack trace.
    expect(err.constructor.name).toBe("RunError");
    const lines = err.message
      .split("\n")
      .slice(1)
      .map((l) => l.replace(/^ {2}- /, ""));
    expect(lines).toEqual([problem]);
    expect(recorded).toHaveLength(0);
  });
});
