import * as path from "node:path";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderLocalVerifyCommand } from "../../verify/commands";
import { parseNtpdig } from "../../verify/parse";
import { outsideSchema } from "../../verify/summary";
import {
  leapFileExpiring,
  memberConf,
  type Node,
  NtpNet,
  orphanConf,
  ROOT,
  TSX_CLI,
  waitSynced,
} from "../helpers/netns";
import { requireRealTools } from "../helpers/realTools";

// The outside check (verify/outside.ts, run as the local.Command runs it) and the Node NTP
// client underneath it, against real NTPsec daemons in network namespaces.

let net: NtpNet;
const up: Node[] = [];
let q: Node; // pool member as rendered: restrict default ... noquery
let open: Node; // the same without noquery
let unsync: Node; // outbound NTP blocked: never synchronises
let kod: Node; // a stratum-1 server with `limited`, to be flooded
let cli: Node; // the deployer

const PROBE = path.join(ROOT, "test", "helpers", "ntpClientProbe.ts");

/** The outside check from `cli`, built by the same renderer the component uses. */
async function outside(
  args: { ipv4: string; ipv6?: string; upstreams: string[] },
  extra: string[] = [],
) {
  const cmd = renderLocalVerifyCommand(args);
  // As the command provider runs it: /bin/sh -c in the project directory, node from PATH —
  // the deployer's own Node.js running the project's code, not the tools image.
  const path = `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`;
  return net.hostExec(
    cli,
    ["sh", "-c", `cd ${ROOT} && PATH=${path} && ${cmd} ${extra.join(" ")}`],
    {
      timeoutMs: 90_000,
    },
  );
}

async function probe(args: string[]): Promise<Record<string, unknown>[]> {
  const r = await net.hostExec(cli, [process.execPath, TSX_CLI, PROBE, ...args], {
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`probe ${args.join(" ")}: ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  requireRealTools(["ntpd", "ntpq", "ntpdig", "nft"]);
  net = new NtpNet();
  const leap = net.file("leap.list", leapFileExpiring(Math.floor(Date.now() / 1000) + 180 * 86400));
  for (let i = 1; i <= 4; i++) {
    const n = net.addNode(`up${i}`, 10 + i);
    net.startNtpd(n, `up${i}`, orphanConf(1));
    up.push(n);
  }
  const servers = up.map((u) => u.ipv4);
  q = net.addNode("q", 2);
  net.startNtpd(q, "q", memberConf({ servers, leapfile: leap }));
  open = net.addNode("open", 3);
  net.startNtpd(open, "open", memberConf({ servers, leapfile: leap, noquery: false }));
  unsync = net.addNode("unsync", 4);
  net.nft(
    unsync,
    'table inet vf {\n chain out {\n type filter hook output priority 0;\n oifname "eth0" udp dport 123 drop\n }\n}\n',
  );
  net.startNtpd(unsync, "unsync", memberConf({ servers, leapfile: leap }));
  kod = net.addNode("kod", 30);
  net.startNtpd(kod, "kod", orphanConf(1));
  cli = net.addNode("cli", 100);
  await Promise.all([waitSynced(net, q), waitSynced(net, open), waitSynced(net, kod)]);
});

afterAll(() => {
  net?.teardown();
  expect(net?.leftovers() ?? []).toEqual([]);
});

describe("outside check against real ntpd", { concurrent: true }, () => {
  it("member with noquery, IPv4 and IPv6: passes; offset relative to an upstream; mode 6 refused", async () => {
    const r = await outside({
      ipv4: q.ipv4,
      ipv6: q.ipv6,
      upstreams: ["upstream.invalid", up[0]?.ipv4 ?? ""],
    });
    expect(r.code, r.stderr).toBe(0);
    const res = outsideSchema.parse(JSON.parse(r.stdout.trim().split("\n").at(-1) ?? ""));
    for (const [a, addr] of [
      [res.ipv4, q.ipv4],
      [res.ipv6, q.ipv6],
    ] as const) {
      expect(a).toMatchObject({
        address: addr,
        stratum: 2,
        leap: 0,
        mode6Refused: true,
        samples: 3,
      });
      expect(a?.relativeTo).toBe(`upstream ${up[0]?.ipv4} (${up[0]?.ipv4})`);
      expect(up.map((u) => u.ipv4)).toContain(a?.refid);
      // One shared clock: the true offset is ~0; 25 ms is the pool's full-score band.
      expect(Math.abs(a?.offsetMs ?? 1e9)).toBeLessThan(25);
    }
    expect(r.stderr).toContain("upstream upstream.invalid: lookup failed");
  });

  it("member WITHOUT noquery: fails as a reflection risk", async () => {
    const r = await outside({ ipv4: open.ipv4, upstreams: [up[1]?.ipv4 ?? ""] });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `outside check: FAIL: ${open.ipv4.replaceAll(".", "\\.")} answers NTP control \\(mode 6, ntpq\\) queries from outside: \\d+ bytes back for a 12-byte request — a reflection amplifier`,
      ),
    );
    expect(r.stdout).toBe("");
  });

  it("unsynchronised member: fails saying so", async () => {
    const r = await outside({ ipv4: unsync.ipv4, upstreams: [up[2]?.ipv4 ?? ""] }, [
      "--samples",
      "1",
      "--retries",
      "1",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `outside check: FAIL: ${unsync.ipv4} answers but is not synchronised (leap=3, stratum=0, refid=INIT)`,
    );
  });

  it("nothing at the address: bounded retries, names the firewall", async () => {
    const r = await outside({ ipv4: "10.77.0.99", upstreams: [up[3]?.ipv4 ?? ""] }, [
      "--samples",
      "1",
      "--retries",
      "1",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "outside check: FAIL: no NTP answer from 10.77.0.99 to 2 queries (3000 ms timeout each) — is inbound UDP 123 allowed",
    );
  });
});

describe("Node NTP client against real ntpd", { concurrent: true }, () => {
  it("reads a stratum-1 orphan server as ntpdig does", async () => {
    const [s] = await probe(["query", up[0]?.ipv4 ?? "", "1"]);
    expect(s).toMatchObject({
      verdict: "ok",
      stratum: 1,
      leap: 0,
      refid: "LOOP",
      mode: 4,
      version: 4,
    });
    // Both ends share one clock, so the true offset is 0; NTP's measured offset can be off by
    // at most half the round-trip delay, however busy the machine is (RFC 5905 §8).
    expect(Number(s?.delayMs)).toBeGreaterThanOrEqual(0);
    expect(Math.abs(Number(s?.offsetMs))).toBeLessThanOrEqual(Number(s?.delayMs) / 2 + 0.5);
    const dig = parseNtpdig((await net.exec(cli, ["ntpdig", up[0]?.ipv4 ?? ""])).stdout);
    expect(dig).toMatchObject({ kind: "answer", stratum: 1 });
  });

  it("reads the member at stratum 2 with an upstream as refid", async () => {
    const [s] = await probe(["query", q.ipv4, "1"]);
    expect(s).toMatchObject({ verdict: "ok", stratum: 2, leap: 0 });
    expect(up.map((u) => u.ipv4)).toContain(s?.refid);
  });

  it("an unsynchronised server: stratum 0, kiss code INIT", async () => {
    const [s] = await probe(["query", unsync.ipv4, "1"]);
    expect(s).toMatchObject({ verdict: "unsynchronised", stratum: 0, leap: 3, refid: "INIT" });
  });

  it("a flood gets KoD RATE from `limited` (docs/lab-mechanisms.md#rate-limiting)", async () => {
    const samples = await probe(["query", kod.ipv4, "40"]);
    const verdicts = samples.map((s) => s.verdict);
    expect(verdicts[0]).toBe("ok");
    const firstRate = verdicts.indexOf("rate-limited");
    expect(firstRate).toBeGreaterThan(0);
    expect(samples[firstRate]).toMatchObject({ stratum: 0, refid: "RATE" });
  });

  it("mode-6 probe: answered without noquery, silent with it — same as ntpq", async () => {
    const [answered] = await probe(["mode6", open.ipv4]);
    expect(answered?.answered).toBe(true);
    expect(Number(answered?.replyBytes)).toBeGreaterThan(12);
    const rvOpen = await net.exec(cli, ["ntpq", "-c", "rv", open.ipv4]);
    expect(rvOpen.stdout).toContain('version="ntpd ntpsec-1.2.2"');

    const [silent] = await probe(["mode6", q.ipv4]);
    expect(silent).toEqual({ answered: false, replyBytes: 0 });
    const rvQ = await net.exec(cli, ["ntpq", "-c", "rv", q.ipv4]);
    expect(rvQ.stderr + rvQ.stdout).toContain("***Request timed out");
  });
});
