import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  memberConf,
  type Node,
  NtpNet,
  orphanConf,
  ROOT,
  TSX_CLI,
  waitSynced,
} from "../helpers/netns";
import { requireRealTools } from "../helpers/realTools";

// `npm run pool -- monitor` (pool/cli.ts) run as a user runs it, from a client namespace,
// against real NTPsec daemons: a synchronised member, one that cannot synchronise, and an
// address nobody answers on.

let net: NtpNet;
const up: Node[] = [];
let member: Node;
let unsync: Node;
let cli: Node;

const CLI = path.join(ROOT, "pool", "cli.ts");

async function monitor(args: string[]) {
  const r = await net.hostExec(cli, [process.execPath, TSX_CLI, CLI, "monitor", ...args], {
    timeoutMs: 120_000,
  });
  return { ...r, lines: r.stdout.trimEnd().split("\n") };
}

beforeAll(async () => {
  requireRealTools(["ntpd", "ntpq", "capsh", "ip", "nft"]);
  net = new NtpNet();
  for (let i = 1; i <= 4; i++) {
    const n = net.addNode(`up${i}`, 10 + i);
    net.startNtpd(n, `up${i}`, orphanConf(1));
    up.push(n);
  }
  const servers = up.map((u) => u.ipv4);
  member = net.addNode("member", 2);
  net.startNtpd(member, "member", memberConf({ servers }));
  unsync = net.addNode("unsync", 4);
  net.nft(
    unsync,
    'table inet vf {\n chain out {\n type filter hook output priority 0;\n oifname "eth0" udp dport 123 drop\n }\n}\n',
  );
  net.startNtpd(unsync, "unsync", memberConf({ servers }));
  cli = net.addNode("cli", 100);
  await waitSynced(net, member);
}, 120_000);

afterAll(() => {
  net?.teardown();
  expect(net.leftovers()).toEqual([]);
});

describe("pool monitor against real ntpd", () => {
  it("a synchronised member, IPv4 and IPv6, judged against an upstream: +1 per check, chart, SVG, exit 0", async () => {
    const svg = path.join(net.dir, "monitor-{ip}.svg");
    const r = await monitor([
      member.ipv4,
      member.ipv6,
      "--reference",
      up[0]?.ipv4 ?? "",
      "--checks",
      "3",
      "--interval",
      "1",
      "--threshold",
      "2.8",
      "--svg",
      svg,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const checks = r.lines.filter((l) => l.startsWith("check "));
    expect(checks).toHaveLength(6);
    for (const l of checks) {
      // The shared host clock: the member is within a fraction of a millisecond.
      const m =
        /offset ([-+][\d.]+) ms, delay ([\d.]+) ms, stratum 2 \(3\/3 answered\); step \+1\.00/.exec(
          l,
        );
      expect(m, l).not.toBeNull();
      expect(Math.abs(Number(m?.[1]))).toBeLessThan(1);
    }
    expect(r.stdout).toContain(`${member.ipv4}: score 2.85 after 3 checks: would be IN the pool`);
    expect(r.lines.at(-1)).toBe("score 2.85");
    for (const ip of [member.ipv4, member.ipv6]) {
      const file = svg.replace("{ip}", ip.replace(/:/g, "_"));
      expect(existsSync(file), file).toBe(true);
      expect(readFileSync(file, "utf8")).toMatch(
        /<polyline class="score" points="[^"]+ [^"]+ [^"]+"/,
      );
    }
  }, 120_000);

  it("an unsynchronised server (kiss INIT) and a silent address score -5 each check; exit 1", async () => {
    const r = await monitor([unsync.ipv4, "10.77.0.250", "--checks", "2", "--interval", "1"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`check 2/2 ${unsync.ipv4}: kiss-o'-death INIT`);
    expect(r.stdout).toMatch(
      /check 2\/2 10\.77\.0\.250: no answer \(0\/3 answered\); step -5\.00; score -9\.75/,
    );
    expect(r.lines.at(-1)).toBe("score -9.75");
  }, 120_000);

  it("bad input is named before any packet is sent", async () => {
    const r = await monitor([member.ipv4, "--checks", "0"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--checks must be a whole number of at least 1, got "0"');
  }, 60_000);
});
