import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NTPSEC_RESTART_DROP_IN } from "../../cloud-init/userData";
import { addressBlock, anyIpRoutes, runAttack } from "../../lab/attacks/harness";
import { amplification, monitorSchedule } from "../../lab/attacks/packets";
import type { ScanResult } from "../../lab/attacks/scan";
import type {
  ClientResult,
  FloodResult,
  ManyClientsResult,
  ReflectionResult,
} from "../../lab/attacks/senders";
import { passwordOnlySshArgv } from "../../lab/attacks/ssh";
import { run } from "../../lab/exec";
import { defaultCacheDir, toolsRoot } from "../../lab/image";
import { imageRun, imageSpawnSync } from "../../lab/imageExec";
import { ADDR } from "../../lab/net";
import type { LabReport } from "../../lab/report";
import { leftovers } from "../../lab/teardown";
import { requireRealTools } from "../helpers/realTools";

// The attack suite in the lab: the real program (index.ts) brings a member up behind its
// reserved IP, the edge's 1:1 NAT and the firewall translated from the Firewall resource;
// everything is sent from the lab's "internet" namespace to the reserved IP. One run serves
// every case (a boot costs minutes), and it runs with one upstream of four kept down, which is
// the first fault case of issue 5. Figures are printed one line per case.

const ROOT = resolve(__dirname, "..", "..");
/** A unique marker for the fake DigitalOcean token, searched for in everything the run wrote. */
const TOKEN_MARKER = `dop_v1_LABMARKER${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`;
const SOURCES = "10.78.0.0/16";

interface Findings {
  reserved?: string;
  inside?: string;
  reflection?: ReflectionResult[];
  flood?: FloodResult;
  polite?: ClientResult;
  monitor?: ClientResult;
  many?: ManyClientsResult;
  conntrack?: { before: number; after: number };
  tcpDeployer?: ScanResult;
  tcpOutsider?: ScanResult;
  udpOutsider?: ScanResult;
  listening?: string;
  sshOffered?: string;
  dropIn?: string;
  privateKey?: string;
  leakedInRun?: string[];
  publicKeyFiles?: string[];
  killed?: { before: number; after: number };
  error?: string;
}

let report: LabReport | undefined;
const found: Findings = {};
const logLines: string[] = [];
let stackDir: string;

function writeStack(): string {
  stackDir = mkdtempSync(join(tmpdir(), "ntp-lab-attacks-"));
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(stackDir, "Pulumi.yaml"));
  const file = join(stackDir, "Pulumi.attacks.yaml");
  writeFileSync(
    file,
    [
      "config:",
      // Plain, not `secure:` (the lab cannot decrypt): a value the program could leak.
      `  digitalocean:token: ${TOKEN_MARKER}`,
      "  ntp-pool:members:",
      "    - name: atk-1",
      "      region: ams3",
      "  ntp-pool:upstreams: [ntp1.time.nl, ptbtime1.ptb.de, ptbtime2.ptb.de, sth1.ntp.se]",
      "  ntp-pool:sshSourceCidrs: [203.0.113.0/24]",
      "",
    ].join("\n"),
  );
  return file;
}

/** A client tool in `ns`, from the lab's tools image (never the host's), `binds` visible. */
function tool(ns: string, argv: readonly string[], binds: readonly string[] = []) {
  return imageRun(argv, { root: toolsRoot(), netns: ns, binds: binds.map((host) => ({ host })) });
}

async function conntrackCount(ns: string): Promise<number> {
  const r = await tool(ns, ["conntrack", "-C"]);
  return Number(r.stdout.trim());
}

/** The running lab as the CLI names it (lab/lab.ts, lab/droplet.ts naming). */
interface LabView {
  readonly prefix: string;
  readonly inet: string;
  readonly edge: string;
  readonly dropletNs: string;
  readonly runDir: string;
  readonly upper: string;
  readonly reserved: string;
}

/** ssh allowed only a password; reports which methods the server offered. */
async function passwordAttempt(lab: LabView, target: string, dir: string): Promise<string> {
  const askpass = join(dir, "askpass.sh");
  writeFileSync(askpass, `#!/bin/sh\ntouch ${dir}/asked\necho guess123\n`, { mode: 0o755 });
  const r = await tool(
    lab.inet,
    passwordOnlySshArgv({ askpass, host: target, connectTimeout: 10 }),
    [dir],
  );
  const offered =
    /Permission denied \(([^)]*)\)/.exec(r.stderr)?.[1] ?? `no answer: ${r.stderr.trim()}`;
  return existsSync(join(dir, "asked")) ? `${offered} (password prompt shown)` : offered;
}

/** Every regular file under `dir` (no symlinks followed), skipping paths that contain `skip`. */
function filesUnder(dir: string, skip: readonly string[] = []): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (skip.some((s) => p.includes(s))) continue;
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...filesUnder(p, skip));
    else if (st.isFile() && st.size < 50_000_000) out.push(p);
  }
  return out;
}

function filesContaining(files: readonly string[], needles: readonly string[]): string[] {
  return files.filter((f) => {
    try {
      const text = readFileSync(f, "latin1");
      return needles.some((n) => text.includes(n));
    } catch {
      return false;
    }
  });
}

/** Everything the attacks need, run while the lab is up (`npm run lab -- --keep`). */
async function attack(lab: LabView): Promise<void> {
  const target = lab.reserved;
  found.reserved = target;
  found.inside = lab.dropletNs;

  // Secrets first, while the run dir exists: the deploy key as the lab's ssh used it.
  const keyDir = join(lab.runDir, "ssh");
  const keyFile = readdirSync(keyDir).find((f) => f.endsWith(".key"));
  if (!keyFile) throw new Error(`no deploy key in ${keyDir}`);
  const keyText = readFileSync(join(keyDir, keyFile), "utf8");
  found.privateKey = keyText;
  const runFiles = filesUnder(lab.runDir, [keyDir]);
  found.leakedInRun = filesContaining(runFiles, [TOKEN_MARKER, ...keyLines(keyText)]);
  found.publicKeyFiles = filesContaining(runFiles, [publicHalf(join(keyDir, keyFile))]);

  // Extra client addresses for the internet namespace, routed back by the edge.
  for (const argv of anyIpRoutes(lab.inet, SOURCES, [{ ns: lab.edge, via: ADDR.internet }])) {
    const r = await run(argv);
    if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  }

  found.reflection = await runAttack<ReflectionResult[]>(lab.inet, {
    kind: "reflect",
    target,
    sources: addressBlock("10.78.1.0/24", 40),
    waitMs: 2000,
  });

  const floodAfterMs = 4000;
  [found.flood, found.polite, found.monitor] = await Promise.all([
    new Promise((r) => setTimeout(r, floodAfterMs)).then(() =>
      runAttack<FloodResult>(lab.inet, {
        kind: "flood",
        target,
        source: "10.78.2.3",
        count: 2000,
        durationMs: 2000,
        waitMs: 1000,
      }),
    ),
    runAttack<ClientResult>(lab.inet, {
      kind: "client",
      target,
      source: "10.78.2.1",
      timesMs: Array.from({ length: 20 }, (_, i) => i * 2000),
    }),
    runAttack<ClientResult>(lab.inet, {
      kind: "client",
      target,
      source: "10.78.2.2",
      timesMs: monitorSchedule(3, 15).map((s) => s * 1000),
    }),
  ]);

  const before = await conntrackCount(lab.dropletNs);
  found.many = await runAttack<ManyClientsResult>(lab.inet, {
    kind: "many",
    target,
    sources: addressBlock("10.78.8.0/21", 1200),
    perSource: 2,
    windowMs: 20_000,
  });
  found.conntrack = { before, after: await conntrackCount(lab.dropletNs) };

  const ports = [...Array.from({ length: 1024 }, (_, i) => i + 1), 2222, 8080, 8443, 9100, 11211];
  // The deployer's address is inside sshSourceCidrs; 198.18.0.100 (the namespace's own
  // address on the internet segment) is not.
  [found.tcpDeployer, found.tcpOutsider, found.udpOutsider] = await Promise.all([
    runAttack<ScanResult>(lab.inet, { kind: "tcp-scan", target, ports }),
    runAttack<ScanResult>(lab.inet, { kind: "tcp-scan", target, ports, source: ADDR.internet }),
    runAttack<ScanResult>(lab.inet, { kind: "udp-scan", target, ports, source: ADDR.internet }),
  ]);
  found.listening = (await tool(lab.dropletNs, ["ss", "-H", "-lntu"])).stdout;
  found.sshOffered = await passwordAttempt(lab, target, mkdtempSync(join(stackDir, "ssh-")));

  const dropIn = join(lab.upper, "etc/systemd/system/ntpsec.service.d/10-ntppool-restart.conf");
  found.dropIn = existsSync(dropIn) ? readFileSync(dropIn, "utf8") : undefined;
}

/** The base64 of the key's public half (`ssh-keygen -y`), as authorized_keys holds it. */
function publicHalf(keyFile: string): string {
  const r = imageSpawnSync(["ssh-keygen", "-y", "-f", keyFile], {
    root: toolsRoot(),
    binds: [{ host: keyFile, readOnly: true }],
  });
  if (r.status !== 0) throw new Error(`ssh-keygen -y -f ${keyFile}: ${r.stderr}`);
  const line = r.stdout;
  return line.trim().split(/\s+/)[1] ?? "";
}

/**
 * Lines of the private key's base64 body that are unique to it. The first line of every
 * unencrypted OpenSSH ed25519 key is the same ("openssh-key-v1", cipher "none", ...), so it
 * would match any host key; the later lines carry the key's own bytes.
 */
function keyLines(pem: string): string[] {
  return pem
    .split("\n")
    .filter((l) => l && !l.startsWith("-----"))
    .slice(1)
    .filter((l) => l.length >= 40);
}

/**
 * Runs `npm run lab -- --keep` (the real CLI, in its own process: the program runs under the
 * mock runtime there), attacks while it holds the lab up, then lets it finish: it tears down
 * and writes its report.
 */
async function runKeptLab(stackFile: string, reportFile: string): Promise<void> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // As `npm run lab` starts it (package.json): node with tsx's loader, no wrapper process.
      "--import",
      "tsx",
      join(ROOT, "lab", "cli.ts"),
      "--stack-file",
      stackFile,
      "--report",
      reportFile,
      "--keep",
      "--fault-upstreams-down",
      "1",
    ],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  // Bound: a boot that never finishes must not hang the suite.
  const deadline = setTimeout(() => child.kill("SIGINT"), 840_000);
  let prefix: string | undefined;
  let reserved: string | undefined;
  let kept: (() => void) | undefined;
  const up = new Promise<void>((r) => {
    kept = r;
  });
  const onLine = (line: string) => {
    logLines.push(line);
    console.log(`[lab] ${line}`);
    prefix ??= /run (ntpl-[0-9a-f]{6})/.exec(line)?.[1];
    reserved ??= /reserved IP (\d+\.\d+\.\d+\.\d+) → anchor/.exec(line)?.[1];
    if (/--keep: lab \S+ stays up/.test(line)) kept?.();
  };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", onLine);
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", onLine);
  const state = await Promise.race([
    up.then(() => "up" as const),
    exited.then(() => "exited" as const),
  ]);
  if (state === "up" && prefix && reserved) {
    const runDir = join(defaultCacheDir(), "runs", prefix);
    try {
      await attack({
        prefix,
        inet: `${prefix}-inet`,
        edge: `${prefix}-edge`,
        dropletNs: `${prefix}-d1`,
        runDir,
        upper: join(runDir, "d1", "upper"),
        reserved,
      });
    } catch (e) {
      found.error = (e as Error).stack ?? String(e);
    }
  } else if (state === "up") {
    found.error = `lab came up without a reserved IP or prefix in its log`;
  }
  // A line on stdin ends --keep: the CLI tears down and writes its report as after any run.
  child.stdin?.end("done\n");
  const code = await exited;
  if (code !== 0) found.error ??= `lab CLI exited ${code}`;
  clearTimeout(deadline);
  labPrefix = prefix;
  if (existsSync(reportFile)) report = JSON.parse(readFileSync(reportFile, "utf8")) as LabReport;
}

let labPrefix: string | undefined;

beforeAll(async () => {
  requireRealTools(["nft", "conntrack", "ntpdig", "ssh", "ssh-keygen", "setsid", "ss"]);
  const stackFile = writeStack();
  await runKeptLab(stackFile, join(stackDir, "report.json"));
}, 900_000);

afterAll(() => {
  if (stackDir) rmSync(stackDir, { recursive: true, force: true });
  if (labPrefix) {
    expect(leftovers(labPrefix)).toEqual({
      namespaces: [],
      etcNetns: [],
      processes: [],
      mounts: [],
    });
  }
});

describe("lab: attacks on the reserved IP, from the internet namespace", () => {
  it("fault: with one upstream of four down the member still synchronises and is verified", () => {
    expect(report?.error).toBeUndefined();
    expect(report?.ok).toBe(true);
    const m = report?.members[0];
    console.log(
      `fault one upstream of four down: synchronised after ${m?.syncSeconds?.toFixed(1)} s, stratum ${m?.stratum}, verification ${m?.verification.ok ? "passed" : "FAILED"}: ${m?.verification.detail}`,
    );
    expect(m?.verification.ok).toBe(true);
    expect(logLines.some((l) => /FAULT INJECTION: upstream \S+ is kept down/.test(l))).toBe(true);
    expect(found.error).toBeUndefined();
  });

  it("reflection: at most one byte back per byte in, for every mode, size and malformed packet; nothing for modes 6 and 7", () => {
    const results = found.reflection ?? [];
    for (const r of results) {
      console.log(
        `lab reflection ${r.name}: ${r.bytesIn} B out / ${r.bytesOut} B in = ${r.ratio.toFixed(2)}`,
      );
    }
    expect(results.find((r) => r.name === "mode 3 (client)")).toMatchObject({ bytesIn: 48 });
    for (const r of results) {
      expect(r.ratio, r.name).toBeLessThanOrEqual(1);
      if (r.rule === "none") expect(r.bytesIn, r.name).toBe(0);
    }
  });

  it("flood: rate-limited, while a polite client and the pool-monitor pattern are always answered", () => {
    const f = found.flood as FloodResult;
    const polite = found.polite as ClientResult;
    const monitor = found.monitor as ClientResult;
    const answers = f.served + f.kodRate + f.otherReplies;
    console.log(
      `lab flood: ${f.sent} requests in ${f.seconds.toFixed(2)} s → ${f.served} served, ${f.kodRate} KoD RATE (first at #${f.firstKodAt}), ${f.sent - answers} dropped; ${f.bytesIn} B out / ${f.bytesOut} B in = ${amplification(f.bytesIn, f.bytesOut).toFixed(3)}`,
    );
    console.log(`lab flood: polite client ${polite.answered}/${polite.total} answered`);
    console.log(
      `lab flood: monitor pattern ${monitor.answered}/${monitor.total} answered, ${monitor.rateLimited} rate-limited`,
    );
    expect(f.kodRate).toBeGreaterThan(0);
    expect(f.served).toBeLessThan(40);
    expect(answers).toBeLessThan(100);
    expect(polite.answered / polite.total).toBeGreaterThanOrEqual(0.99);
    expect(monitor.rateLimited).toBe(0);
    expect(monitor.answered).toBe(monitor.total);
  });

  it("1,200 distinct clients through the edge NAT: all answered, UDP 123 not conntracked in the droplet", () => {
    const r = found.many as ManyClientsResult;
    const ct = found.conntrack as { before: number; after: number };
    console.log(
      `lab many clients: ${r.sources} addresses, ${r.queries} queries → ${r.answered} answered (${((100 * r.answered) / r.queries).toFixed(2)}%), ${r.rateLimited} rate-limited, ${r.timeouts} lost; droplet conntrack entries ${ct.before} → ${ct.after}`,
    );
    expect(r.sourcesAnswered).toBeGreaterThanOrEqual(1000);
    expect(r.answered / r.queries).toBeGreaterThanOrEqual(0.99);
    expect(r.rateLimited).toBe(0);
    expect(ct.after - ct.before).toBeLessThan(20);
  });

  it("port scan: only UDP 123 answers from the internet; TCP 22 only from sshSourceCidrs", () => {
    const d = found.tcpDeployer as ScanResult;
    const o = found.tcpOutsider as ScanResult;
    const u = found.udpOutsider as ScanResult;
    console.log(
      `lab port scan (${d.scanned} ports): TCP from inside sshSourceCidrs open ${JSON.stringify(d.open)}, refused ${d.refused.length}; TCP from outside open ${JSON.stringify(o.open)}, refused ${o.refused.length}; UDP from outside answering ${JSON.stringify(u.open)}, refused ${u.refused.length}; listening inside the droplet: ${found.listening?.trim().split("\n").length} sockets`,
    );
    expect(d.open).toEqual([22]);
    expect(d.refused).toEqual([]);
    expect(o.open).toEqual([]);
    expect(o.refused).toEqual([]);
    expect(u.open).toEqual([123]);
    expect(u.refused).toEqual([]);
    // The firewall is what hides the rest: sshd and ntpd do listen inside.
    expect(found.listening).toMatch(/:22\s/);
    expect(found.listening).toMatch(/:123\s/);
  });

  it("SSH through the reserved IP offers only publickey: a password is never asked for", () => {
    console.log(`lab ssh password attempt: server offered "${found.sshOffered}"`);
    expect(found.sshOffered).toBe("publickey");
  });

  it("ntpd restart: the drop-in with Restart=always is in the booted droplet (the lab's systemctl does not supervise)", () => {
    // lab/guest/systemctl starts units but does not restart them when they die, so killing
    // ntpd here would only show that the lab lacks systemd; systemd itself is checked
    // statically by `systemd-analyze verify` in test/real/units.test.ts.
    expect(found.dropIn).toBe(NTPSEC_RESTART_DROP_IN);
  });

  it("secrets: neither the token nor the deploy private key appears in anything the run wrote", () => {
    const key = found.privateKey ?? "";
    expect(key).toContain("PRIVATE KEY");
    const needles = [TOKEN_MARKER, ...keyLines(key)];
    expect(needles.length).toBeGreaterThan(1);
    const reportsDir = join(defaultCacheDir(), "reports", labPrefix ?? "none");
    const written = [
      ...filesContaining(filesUnder(reportsDir), needles),
      ...(found.leakedInRun ?? []),
    ];
    const inLog = needles.filter((n) => logLines.join("\n").includes(n));
    const inReport = needles.filter((n) => JSON.stringify(report ?? "").includes(n));
    expect(report?.prefix).toBe(labPrefix);
    console.log(
      `lab secrets: searched ${filesUnder(reportsDir).length} saved log files, the run dir (droplet root, upstreams), the report and ${logLines.length} lines of the lab's output: ${written.length + inLog.length + inReport.length} hits`,
    );
    expect(written).toEqual([]);
    expect(inLog).toEqual([]);
    expect(inReport).toEqual([]);
    // The search sees the droplet's files: the key's public half is there (authorized_keys).
    expect(found.publicKeyFiles ?? []).not.toEqual([]);
  });
});
