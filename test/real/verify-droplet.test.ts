import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderRemoteVerifyCommand } from "../../verify/commands";
import { parseNtpqRv } from "../../verify/parse";
import { readVerifyScript } from "../../verify/paths";
import { onDropletSchema } from "../../verify/summary";
import { leapFileExpiring, memberConf, type Node, NtpNet, orphanConf } from "../helpers/netns";
import { requireRealTools } from "../helpers/realTools";

// cloud-init/scripts/ntppool-verify.sh against real NTPsec daemons in network namespaces,
// run exactly as remote.Command runs it: the rendered command line with the script on stdin.
// cloud-init is the real `cloud-init status --wait`, reading a status.json/result.json in a
// private /run (what cloud-init writes at the end of a boot).

const DAY = 86400;
/** A reserved IPv6 as DigitalOcean routes it (RFC 3849 documentation range). */
const RESERVED_V6 = "2001:db8:2::11";
let net: NtpNet;
const up: Node[] = [];
const m: Record<string, Node> = {};
let goodLeap = "";

function cloudInitRun(name: string, finalErrors: string[]): string {
  const dir = path.join(net.dir, `ci-${name}`);
  mkdirSync(dir);
  const t = Math.floor(Date.now() / 1000) - 60;
  const stage = (i: number, errors: string[] = []) => ({
    errors,
    start: t + 2 * i,
    finished: t + 2 * i + 1,
  });
  const v1 = {
    datasource: "DataSourceDigitalOcean",
    "init-local": stage(0),
    init: stage(1),
    "modules-config": stage(2),
    "modules-final": stage(3, finalErrors),
    stage: null,
  };
  writeFileSync(path.join(dir, "status.json"), JSON.stringify({ v1 }));
  writeFileSync(
    path.join(dir, "result.json"),
    JSON.stringify({ v1: { datasource: v1.datasource, errors: finalErrors } }),
  );
  return dir;
}

/**
 * Runs the check in `node` like remote.Command would, from the tools image (its ntpq, ntpdate
 * and cloud-init, as on a droplet), with /run/cloud-init from `ciDir`.
 */
async function verify(
  node: Node,
  upstreams: string[],
  timeoutSeconds: number,
  ciDir: string,
  reservedIpv6?: string,
) {
  const cmd = renderRemoteVerifyCommand({
    timeoutSeconds,
    upstreams,
    ...(reservedIpv6 !== undefined ? { reservedIpv6 } : {}),
  });
  return net.exec(
    node,
    ["sh", "-c", cmd],
    { input: readVerifyScript(), timeoutMs: (timeoutSeconds + 30) * 1000 },
    { binds: [{ host: ciDir, guest: "/run/cloud-init" }] },
  );
}

let ciOk = "";
let ciErr = "";
const upstreamIps = () => up.map((u) => u.ipv4);

beforeAll(() => {
  requireRealTools(["ntpd", "ntpq", "ntpdate", "nft", "cloud-init"]);
  net = new NtpNet();
  ciOk = cloudInitRun("ok", []);
  ciErr = cloudInitRun("err", [
    "('scripts_user', RuntimeError('Runparts: 1 failures (part-001) in /var/lib/cloud/instance/scripts'))",
  ]);
  goodLeap = net.file(
    "leap-good.list",
    leapFileExpiring(Math.floor(Date.now() / 1000) + 180 * DAY),
  );
  const expiredLeap = net.file(
    "leap-expired.list",
    leapFileExpiring(Math.floor(Date.now() / 1000) - 10 * DAY),
  );
  for (let i = 1; i <= 4; i++) {
    const n = net.addNode(`up${i}`, 10 + i);
    net.startNtpd(n, `up${i}`, orphanConf(1));
    up.push(n);
  }
  // Three upstreams at stratum 5: a member syncs to them at stratum 6, which the pool refuses.
  const s5: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const n = net.addNode(`s5u${i}`, 20 + i);
    net.startNtpd(n, `s5u${i}`, orphanConf(5));
    s5.push(n.ipv4);
  }
  m.ok = net.addNode("ok", 2);
  net.startNtpd(m.ok, "ok", memberConf({ servers: upstreamIps(), leapfile: goodLeap }));
  // The reserved IPv6 as the user-data's unit configures it on a droplet.
  const add = spawnSync("ip", [
    "-n",
    m.ok.ns,
    "-6",
    "addr",
    "add",
    `${RESERVED_V6}/128`,
    "dev",
    "lo",
    "nodad",
  ]);
  if (add.status !== 0) throw new Error(`ip addr add: ${add.stderr}`);
  m.expired = net.addNode("exp", 3);
  net.startNtpd(m.expired, "exp", memberConf({ servers: upstreamIps(), leapfile: expiredLeap }));
  const soonLeap = net.file(
    "leap-soon.list",
    leapFileExpiring(Math.floor(Date.now() / 1000) + 10 * DAY),
  );
  m.soon = net.addNode("soon", 9);
  net.startNtpd(m.soon, "soon", memberConf({ servers: upstreamIps(), leapfile: soonLeap }));
  m.noleap = net.addNode("noleap", 4);
  net.startNtpd(m.noleap, "noleap", memberConf({ servers: upstreamIps() }));
  // Outbound NTP dropped by a firewall in the member (as with no outbound cloud-firewall rule).
  m.blocked = net.addNode("blk", 5);
  net.nft(
    m.blocked,
    'table inet vf {\n chain out {\n type filter hook output priority 0;\n oifname "eth0" udp dport 123 drop\n }\n}\n',
  );
  net.startNtpd(m.blocked, "blk", memberConf({ servers: upstreamIps(), leapfile: goodLeap }));
  // Two of four upstreams answer: ntpd (minsane 3) never synchronises.
  m.two = net.addNode("two", 6);
  net.startNtpd(
    m.two,
    "two",
    memberConf({
      servers: [up[0]?.ipv4 ?? "", up[1]?.ipv4 ?? "", "10.77.0.91", "10.77.0.92"],
      leapfile: goodLeap,
    }),
  );
  m.s6 = net.addNode("s6", 7);
  net.startNtpd(m.s6, "s6", memberConf({ servers: s5, leapfile: goodLeap }));
  // No ntpd at all.
  m.none = net.addNode("none", 8);
});

afterAll(() => {
  net?.teardown();
  expect(net?.leftovers() ?? []).toEqual([]);
});

describe("ntppool-verify.sh on a member (real ntpd in namespaces)", { concurrent: true }, () => {
  it("synchronised member: passes, JSON summary agrees with ntpq", async () => {
    const r = await verify(m.ok as Node, upstreamIps(), 40, ciOk);
    expect(r.stderr).toContain("ntppool-verify: cloud-init: done");
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const s = onDropletSchema.parse(JSON.parse(lines.at(-1) ?? ""));
    expect(s).toMatchObject({
      synced: true,
      stratum: 2,
      leap: "00",
      reachableUpstreams: 4,
      upstreamCount: 4,
      cloudInit: "done",
      warnings: [],
    });
    expect(upstreamIps()).toContain(s.systemPeer);
    expect(s.upstreams.map((u) => [u.host, u.answered])).toEqual(
      upstreamIps().map((h) => [h, true]),
    );
    expect(s.upstreams.every((u) => u.answered && u.stratum === 1)).toBe(true);
    // The leap file's expiry is what ntpd itself reports.
    const rv = parseNtpqRv((await net.exec(m.ok as Node, ["ntpq", "-c", "rv"])).stdout);
    if (!rv.ok) throw new Error(rv.failure);
    expect(s.leapFileExpires).toBe(rv.value.leapFileExpires);
    expect(readFileSync(goodLeap, "utf8")).toContain("#h\t");
  });

  it("reserved IPv6 configured in the guest: passes; not configured: fails naming it", async () => {
    const ok = await verify(m.ok as Node, upstreamIps(), 40, ciOk, RESERVED_V6);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`ntppool-verify: reserved IPv6 ${RESERVED_V6} is configured`);
    const missing = await verify(m.ok as Node, upstreamIps(), 40, ciOk, "2001:db8:2::99");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      "ntppool-verify: FAIL: reserved IPv6 2001:db8:2::99 is not configured in the guest (DigitalOcean routes it but never adds it)",
    );
    expect(missing.stderr).toContain(RESERVED_V6);
  });

  it("expired leap-second file: fails naming the expiry", async () => {
    const r = await verify(m.expired as Node, upstreamIps(), 40, ciOk);
    expect(r.code).toBe(1);
    const expiry = new Date(Date.now() - 10 * DAY * 1000).toISOString().slice(0, 10);
    expect(r.stderr).toMatch(
      new RegExp(`FAIL: leap-second file expired on ${expiry}T\\d\\d:\\d\\dZ`),
    );
    expect(r.stderr).toContain("install a current tzdata");
    expect(r.stdout).toBe("");
  });

  it("leap-second file expiring in 10 days: passes, warning that tzdata is not being updated", async () => {
    const r = await verify(m.soon as Node, upstreamIps(), 40, ciOk);
    expect(r.code, r.stderr).toBe(0);
    const expiry = new Date(Date.now() + 10 * DAY * 1000).toISOString().slice(0, 10);
    expect(r.stderr).toMatch(
      new RegExp(
        `warning: leap-second file expires on ${expiry}T\\d\\d:\\d\\dZ \\(in under 30 days\\): is tzdata being updated\\?`,
      ),
    );
    expect(JSON.parse(r.stdout).leapFileExpires).toMatch(new RegExp(`^${expiry}T`));
  });

  it("no leapfile in ntp.conf: fails saying so", async () => {
    const r = await verify(m.noleap as Node, upstreamIps(), 40, ciOk);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("FAIL: ntpd loaded no leap-second file (no expire= in ntpq -c rv)");
  });

  it("outbound UDP 123 blocked: 0 of 4 upstreams reachable", async () => {
    const r = await verify(m.blocked as Node, upstreamIps(), 12, ciOk);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "ntppool-verify: FAIL: 0 of 4 upstreams reachable — is outbound UDP 123 allowed?",
    );
    // Diagnosis from ntpdate -q per upstream.
    expect(r.stderr).toContain(`  ${up[0]?.ipv4}: no answer`);
  });

  it("two of four upstreams answer: unsynchronised, names those not reached", async () => {
    const r = await verify(
      m.two as Node,
      [upstreamIps()[0] ?? "", upstreamIps()[1] ?? "", "10.77.0.91", "10.77.0.92"],
      15,
      ciOk,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /FAIL: 2 of 4 upstreams reachable after \d+ s \(need 3\); not reached: 10\.77\.0\.91 10\.77\.0\.92/,
    );
  });

  it("stratum 6 (upstreams at stratum 5): fails, the pool accepts 1-5", async () => {
    const r = await verify(m.s6 as Node, [], 20, ciOk);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("FAIL: ntpd is at stratum 6; the pool accepts only 1-5");
  });

  it("no ntpd: ntpd not running", async () => {
    const r = await verify(m.none as Node, upstreamIps(), 10, ciOk);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("FAIL: ntpd not running");
  });

  it("cloud-init error: fails with cloud-init's own error text", async () => {
    const r = await verify(m.ok as Node, upstreamIps(), 20, ciErr);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "FAIL: cloud-init failed: ('scripts_user', RuntimeError('Runparts: 1 failures (part-001) in /var/lib/cloud/instance/scripts'))",
    );
  });

  it("rejects a hostile upstream before running anything", async () => {
    const r = await verify(m.none as Node, ["x;touch /tmp/pwned"], 3, ciOk);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "FAIL: --upstream: 'x;touch /tmp/pwned' is not a host name or IP address",
    );
  });
});
