/**
 * Time-keeping scenarios (issue 13): a pool member running the SHIPPED ntp.conf
 * (cloud-init/ntpConf.ts) against four lab upstreams of chosen kinds (lab/upstreams.ts:
 * good, falseticker, leap, unsynchronised, kod), with optional wide-area paths
 * (lab/guest/linkem.py), a deployer namespace and monitor namespaces. Every daemon is real
 * NTPsec from the lab's tools image (lab/imageExec.ts) without CAP_SYS_TIME; the verification
 * is the shipped on-droplet script and the shipped outside check; scores come from
 * `npm run pool -- monitor`.
 *
 * Built on NtpNet (test/helpers/netns.ts: namespaces on one bridge, teardown of every process
 * in them). Addresses: upstreams 10.77.0.11–14, member 10.77.0.2, deployer 10.77.0.100,
 * monitors 10.77.0.101+.
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { TestContext } from "vitest";
import { NTPSEC_PATHS, renderNtpConf } from "../../cloud-init/ntpConf";
import { type RunResult, run } from "../../lab/exec";
import { defaultCacheDir, ensureSharedObject, toolsRoot } from "../../lab/image";
import { type ImageExecOptions, imageRun, imageSpawn } from "../../lab/imageExec";
import { renderLeapFile } from "../../lab/leapFile";
import { renderUpstreamConf, type UpstreamKind, upstreamLaunch } from "../../lab/upstreams";
import { renderLocalVerifyCommand, renderRemoteVerifyCommand } from "../../verify/commands";
import { type PeerRow, parseNtpqPeers, parseNtpqRv } from "../../verify/parse";
import { readVerifyScript } from "../../verify/paths";
import { type Node, NtpNet, ROOT, TSX_CLI } from "./netns";

const DAY = 86_400;

type OnTestFinished = TestContext["onTestFinished"];

/**
 * Error bound of one NTP offset measurement between two processes of this machine, from
 * the kernel's and the daemons' scheduling alone (no path emulation): every process reads
 * the same host clock, so any larger offset is a real one. An offset judged against a
 * reference measurement (the outside check's "vs a good upstream") is the difference of two
 * measurements and gets twice this. CI on a loaded 2-core machine saw 1.14 ms for such a
 * difference, over a bound of 1 ms that ignored the second measurement.
 */
export const SCHEDULING_MS = 1;

/** One-way delays of a node's link, milliseconds: `out` for what it sends, `in` for what it receives. */
interface LinkDelay {
  readonly out: number;
  readonly in: number;
}

/** Wide-area paths: per-node link delays plus jitter and loss on every frame. */
export interface Paths {
  readonly upstreams: readonly LinkDelay[];
  readonly member: LinkDelay;
  readonly deployer: LinkDelay;
  readonly monitors: LinkDelay;
  readonly jitterMs: number;
  /** Probability a frame is lost (0.01 = 1 %). */
  readonly loss: number;
}

export interface WorldOptions {
  readonly upstreams: readonly UpstreamKind[];
  readonly monitors?: number;
  readonly paths?: Paths;
}

export class TimeWorld {
  readonly net = new NtpNet();
  readonly tools = toolsRoot();
  readonly up: Node[] = [];
  readonly monitors: Node[] = [];
  readonly member: Node;
  readonly deployer: Node;
  private memberChild?: ChildProcess;
  private shim = "";

  private constructor(readonly opts: WorldOptions) {
    this.opts.upstreams.forEach((_, i) => {
      this.up.push(this.net.addNode(`up${i + 1}`, 11 + i));
    });
    this.member = this.net.addNode("member", 2);
    this.deployer = this.net.addNode("dep", 100);
    for (let i = 0; i < (opts.monitors ?? 0); i++) {
      this.monitors.push(this.net.addNode(`mon${i + 1}`, 101 + i));
    }
  }

  /**
   * {@link create} for one test: torn down when the test ends, which fails if any of its
   * namespaces is left. Worlds share nothing (each has its own prefix), so the tests of a
   * file that each build one can run concurrently. `onTestFinished` must be the test's own,
   * from its context: vitest's global one cannot tell concurrent tests apart and would tear
   * every world down when the first test ends.
   */
  static async forTest(onTestFinished: OnTestFinished, opts: WorldOptions): Promise<TimeWorld> {
    const w = await TimeWorld.create(opts);
    onTestFinished(() => {
      w.teardown();
      const left = w.net.leftovers();
      if (left.length > 0) throw new Error(`namespaces left behind: ${left.join(", ")}`);
    });
    return w;
  }

  /** Builds the namespaces, the paths and the upstreams; the member starts with {@link startMember}. */
  static async create(opts: WorldOptions): Promise<TimeWorld> {
    const w = new TimeWorld(opts);
    try {
      w.shim = await ensureSharedObject(defaultCacheDir(), "clockshift");
      if (opts.paths) w.startPaths(opts.paths);
      opts.upstreams.forEach((k, i) => {
        w.startUpstream(i, k);
      });
      // As in the world, the upstreams serve time before the member boots: a member whose
      // first poll meets an orphan-mode ntpd still at stratum 16 (kiss INIT) waits a whole
      // poll interval (64 s) before asking it again.
      await Promise.all(
        opts.upstreams.map((k, i) =>
          k.kind === "unsynchronised" ? undefined : w.waitServing(w.up[i] as Node),
        ),
      );
    } catch (e) {
      w.teardown();
      throw e;
    }
    return w;
  }

  image(node: Node, extra: Partial<ImageExecOptions> = {}): ImageExecOptions {
    return {
      root: this.tools,
      netns: node.ns,
      ...extra,
      binds: [{ host: this.net.dir }, ...(extra.binds ?? [])],
    };
  }

  /** Runs a tools-image program in `node` to its end. */
  exec(node: Node, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}) {
    return imageRun(argv, this.image(node), opts);
  }

  /** Runs this project's own TypeScript (pool CLI, outside check) in `node` with the host's node. */
  node(ns: Node, argv: readonly string[], timeoutMs = 180_000): Promise<RunResult> {
    return run(["ip", "netns", "exec", ns.ns, process.execPath, TSX_CLI, ...argv], { timeoutMs });
  }

  private ntpd(node: Node, name: string, conf: string, extra: Partial<ImageExecOptions> = {}) {
    const dir = path.join(this.net.dir, name);
    mkdirSync(dir, { recursive: true });
    const confPath = path.join(dir, "ntp.conf");
    writeFileSync(confPath, conf);
    return imageSpawn(
      ["/usr/sbin/ntpd", "-n", "-c", confPath, "-p", `${dir}/ntpd.pid`, "-l", `${dir}/ntpd.log`],
      this.image(node, extra),
      { stdio: "ignore" },
    );
  }

  /** The tools image's leap-seconds.list (Debian tzdata), re-dated to expire in 180 days. */
  leapFile(name: string): string {
    const src = readFileSync(path.join(this.tools, NTPSEC_PATHS.leap.slice(1)), "utf8");
    const now = Math.floor(Date.now() / 1000);
    return this.net.file(name, renderLeapFile(src, { expiresUnix: now + 180 * DAY }));
  }

  private startUpstream(i: number, kind: UpstreamKind): void {
    const node = this.up[i] as Node;
    const name = `up${i + 1}`;
    const dir = path.join(this.net.dir, name);
    mkdirSync(dir, { recursive: true });
    const extra = upstreamLaunch(kind, {
      dir,
      clockShift: this.shim,
      leapSource: path.join(this.tools, NTPSEC_PATHS.leap.slice(1)),
    });
    const conf = `${renderUpstreamConf(dir, kind, extra.leapfile)}driftfile ${dir}/ntp.drift\n`;
    this.ntpd(node, name, conf, { binds: extra.binds, env: extra.env });
  }

  /** Upstream i's host name in {@link resolveByName} mode. */
  static upstreamName(i: number): string {
    return `up${i + 1}.lab.test`;
  }

  /**
   * Names the member's upstreams by host name (up1.lab.test, ...) and resolves only those in
   * `names` through the member's /etc/hosts (`/etc/netns/<ns>/hosts`, which the tools-image
   * runner binds over the image's); call again to publish more names while ntpd runs (the
   * file is rewritten in place, so the bind mount shows the new content).
   */
  resolveByName(names: readonly number[]): void {
    this.byName = true;
    const dir = `/etc/netns/${this.member.ns}`;
    mkdirSync(dir, { recursive: true });
    const lines = names.map((i) => `${this.up[i]?.ipv4}\t${TimeWorld.upstreamName(i)}\n`);
    writeFileSync(`${dir}/hosts`, `127.0.0.1\tlocalhost\n${lines.join("")}`);
  }
  private byName = false;

  /** The shipped ntp.conf with this run's drift and leap-file paths. */
  memberConf(): string {
    const dir = path.join(this.net.dir, "member");
    return renderNtpConf(this.up.map((u, i) => (this.byName ? TimeWorld.upstreamName(i) : u.ipv4)))
      .replaceAll(NTPSEC_PATHS.drift, `${dir}/ntp.drift`)
      .replaceAll(NTPSEC_PATHS.leap, this.leapFile("member-leap.list"));
  }

  /** Starts (or restarts) the member's ntpd; resolves with the wall-clock start (ms). */
  startMember(): number {
    this.memberChild = this.ntpd(this.member, "member", this.memberConf());
    return Date.now();
  }

  /** Stops the member's ntpd (SIGTERM, as a shutdown does: it writes its drift file). */
  async stopMember(): Promise<void> {
    const c = this.memberChild;
    if (!c || c.exitCode !== null) return;
    const done = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
  }

  async peers(node: Node = this.member): Promise<PeerRow[]> {
    const r = await this.exec(node, ["ntpq", "-pn"]);
    const p = parseNtpqPeers(r.stdout);
    if (!p.ok) throw new Error(`ntpq -pn in ${node.ns}: ${p.failure}`);
    return p.value;
  }

  async systemVars(node: Node = this.member) {
    const r = await this.exec(node, ["ntpq", "-c", "rv"]);
    const v = parseNtpqRv(r.stdout);
    if (!v.ok) throw new Error(`ntpq -c rv in ${node.ns}: ${v.failure}`);
    return v.value;
  }

  /** Polls an upstream's ntpd (loopback) every 0.5 s until it reports leap 00 or 01. */
  async waitServing(node: Node, limitMs = 30_000): Promise<void> {
    const until = Date.now() + limitMs;
    for (;;) {
      const r = await this.exec(node, ["ntpq", "-c", "rv 0 leap"]);
      if (/leap=0[01]/.test(r.stdout)) return;
      if (Date.now() > until)
        throw new Error(`${node.ns}: not serving after ${limitMs} ms: ${r.stdout}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  /** Polls every 0.5 s until the member reports leap ≠ 11 and a system peer; ms since `since`, or null. */
  async waitSynced(since: number, limitMs: number): Promise<number | null> {
    while (Date.now() - since < limitMs) {
      const r = await this.exec(this.member, ["ntpq", "-n", "-c", "rv 0 leap", "-c", "peers"]);
      if (/leap=(00|01|10)/.test(r.stdout) && /^\*/m.test(r.stdout)) return Date.now() - since;
      await new Promise((res) => setTimeout(res, 500));
    }
    return null;
  }

  /**
   * The shipped on-droplet check (cloud-init/scripts/ntppool-verify.sh), run in the member
   * as remote.Command runs it (the rendered line, the script on stdin), with a cloud-init
   * status of a finished boot in the image's private /run.
   */
  verifyOnDroplet(timeoutSeconds: number): Promise<RunResult> {
    const ci = path.join(this.net.dir, "cloud-init-done");
    mkdirSync(ci, { recursive: true });
    const t = Math.floor(Date.now() / 1000) - 60;
    const stage = (i: number) => ({ errors: [], start: t + 2 * i, finished: t + 2 * i + 1 });
    const v1 = {
      datasource: "DataSourceDigitalOcean",
      "init-local": stage(0),
      init: stage(1),
      "modules-config": stage(2),
      "modules-final": stage(3),
      stage: null,
    };
    writeFileSync(path.join(ci, "status.json"), JSON.stringify({ v1 }));
    writeFileSync(
      path.join(ci, "result.json"),
      JSON.stringify({ v1: { datasource: v1.datasource, errors: [] } }),
    );
    const cmd = renderRemoteVerifyCommand({
      timeoutSeconds,
      upstreams: this.up.map((u) => u.ipv4),
    });
    return this.exec(
      this.member,
      ["sh", "-c", `mkdir -p /run/cloud-init && cp ${ci}/* /run/cloud-init/ && exec ${cmd}`],
      { input: readVerifyScript(), timeoutMs: (timeoutSeconds + 60) * 1000 },
    );
  }

  /** The shipped outside check from the deployer, judged against `reference` (an upstream). */
  outside(reference: Node): Promise<RunResult> {
    const cmd = renderLocalVerifyCommand({
      ipv4: this.member.ipv4,
      ipv6: this.member.ipv6,
      upstreams: [reference.ipv4],
    });
    // As the command provider runs it: /bin/sh -c in the project directory, node from PATH.
    const pathEnv = `${path.dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`;
    return run(["ip", "netns", "exec", this.deployer.ns, "sh", "-c", `PATH=${pathEnv} && ${cmd}`], {
      timeoutMs: 120_000,
      cwd: ROOT,
    });
  }

  /** `npm run pool -- monitor` from `from` against the member. */
  monitor(from: Node, args: readonly string[], timeoutMs = 600_000): Promise<RunResult> {
    return this.node(from, [path.join(ROOT, "pool", "cli.ts"), "monitor", ...args], timeoutMs);
  }

  /**
   * Replaces the bridge with lab/guest/linkem.py: each node's switch port is taken off the
   * kernel bridge and the userspace switch forwards between them with the given delays.
   */
  private startPaths(p: Paths): void {
    const sw = `${this.net.prefix}-sw`;
    const ports: string[] = [];
    const add = (node: Node, d: LinkDelay) => {
      const port = portOf(sw, node);
      must(["ip", "-n", sw, "link", "set", port, "nomaster"]);
      ports.push(`${port}:${d.out}:${d.in}`);
    };
    this.up.forEach((u, i) => {
      add(u, p.upstreams[i] ?? { out: 0, in: 0 });
    });
    add(this.member, p.member);
    add(this.deployer, p.deployer);
    for (const m of this.monitors) add(m, p.monitors);
    imageSpawn(
      [
        // Real-time priority: on a busy machine a late wakeup of the switch would add to
        // every delay (measured: +15 to +30 ms per round trip at normal priority).
        "chrt",
        "-f",
        "20",
        "/usr/bin/python3",
        path.join(ROOT, "lab", "guest", "linkem.py"),
        "--jitter-ms",
        String(p.jitterMs),
        "--loss",
        String(p.loss),
        ...ports,
      ],
      {
        root: this.tools,
        netns: sw,
        binds: [{ host: path.join(ROOT, "lab", "guest"), readOnly: true }],
      },
      { stdio: "ignore" },
    );
  }

  teardown(): void {
    this.net.teardown();
    rmSync(`/etc/netns/${this.member.ns}`, { recursive: true, force: true });
  }
}

function must(argv: readonly string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

/** The switch-side veth of `node`: the peer of its eth0 (found by interface index). */
function portOf(sw: string, node: Node): string {
  const r = spawnSync("ip", ["-n", node.ns, "-o", "link", "show", "eth0"], { encoding: "utf8" });
  const peer = /eth0@if(\d+)/.exec(r.stdout)?.[1];
  if (!peer) throw new Error(`${node.ns}: no veth peer index in ${r.stdout}`);
  const l = spawnSync("ip", ["-n", sw, "-o", "link"], { encoding: "utf8" });
  const line = l.stdout.split("\n").find((x) => x.startsWith(`${peer}: `));
  const name = line?.split(": ")[1]?.split("@")[0];
  if (!name) throw new Error(`${sw}: no interface ${peer}`);
  return name;
}
