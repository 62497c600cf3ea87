/**
 * The bench's namespaces and daemons, on top of test/helpers/netns.ts (`NtpNet`: bridge,
 * nodes, teardown on exit and signals). Four NTPsec orphan-mode stratum-1 upstreams, one
 * member node per daemon (NTPsec with OUR ntp.conf, chrony with the equivalent config) and a
 * load-generator node that owns 198.18.0.0/15 (RFC 2544 benchmark range) through an AnyIP
 * route, so the member sees 131,072 distinct clients. Every packet stays on the bench's
 * bridge. Every daemon runs under `capsh --drop=cap_sys_time` (host clock untouchable).
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import * as path from "node:path";
import { NTPSEC_PATHS, renderNtpConf } from "../cloud-init/ntpConf";
import { NOTRACK_RULESET } from "../cloud-init/userData";
import { imageSpawn } from "../lab/imageExec";
import { leapFileExpiring, type Node, NtpNet, orphanConf, waitSynced } from "../test/helpers/netns";
import { parseNtpqPeers, parseNtpqRv } from "../verify/parse";

/** The loader's source range: RFC 2544's 198.18.0.0/15, only ever inside the bench. */
export const LOAD_SOURCES = { base: "198.18.0.0", prefix: 15, count: 131_072 } as const;

export type DaemonKind = "ntpsec" | "chrony";

export interface SyncState {
  readonly synced: boolean;
  /** Short human-readable state, for timeouts. */
  readonly detail: string;
}

export interface Daemon {
  readonly kind: DaemonKind;
  readonly node: Node;
  /** Polls the daemon from inside its namespace (loopback, never rate-limited). */
  state(): Promise<SyncState>;
  /** Sends SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
  stop(): Promise<void>;
  /** Extra counters: requests the daemon itself refused for rate (ntpd/chronyd stats). */
  rateLimited(): Promise<number | null>;
}

export interface StartOptions {
  /** CPU to pin the daemon to (taskset), for the capacity steps. */
  readonly cpu?: number;
  /** Receive buffer (bytes) for its UDP sockets via bench/rcvbuf.c, as rmem_default would. */
  readonly rcvbuf?: number;
  /** A name unique within the run (scratch files). */
  readonly tag: string;
  /** NTPsec only: an edit of the rendered ntp.conf, for reference variants. */
  readonly editConf?: (conf: string) => string;
}

/**
 * chrony's equivalent of our ntp.conf: the same servers with iburst, `minsources 3` for
 * `tos minsane 3`, serve everyone (`allow`) with a per-client rate limit of the same order
 * as NTPsec's `limited` (average ≥ 1 s, a burst of 16 allowed), no command port; every path
 * in the run's scratch dir. Pure.
 */
export function renderChronyConf(servers: readonly string[], dir: string): string {
  return [
    ...servers.map((s) => `server ${s} iburst`),
    "minsources 3",
    "allow",
    "ratelimit interval 0 burst 16",
    `driftfile ${dir}/chrony.drift`,
    `pidfile ${dir}/chronyd.pid`,
    `bindcmdaddress ${dir}/chronyd.sock`,
    "cmdport 0",
    `logdir ${dir}`,
    `dumpdir ${dir}`,
    "",
  ].join("\n");
}

/** OUR ntp.conf (cloud-init/ntpConf.ts) with its two host paths moved into the scratch dir. */
export function benchNtpConf(servers: readonly string[], drift: string, leap: string): string {
  return renderNtpConf(servers)
    .replaceAll(NTPSEC_PATHS.drift, drift)
    .replaceAll(NTPSEC_PATHS.leap, leap);
}

/** Parses `/proc/net/snmp`'s two `Udp:` lines into name → counter. */
export function parseUdpSnmp(text: string): Record<string, number> {
  const lines = text.split("\n").filter((l) => l.startsWith("Udp:"));
  if (lines.length < 2)
    throw new Error(
      `/proc/net/snmp: no Udp header and value lines in ${JSON.stringify(text.slice(0, 200))}`,
    );
  const names = (lines[0] as string).split(/\s+/).slice(1);
  const values = (lines[1] as string).split(/\s+/).slice(1);
  if (names.length !== values.length)
    throw new Error(`/proc/net/snmp: Udp has ${names.length} names but ${values.length} values`);
  return Object.fromEntries(names.map((n, i) => [n, Number(values[i])]));
}

/** `ntpq -c sysstats` → the "rate limited:" counter. */
export function parseNtpqRateLimited(text: string): number | null {
  const m = /^rate limited:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** `chronyc serverstats` → "NTP packets dropped" (chrony's rate-limit drops). */
export function parseChronyDropped(text: string): number | null {
  const m = /^NTP packets dropped\s*:\s*(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** `chronyc -n tracking` + `chronyc -n sources`: synced = leap Normal, stratum 2, a `^*`. */
export function chronySynced(tracking: string, sources: string): SyncState {
  const leap = /^Leap status\s*:\s*(.+)$/m.exec(tracking)?.[1]?.trim() ?? "?";
  const stratum = Number(/^Stratum\s*:\s*(\d+)/m.exec(tracking)?.[1] ?? Number.NaN);
  const peer = /^\^\*/m.test(sources);
  return {
    synced: leap === "Normal" && stratum === 2 && peer,
    detail: `leap ${leap}, stratum ${stratum}, system peer ${peer}`,
  };
}

/** Splits the output of `ntpq -c rv -c peers` at the peer table's header line. */
export function splitRvPeers(text: string): [string, string] {
  const m = /^\s+remote\s+refid\s/m.exec(text);
  return m ? [text.slice(0, m.index), text.slice(m.index)] : [text, text];
}

/** `ntpq -c rv` + `ntpq -pn`: synced = leap ≠ 11, stratum 2, a system peer (`*`). */
export function ntpsecSynced(rv: string, peers: string): SyncState {
  const r = parseNtpqRv(rv);
  if (!r.ok) return { synced: false, detail: `ntpq: ${r.failure}` };
  const p = parseNtpqPeers(peers);
  const star = p.ok && p.value.some((row) => row.tally === "*");
  const v = r.value;
  return {
    synced: v.leap !== 3 && v.stratum === 2 && v.peer !== 0 && star,
    detail: `leap ${v.leap}, stratum ${v.stratum}, system peer ${star}`,
  };
}

export class BenchNet {
  readonly net = new NtpNet();
  readonly upstreams: Node[] = [];
  readonly members: Record<DaemonKind, Node>;
  readonly loader: Node;

  constructor(private readonly tools: { rcvbufShim: string }) {
    for (let i = 1; i <= 4; i++) this.upstreams.push(this.net.addNode(`u${i}`, 10 + i));
    this.members = { ntpsec: this.net.addNode("ntp", 2), chrony: this.net.addNode("chr", 3) };
    this.loader = this.net.addNode("load", 100);
  }

  get prefix(): string {
    return this.net.prefix;
  }

  /** Upstreams up and stratum 1; routes and the deployed notrack ruleset on the members. */
  async up(): Promise<void> {
    // A real member starts once; the bench restarts it many times, so the upstreams do not
    // rate-limit (`limited` would start to bite after ~20 restarts from one address).
    for (const [i, u] of this.upstreams.entries())
      this.net.startNtpd(u, `up${i + 1}`, orphanConf(1, "restrict default nomodify noquery"));
    await Promise.all(this.upstreams.map((u) => waitSynced(this.net, u, 30_000)));
    await this.mustExec(this.loader, [
      "ip",
      "route",
      "add",
      "local",
      `${LOAD_SOURCES.base}/${LOAD_SOURCES.prefix}`,
      "dev",
      "lo",
    ]);
    for (const m of Object.values(this.members)) {
      await this.mustExec(m, [
        "ip",
        "route",
        "add",
        `${LOAD_SOURCES.base}/${LOAD_SOURCES.prefix}`,
        "via",
        this.loader.ipv4,
      ]);
      // As deployed: user-data loads this table at boot (cloud-init/userData.ts).
      this.net.nft(m, NOTRACK_RULESET);
    }
  }

  async mustExec(node: Node, argv: readonly string[]): Promise<string> {
    const r = await this.net.exec(node, argv, { timeoutMs: 30_000 });
    if (r.code !== 0)
      throw new Error(`${argv.join(" ")} in ${node.ns} failed (exit ${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Starts `argv` in `node` from the tools image, output appended to `logFile`. */
  private spawnIn(
    node: Node,
    argv: readonly string[],
    logFile: string,
    opts: StartOptions,
  ): ChildProcess {
    // The shim is built on the host (bench/rcvbuf.c) and bound into the image read-only.
    const shim =
      opts.rcvbuf !== undefined
        ? {
            env: { NTP_BENCH_RCVBUF: String(opts.rcvbuf), LD_PRELOAD: this.tools.rcvbufShim },
            binds: [{ host: this.tools.rcvbufShim, readOnly: true }],
          }
        : {};
    const pin = opts.cpu !== undefined ? ["taskset", "-c", String(opts.cpu)] : [];
    const fd = openSync(logFile, "a");
    return imageSpawn([...pin, ...argv], this.net.imageOptions(node, shim), {
      stdio: ["ignore", fd, fd],
    });
  }

  /** NTPsec with OUR ntp.conf and the deployed options (`-g -N`), in the foreground. */
  startNtpsec(opts: StartOptions): Daemon {
    const node = this.members.ntpsec;
    const d = this.net.dir;
    const leap = this.net.file(
      `${opts.tag}.leap`,
      leapFileExpiring(Math.floor(Date.now() / 1000) + 180 * 86_400),
    );
    const rendered = benchNtpConf(
      this.upstreams.map((u) => u.ipv4),
      path.join(d, `${opts.tag}.drift`),
      leap,
    );
    const conf = this.net.file(
      `${opts.tag}.conf`,
      opts.editConf ? opts.editConf(rendered) : rendered,
    );
    // Debian's wrapper adds `-u ntpsec:ntpsec`; here ntpd stays root without CAP_SYS_TIME
    // (docs/lab-mechanisms.md#shared-clock), which changes nothing on the serving path.
    const child = this.spawnIn(
      node,
      [
        "/usr/sbin/ntpd",
        "-n",
        "-g",
        "-N",
        "-c",
        conf,
        "-p",
        `${d}/${opts.tag}.pid`,
        "-l",
        `${d}/${opts.tag}.log`,
      ],
      path.join(d, `${opts.tag}.out`),
      opts,
    );
    return {
      kind: "ntpsec",
      node,
      state: async () => {
        // One ntpq (a Python start-up, ~0.3 s) for both answers keeps the poll period short.
        const r = await this.net.exec(node, ["ntpq", "-n", "-c", "rv", "-c", "peers"], {
          timeoutMs: 10_000,
        });
        return ntpsecSynced(...splitRvPeers(r.stdout));
      },
      stop: () => stopChild(child),
      rateLimited: async () =>
        parseNtpqRateLimited(
          (await this.net.exec(node, ["ntpq", "-c", "sysstats"], { timeoutMs: 10_000 })).stdout,
        ),
    };
  }

  /** chronyd 4.3 from its Debian package, `-x` (never touches the clock), same servers. */
  startChrony(opts: StartOptions): Daemon {
    const node = this.members.chrony;
    const dir = path.join(this.net.dir, opts.tag);
    // chronyd refuses a command-socket directory that others can read ("Wrong permissions").
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const conf = this.net.file(
      `${opts.tag}.chrony.conf`,
      renderChronyConf(
        this.upstreams.map((u) => u.ipv4),
        dir,
      ),
    );
    // Unpacked into the tools image, not installed (lab/imageRecipe.ts TOOLS_UNPACKED).
    const chronyc = "/usr/bin/chronyc";
    // -d: foreground, log to stderr (no syslog socket in a namespace); -u root: the
    // package's _chrony user was never created (no maintainer scripts ran).
    const child = this.spawnIn(
      node,
      ["/usr/sbin/chronyd", "-x", "-d", "-u", "root", "-f", conf],
      path.join(this.net.dir, `${opts.tag}.out`),
      opts,
    );
    const sock = path.join(dir, "chronyd.sock");
    return {
      kind: "chrony",
      node,
      state: async () => {
        const t = await this.net.exec(node, [chronyc, "-h", sock, "-n", "tracking"], {
          timeoutMs: 10_000,
        });
        const s = await this.net.exec(node, [chronyc, "-h", sock, "-n", "sources"], {
          timeoutMs: 10_000,
        });
        return chronySynced(t.stdout, s.stdout);
      },
      stop: () => stopChild(child),
      rateLimited: async () =>
        parseChronyDropped(
          (await this.net.exec(node, [chronyc, "-h", sock, "serverstats"], { timeoutMs: 10_000 }))
            .stdout,
        ),
    };
  }

  /**
   * Receive packet steering (RPS) of `node`'s eth0 to one CPU. With the daemon pinned to
   * CPU 1 and the generator to CPU 0, steering the member's receive path to CPU 1 and the
   * loader's to CPU 0 puts everything a one-vCPU droplet's CPU would do for NTP (kernel
   * receive, daemon, reply transmit) on CPU 1, and the generator's own work on CPU 0.
   */
  async steer(node: Node, cpu: number): Promise<void> {
    const mask = (1 << cpu).toString(16);
    await this.mustExec(node, [
      "sh",
      "-c",
      `echo ${mask} > /sys/class/net/eth0/queues/rx-0/rps_cpus`,
    ]);
  }

  teardown(): void {
    this.net.teardown();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * Polls `d.state()` until synced; returns seconds since `t0` (ms, Date.now()) at the middle
 * of the first synchronised poll, and the poll period seen. Bounded by `limitMs`.
 */
export async function timeToSync(
  d: Daemon,
  t0: number,
  limitMs: number,
  periodMs = 250,
): Promise<{ seconds: number; pollSeconds: number }> {
  let polls = 0;
  let last = "";
  while (Date.now() - t0 < limitMs) {
    const start = Date.now();
    const s = await d.state();
    const end = Date.now();
    polls++;
    last = s.detail;
    if (s.synced)
      return { seconds: ((start + end) / 2 - t0) / 1000, pollSeconds: (end - t0) / 1000 / polls };
    await new Promise((r) => setTimeout(r, Math.max(0, periodMs - (end - start))));
  }
  throw new Error(
    `${d.kind} in ${d.node.ns}: not synchronised within ${limitMs} ms (last: ${last})`,
  );
}
