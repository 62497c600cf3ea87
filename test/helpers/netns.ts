/**
 * Network namespaces + NTPsec daemons for the verification's real-tool tests
 * (docs/lab-mechanisms.md, #topology to #client-tools). One `NtpNet` per test file:
 *
 * - unique prefix `vf<6 hex>` per run; namespaces `<prefix>-<node>`, all nodes on one bridge
 *   that lives in its own `<prefix>-sw` namespace, so the host gets no interface or route;
 * - every daemon and client (ntpd, ntpq, ntpdig, nft, sshd, ssh, ...) runs from the lab's
 *   tools image (lab/imageExec.ts), never from the host, with this run's scratch dir bound
 *   at the same path; every ntpd runs as root without `-u` and without CAP_SYS_TIME: the
 *   kernel refuses every clock change, so the shared host clock is never touched (docs/lab-mechanisms.md#shared-clock);
 * - `teardown()` is synchronous and idempotent (kill by PID and by `ip netns pids`, delete
 *   the namespaces, remove the scratch dir) and also runs on SIGINT, SIGTERM and exit.
 *
 * Addresses are 10.77.0.0/24 and fd77::/64 inside the namespaces only.
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type RunResult, run } from "../../lab/exec";
import { toolsRoot } from "../../lab/image";
import { type ImageExecOptions, imageExecArgv, imageRun, imageSpawn } from "../../lab/imageExec";
import { renderLeapFile } from "../../lab/leapFile";

export { type RunResult, run };

export const ROOT = path.resolve(__dirname, "..", "..");
export const TSX_CLI = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");

function must(argv: readonly string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.status}): ${r.stderr}`);
}

export interface Node {
  readonly ns: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

export class NtpNet {
  readonly prefix = `vf${randomBytes(3).toString("hex")}`;
  readonly dir = mkdtempSync(path.join(tmpdir(), `${this.prefix}-`));
  private readonly sw = `${this.prefix}-sw`;
  /** The tools image every program of this net runs from. */
  readonly tools = toolsRoot();
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private ports = 0;
  private done = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.teardown();
    process.kill(process.pid, sig);
  };
  private readonly onExit = (): void => this.teardown();

  constructor() {
    process.once("SIGINT", this.onSignal);
    process.once("SIGTERM", this.onSignal);
    process.once("exit", this.onExit);
    this.namespaces.push(this.sw);
    must(["ip", "netns", "add", this.sw]);
    must(["ip", "-n", this.sw, "link", "add", "br0", "type", "bridge"]);
    must(["ip", "-n", this.sw, "link", "set", "br0", "up"]);
  }

  /** A namespace on the bridge with 10.77.0.<host>/24 and fd77::<host>/64 on eth0. */
  addNode(name: string, host: number): Node {
    const ns = `${this.prefix}-${name}`;
    const port = `${this.prefix}p${this.ports++}`;
    this.namespaces.push(ns);
    must(["ip", "netns", "add", ns]);
    must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    must([
      "ip",
      "-n",
      this.sw,
      "link",
      "add",
      port,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      ns,
    ]);
    must(["ip", "-n", this.sw, "link", "set", port, "master", "br0", "up"]);
    const node = { ns, ipv4: `10.77.0.${host}`, ipv6: `fd77::${host.toString(16)}` };
    must(["ip", "-n", ns, "addr", "add", `${node.ipv4}/24`, "dev", "eth0"]);
    // nodad: addresses here are unique by construction, and DAD would delay them ~2 s.
    must(["ip", "-n", ns, "addr", "add", `${node.ipv6}/64`, "dev", "eth0", "nodad"]);
    must(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    return node;
  }

  /**
   * Starts ntpd in `node` with `conf` (a driftfile line is added). Returns the log path.
   * The daemon never holds CAP_SYS_TIME (capsh --drop), and runs without -u.
   */
  startNtpd(node: Node, name: string, conf: string): { log: string; confPath: string } {
    const confPath = path.join(this.dir, `${name}.conf`);
    const log = path.join(this.dir, `${name}.log`);
    writeFileSync(confPath, `${conf}\ndriftfile ${this.dir}/${name}.drift\n`);
    this.spawn(node, [
      "/usr/sbin/ntpd",
      "-n",
      "-c",
      confPath,
      "-p",
      `${this.dir}/${name}.pid`,
      "-l",
      log,
    ]);
    return { log, confPath };
  }

  /** How a program of this net runs in `node`: from the tools image, the scratch dir bound. */
  imageOptions(node: Node, extra: Partial<ImageExecOptions> = {}): ImageExecOptions {
    return {
      root: this.tools,
      netns: node.ns,
      ...extra,
      binds: [{ host: this.dir }, ...(extra.binds ?? [])],
    };
  }

  /** Starts a long-running program in `node` from the tools image; teardown ends it. */
  spawn(node: Node, argv: readonly string[], extra: Partial<ImageExecOptions> = {}): ChildProcess {
    const child = imageSpawn(argv, this.imageOptions(node, extra), { stdio: "ignore" });
    this.children.push(child);
    return child;
  }

  /** Runs a program in `node` from the tools image to its end. */
  exec(
    node: Node,
    argv: readonly string[],
    opts: { input?: string; timeoutMs?: number } = {},
    extra: Partial<ImageExecOptions> = {},
  ): Promise<RunResult> {
    return imageRun(argv, this.imageOptions(node, extra), opts);
  }

  /** Runs a host program in `node` (only this project's own code, e.g. node running tsx). */
  hostExec(
    node: Node,
    argv: readonly string[],
    opts: { input?: string; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    return run(["ip", "netns", "exec", node.ns, ...argv], opts);
  }

  /** Loads an nftables ruleset inside `node` (gone with the namespace). */
  nft(node: Node, ruleset: string): void {
    const argv = imageExecArgv(["nft", "-f", "-"], this.imageOptions(node));
    const r = spawnSync(argv[0] as string, argv.slice(1), {
      input: ruleset,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`nft in ${node.ns}: ${r.stderr}`);
  }

  /** Writes a scratch file under this run's directory and returns its path. */
  file(name: string, text: string): string {
    const p = path.join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /** Synchronous and idempotent: processes, namespaces, scratch dir. */
  teardown(): void {
    if (this.done) return;
    this.done = true;
    process.removeListener("SIGINT", this.onSignal);
    process.removeListener("SIGTERM", this.onSignal);
    process.removeListener("exit", this.onExit);
    const pids = new Set<number>();
    for (const c of this.children) if (c.pid !== undefined && c.exitCode === null) pids.add(c.pid);
    for (const ns of this.namespaces) {
      const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
      for (const p of (r.stdout ?? "").split(/\s+/)) if (/^\d+$/.test(p)) pids.add(Number(p));
    }
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    spawnSync("sleep", ["0.2"]);
    for (const ns of [...this.namespaces].reverse()) spawnSync("ip", ["netns", "del", ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Namespaces with this run's prefix still present (for the no-leftovers assertion). */
  leftovers(): string[] {
    const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
    return (r.stdout ?? "").split("\n").filter((l) => l.startsWith(this.prefix));
  }
}

/** NTPsec orphan-mode server: stratum `stratum` with no upstreams, ~1.5 s after start. */
export function orphanConf(
  stratum = 1,
  restrict = "restrict default kod limited nomodify noquery",
): string {
  return [
    `tos orphan ${stratum} orphanwait 0`,
    restrict,
    "restrict 127.0.0.1",
    "restrict ::1",
  ].join("\n");
}

/** A pool member's ntp.conf (the parts that matter here), as cloud-init/ntpConf.ts writes it. */
/**
 * `noquery: false` adds an entry for the lab network WITHOUT noquery, which makes ntpd
 * answer mode 6 to the lab's clients.
 */
export function memberConf(opts: {
  servers: readonly string[];
  leapfile?: string;
  noquery?: boolean;
}): string {
  return [
    ...(opts.leapfile ? [`leapfile ${opts.leapfile}`] : []),
    "tos minclock 4 minsane 3",
    ...opts.servers.map((s) => `server ${s} iburst`),
    "restrict default kod limited nomodify noquery",
    // NTPsec 1.2.2 never answers mode 6 to an address that only the default entry matches,
    // noquery or not (measured); a reflector is a member with a broader entry without
    // noquery, as an operator might add for a monitoring network.
    ...(opts.noquery === false
      ? ["restrict 10.77.0.0 mask 255.255.255.0 kod limited nomodify"]
      : []),
    "restrict 127.0.0.1",
    "restrict ::1",
  ].join("\n");
}

/**
 * The tools image's leap-seconds.list (Debian's tzdata) with a new expiry (`#@`) and a correct
 * `#h` hash (lab/leapFile.ts), so ntpd logs "good hash signature" and loads it.
 */
export function leapFileExpiring(expiresUnixSeconds: number): string {
  return renderLeapFile(
    readFileSync(path.join(toolsRoot(), "usr/share/zoneinfo/leap-seconds.list"), "utf8"),
    { expiresUnix: expiresUnixSeconds },
  );
}

/** Polls `ntpq -c rv` in `node` every 2 s until ntpd reports leap 00, or throws. */
export async function waitSynced(net: NtpNet, node: Node, limitMs = 40_000): Promise<void> {
  const until = Date.now() + limitMs;
  for (;;) {
    const r = await net.exec(node, ["ntpq", "-c", "rv 0 leap,stratum"]);
    if (/leap=00/.test(r.stdout)) return;
    if (Date.now() > until)
      throw new Error(
        `${node.ns}: ntpd not synchronised after ${limitMs} ms: ${r.stdout}${r.stderr}`,
      );
    await new Promise((res) => setTimeout(res, 2000));
  }
}
