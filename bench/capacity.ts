/**
 * Part 2: the highest request rate a member answers with < 1% loss, from 131,072 source
 * addresses (so per-client rate limiting is not what is measured — its counter is reported
 * per step), for NTPsec with our config and chrony, each with the kernel's default socket
 * receive buffer and with a larger one. The daemon is pinned to CPU 1 and the generator
 * (bench/ntpload.c) to CPU 0 on a machine with ≥ 2 CPUs.
 */
import { spawn } from "node:child_process";
import {
  type BenchNet,
  type Daemon,
  type DaemonKind,
  LOAD_SOURCES,
  parseUdpSnmp,
  timeToSync,
} from "./daemons";
import type {
  CapacityConfig,
  CapacityResults,
  CapacityRun,
  GeneratorCheck,
  StepRecord,
} from "./results";
import { capacityOf, lossOf, nextRate, type StepPlan, type StepResult, verdictOf } from "./steps";

/** What ntpload prints (bench/ntpload.c). */
export interface LoadOutput extends StepResult {
  readonly sendSeconds: number;
  readonly bad: number;
  readonly dup: number;
  readonly sendErrors: number;
}

/** Parses and checks ntpload's JSON line. */
export function parseLoadOutput(text: string): LoadOutput {
  const line = text.trim().split("\n").at(-1) ?? "";
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`ntpload output: not JSON: ${JSON.stringify(text.slice(0, 300))}`);
  }
  const num = (k: string): number => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new Error(`ntpload output: ${k} must be a number (got ${JSON.stringify(v)})`);
    return v;
  };
  return {
    rate: num("rate"),
    sent: num("sent"),
    replies: num("replies"),
    kod: num("kod"),
    achievedRate: num("achievedRate"),
    sendSeconds: num("sendSeconds"),
    bad: num("bad"),
    dup: num("dup"),
    sendErrors: num("sendErrors"),
  };
}

/** `ss -uamn` → the receive buffer (`rb`) of the socket bound to `addr`:123. */
export function parseSsRcvbuf(text: string, addr: string): number | null {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const cols = (lines[i] as string).trim().split(/\s+/);
    if (cols[3] === `${addr}:123`) {
      const m = /\brb(\d+)/.exec(`${lines[i]} ${lines[i + 1] ?? ""}`);
      if (m) return Number(m[1]);
    }
  }
  return null;
}

export interface CapacityVariant {
  readonly name: string;
  readonly kind: DaemonKind;
  /** Socket receive buffer (bytes) given through bench/rcvbuf.c; null = rmem_default. */
  readonly rcvbuf: number | null;
}

/**
 * Each daemon with the kernel default buffer, then with each larger buffer; NTPsec
 * gets every size in `ntpsecBuffers`, chrony only the largest (the reference). Pure.
 */
export function capacityVariants(ntpsecBuffers: readonly number[]): CapacityVariant[] {
  const mib = (b: number) => `${b / 1_048_576} MiB`;
  const top = ntpsecBuffers.length > 0 ? Math.max(...ntpsecBuffers) : null;
  return [
    { name: "NTPsec, our config, kernel default buffer", kind: "ntpsec", rcvbuf: null },
    ...ntpsecBuffers.map((b) => ({
      name: `NTPsec, our config, rcvbuf ${mib(b)}`,
      kind: "ntpsec" as const,
      rcvbuf: b,
    })),
    { name: "chrony, equivalent config", kind: "chrony", rcvbuf: null },
    ...(top !== null
      ? [{ name: `chrony, rcvbuf ${mib(top)}`, kind: "chrony" as const, rcvbuf: top }]
      : []),
  ];
}

export interface CapacityOptions {
  readonly plan: StepPlan;
  readonly stepSeconds: number;
  /** Ladders per configuration. */
  readonly repeats: number;
  /** The configurations to measure, in order (see capacityVariants). */
  readonly variants: readonly CapacityVariant[];
  readonly ntpload: string;
  readonly nproc: number;
}

/** Seconds the generator keeps reading after its last send (late replies still count). */
const DRAIN_MS = 300;
/** Pause between steps: the daemon's queue empties, per-client rate scores decay. */
const PAUSE_MS = 500;

export async function measureCapacity(
  bn: BenchNet,
  o: CapacityOptions,
  log: (m: string) => void,
): Promise<CapacityResults> {
  const pinned = o.nproc >= 2;
  const genCpu = pinned ? 0 : undefined;
  const daemonCpu = pinned ? 1 : undefined;
  const load = (target: string, rate: number, seconds: number): Promise<LoadOutput> =>
    runLoad(bn, o.ntpload, target, rate, seconds, genCpu);

  if (pinned) {
    await bn.steer(bn.loader, 0);
    for (const m of Object.values(bn.members)) await bn.steer(m, 1);
  }
  const generator = await checkGenerator(bn, load, Math.max(...o.plan.ladder), o.stepSeconds);
  log(
    `generator vs drop-everything target: unpaced ${Math.round(generator.unpacedRate)}/s; paced ${generator.pacedTarget}/s → ${Math.round(generator.pacedAchieved)}/s`,
  );

  const configs: CapacityConfig[] = [];
  for (const v of o.variants) {
    const runs: CapacityRun[] = [];
    let observed: number | null = null;
    for (let rep = 1; rep <= o.repeats; rep++) {
      const tag = `cap-${v.kind}-${v.rcvbuf ?? "default"}-${rep}`;
      const t0 = Date.now();
      const opts = { tag, cpu: daemonCpu, ...(v.rcvbuf !== null ? { rcvbuf: v.rcvbuf } : {}) };
      const d = v.kind === "ntpsec" ? bn.startNtpsec(opts) : bn.startChrony(opts);
      try {
        await timeToSync(d, t0, 60_000, 500);
        observed = parseSsRcvbuf(await bn.mustExec(d.node, ["ss", "-uamn"]), d.node.ipv4);
        const steps: StepRecord[] = [];
        for (
          let rate = nextRate(o.plan, steps);
          rate !== undefined && steps.length < 20;
          rate = nextRate(o.plan, steps)
        ) {
          steps.push(await step(bn, d, () => load(d.node.ipv4, rate, o.stepSeconds)));
          const s = steps.at(-1) as StepRecord;
          log(
            `${v.name} #${rep}: ${rate}/s → sent ${Math.round(s.achievedRate)}/s, loss ${(s.loss * 100).toFixed(2)}% (${s.verdict}; member rcvbuf drops ${s.memberRcvbufErrors}, rate-limited ${s.rateLimited ?? "?"})`,
          );
          await new Promise((r) => setTimeout(r, PAUSE_MS));
        }
        runs.push({ steps, capacity: capacityOf(steps) });
      } finally {
        await d.stop();
      }
    }
    configs.push({ ...v, observedRcvbuf: observed, runs });
  }
  return { sources: LOAD_SOURCES.count, stepSeconds: o.stepSeconds, pinned, generator, configs };
}

async function step(bn: BenchNet, d: Daemon, go: () => Promise<LoadOutput>): Promise<StepRecord> {
  const snmp = async () =>
    Promise.all([
      bn.mustExec(d.node, ["cat", "/proc/net/snmp"]),
      bn.mustExec(bn.loader, ["cat", "/proc/net/snmp"]),
    ]).then(([m, l]) => [parseUdpSnmp(m), parseUdpSnmp(l)] as const);
  const [m0, l0] = await snmp();
  const rl0 = await d.rateLimited();
  const out = await go();
  // Replies still in flight when the generator stopped reading are not counted; wait for
  // the counters to settle before reading them.
  await new Promise((r) => setTimeout(r, 200));
  const [m1, l1] = await snmp();
  const rl1 = await d.rateLimited();
  const delta = (a: Record<string, number>, b: Record<string, number>, k: string) =>
    (b[k] ?? 0) - (a[k] ?? 0);
  return {
    rate: out.rate,
    sent: out.sent,
    replies: out.replies,
    kod: out.kod,
    achievedRate: out.achievedRate,
    sendSeconds: out.sendSeconds,
    loss: lossOf(out),
    verdict: verdictOf(out),
    memberRcvbufErrors: delta(m0, m1, "RcvbufErrors"),
    loaderRcvbufErrors: delta(l0, l1, "RcvbufErrors"),
    rateLimited: rl0 !== null && rl1 !== null ? rl1 - rl0 : null,
  };
}

function runLoad(
  bn: BenchNet,
  bin: string,
  target: string,
  rate: number,
  seconds: number,
  cpu: number | undefined,
): Promise<LoadOutput> {
  const pin = cpu !== undefined ? ["taskset", "-c", String(cpu)] : [];
  const argv = [
    "ip",
    "netns",
    "exec",
    bn.loader.ns,
    ...pin,
    bin,
    target,
    String(rate),
    String(seconds),
    LOAD_SOURCES.base,
    String(LOAD_SOURCES.count),
    String(DRAIN_MS),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    // ntpload bounds itself with alarm(); this is the outer bound.
    const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 15) * 1000);
    child.on("error", (e) => reject(new Error(`cannot run ntpload: ${e.message}`)));
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`ntpload ${rate}/s exited ${code}: ${err.trim()}`));
      else {
        try {
          resolve(parseLoadOutput(out));
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}

/**
 * The generator against a target that drops every request before any socket (nftables,
 * raw prerouting, in the NTPsec member's namespace): its unpaced rate, and whether it holds
 * the ladder's top rate.
 */
async function checkGenerator(
  bn: BenchNet,
  load: (target: string, rate: number, seconds: number) => Promise<LoadOutput>,
  top: number,
  seconds: number,
): Promise<GeneratorCheck> {
  const node = bn.members.ntpsec;
  bn.net.nft(
    node,
    [
      "table inet benchdrop {",
      "  chain pre {",
      "    type filter hook prerouting priority raw; policy accept;",
      "    udp dport 123 drop",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  try {
    const unpaced = await load(node.ipv4, 0, seconds);
    const paced = await load(node.ipv4, top, seconds);
    if (unpaced.replies + paced.replies > 0)
      throw new Error("drop-everything target answered: the nft drop rule is not in effect");
    return {
      unpacedRate: unpaced.achievedRate,
      pacedTarget: top,
      pacedAchieved: paced.achievedRate,
      seconds,
    };
  } finally {
    bn.net.nft(node, "delete table inet benchdrop\n");
  }
}
