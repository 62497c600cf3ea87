import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderNtpConf, renderNtpsecDefaults } from "../../../cloud-init/ntpConf";
import {
  INSTALL_SCRIPT,
  renderUserData,
  UDP_BUFFER_SYSCTL_PATH,
  USER_DATA_LIMIT_BYTES,
} from "../../../cloud-init/userData";

const UPSTREAMS = ["ntp1.time.nl", "ptbtime1.ptb.de", "ptbtime2.ptb.de", "sth1.ntp.se"];

interface CloudConfig {
  write_files: { path: string; content: string; permissions: string }[];
  packages: string[];
  runcmd: string[][];
  ssh_pwauth: boolean;
  package_update: boolean;
}

function files(text: string): Map<string, { content: string; permissions: string }> {
  const doc = parse(text) as CloudConfig;
  return new Map(doc.write_files.map((f) => [f.path, f]));
}

describe("renderNtpConf", () => {
  it("renders exactly the pool member configuration", () => {
    expect(renderNtpConf(UPSTREAMS)).toBe(
      [
        "# Written by ntp-pool (cloud-init). Rules: https://www.ntppool.org/join/configuration",
        "# and RFC 8633. Changes here are lost when the droplet is replaced.",
        "driftfile /var/lib/ntpsec/ntp.drift",
        "leapfile /usr/share/zoneinfo/leap-seconds.list",
        "",
        "server ntp1.time.nl iburst",
        "server ptbtime1.ptb.de iburst",
        "server ptbtime2.ptb.de iburst",
        "server sth1.ntp.se iburst",
        "tos minclock 4 minsane 3",
        "",
        "restrict default kod limited nomodify noquery",
        "restrict 127.0.0.1",
        "restrict ::1",
        "",
      ].join("\n"),
    );
  });

  it("never emits pool lines, burst, the LOCAL driver or options NTPsec ignores", () => {
    const conf = renderNtpConf([...UPSTREAMS, "2001:db8::1", "192.0.2.9", "ntp.example.net"]);
    const directives = conf.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(directives.filter((l) => l.startsWith("server "))).toHaveLength(7);
    for (const line of directives) {
      expect(line).not.toMatch(/^pool\b/);
      expect(line).not.toMatch(/\bburst\b/);
      expect(line).not.toMatch(/\b(nopeer|notrap|127\.127\.)/);
      expect(line).not.toMatch(/^(refclock|fudge)\b/);
    }
  });
});

describe("renderNtpsecDefaults", () => {
  it("keeps the package's options and ignores DHCP-offered servers", () => {
    expect(renderNtpsecDefaults()).toBe('NTPD_OPTS="-g -N"\nIGNORE_DHCP="yes"\n');
  });
});

describe("renderUserData", () => {
  it("is a #cloud-config document that writes our files and installs in a designed order", () => {
    const text = renderUserData({ upstreams: UPSTREAMS });
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text) as CloudConfig;
    const written = files(text);
    expect(written.get("/etc/ntpsec/ntp.conf")?.content).toBe(renderNtpConf(UPSTREAMS));
    expect(written.get("/etc/default/ntpsec")?.content).toBe(renderNtpsecDefaults());
    expect(written.get("/usr/local/sbin/ntppool-install")).toEqual({
      path: "/usr/local/sbin/ntppool-install",
      content: INSTALL_SCRIPT,
      permissions: "0755",
    });
    // ntpsec is installed by the script (after timesyncd is purged), never by packages:.
    expect(doc.packages).not.toContain("ntpsec");
    expect(doc.packages).toContain("tzdata");
    expect(doc.packages).toContain("unattended-upgrades");
    expect(doc.runcmd).toEqual([["/usr/local/sbin/ntppool-install"]]);
    expect(doc.ssh_pwauth).toBe(false);
    expect(doc.package_update).toBe(true);
    expect(text).not.toMatch(/^ntp:/m);
  });

  it("hardens the server: keys-only SSH, restart on failure, unattended upgrades, no conntrack on UDP 123", () => {
    const written = files(renderUserData({ upstreams: UPSTREAMS }));
    expect(written.get("/etc/ssh/sshd_config.d/50-ntppool.conf")?.content).toMatch(
      /^PasswordAuthentication no$/m,
    );
    expect(written.get("/etc/ssh/sshd_config.d/50-ntppool.conf")?.content).toMatch(
      /^KbdInteractiveAuthentication no$/m,
    );
    expect(
      written.get("/etc/systemd/system/ntpsec.service.d/10-ntppool-restart.conf")?.content,
    ).toMatch(/^Restart=always$/m);
    expect(written.get("/etc/apt/apt.conf.d/20auto-upgrades")?.content).toMatch(
      /Unattended-Upgrade "1"/,
    );
    const notrack = written.get("/etc/ntppool/notrack.nft")?.content ?? "";
    expect(notrack).toMatch(/udp dport 123 notrack/);
    expect(notrack).toMatch(/udp sport 123 notrack/);
  });

  it("gives ntpd's sockets a 1 MiB receive buffer, applied before ntpd restarts (BENCHMARKS.md)", () => {
    const written = files(renderUserData({ upstreams: UPSTREAMS }));
    expect(written.get(UDP_BUFFER_SYSCTL_PATH)?.content).toMatch(
      /^net\.core\.rmem_default = 1048576$/m,
    );
    const apply = INSTALL_SCRIPT.indexOf(`sysctl -q -p ${UDP_BUFFER_SYSCTL_PATH}`);
    expect(apply).toBeGreaterThan(0);
    expect(apply).toBeLessThan(INSTALL_SCRIPT.indexOf("systemctl restart ntpsec.service"));
  });

  it("configures the reserved IPv6 in the guest only when there is one", () => {
    const without = files(renderUserData({ upstreams: UPSTREAMS }));
    expect(without.has("/etc/systemd/system/ntppool-reserved-ipv6.service")).toBe(false);
    const withV6 = files(renderUserData({ upstreams: UPSTREAMS, reservedIpv6: "2001:db8::5" }));
    const unit = withV6.get("/etc/systemd/system/ntppool-reserved-ipv6.service")?.content;
    expect(unit).toMatch(/^ExecStart=\/sbin\/ip -6 address replace 2001:db8::5\/128 dev lo$/m);
    expect(unit).toMatch(/^Before=ntpsec.service$/m);
  });

  it("stays under DigitalOcean's 64 KiB with the most upstreams, and refuses to exceed it", () => {
    const seven = Array.from({ length: 7 }, (_, i) => `ntp${i}.${"x".repeat(60)}.example.net`);
    const text = renderUserData({ upstreams: seven, reservedIpv6: "2001:db8::5" });
    expect(Buffer.byteLength(text)).toBeLessThan(USER_DATA_LIMIT_BYTES);
    const huge = Array.from({ length: 2000 }, (_, i) => `ntp${i}.${"x".repeat(40)}.example.net`);
    expect(() => renderUserData({ upstreams: huge })).toThrow(
      /^user-data: rendered cloud-config is \d+ bytes, over DigitalOcean's 65536-byte limit$/,
    );
  });

  it("is deterministic: the same settings never replace the droplet", () => {
    expect(renderUserData({ upstreams: UPSTREAMS })).toBe(renderUserData({ upstreams: UPSTREAMS }));
  });
});
