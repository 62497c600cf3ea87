/**
 * Bounded traffic generators for the attack suite. Every loop is bounded in count AND time
 * (the LIMITS below are hard caps, checked before anything is sent), and they are only ever
 * run by lab/attacks/cli.ts, which refuses to start in the host's network namespace: the
 * packets can reach nothing but the namespaces the run created.
 *
 * NTP packets come from lab/attacks/packets.ts and ntp/client.ts (one codec for the
 * project); this file only sends, listens and counts.
 */
import * as dgram from "node:dgram";
import * as net from "node:net";
import { classify, NTP_PACKET_BYTES, parseHeader, type Verdict } from "../../ntp/client";
import { amplification, ntpPacket, type Probe } from "./packets";

/** Hard caps: a spec beyond them is refused, not trimmed. */
export const LIMITS = {
  packets: 10_000,
  durationMs: 180_000,
  waitMs: 10_000,
  sources: 5_000,
  ports: 65_535,
} as const;

function bound(field: string, value: number, max: number, min = 0): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${field}: must be from ${min} to ${max}, got ${value}`);
  }
  return value;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A UDP socket, bound to `source` (any port) when given. */
async function udpSocket(target: string, source?: string): Promise<dgram.Socket> {
  const s = dgram.createSocket(net.isIPv6(target) ? "udp6" : "udp4");
  // Room for the 64 KiB probes and for a burst of replies during a flood.
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind({ address: source, port: 0 }, () => {
      s.off("error", reject);
      resolve();
    });
  });
  s.setSendBufferSize(1 << 20);
  s.setRecvBufferSize(1 << 20);
  return s;
}

function send(s: dgram.Socket, packet: Buffer, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.send(packet, port, address, (err) => (err ? reject(err) : resolve()));
  });
}

export interface ReflectionResult {
  readonly name: string;
  readonly rule: Probe["rule"];
  readonly source: string | null;
  readonly bytesOut: number;
  readonly bytesIn: number;
  readonly datagramsIn: number;
  /** Bytes in per byte out. */
  readonly ratio: number;
}

/**
 * Sends each probe once from its own socket (from `sources[i]` when given, so the server's
 * per-address rate limiter cannot hide an answer) and counts every byte that comes back from
 * target:port within `waitMs`.
 */
export async function reflect(opts: {
  target: string;
  port?: number;
  probes: readonly Probe[];
  sources?: readonly string[];
  waitMs?: number;
}): Promise<ReflectionResult[]> {
  const port = opts.port ?? 123;
  bound("probes", opts.probes.length, 200, 1);
  const waitMs = bound("waitMs", opts.waitMs ?? 2000, LIMITS.waitMs);
  const sources = opts.sources ?? [];
  return Promise.all(
    opts.probes.map(async (probe, i) => {
      const source = sources.length > 0 ? (sources[i % sources.length] as string) : undefined;
      const s = await udpSocket(opts.target, source);
      let bytesIn = 0;
      let datagramsIn = 0;
      s.on("message", (msg, rinfo) => {
        if (rinfo.port !== port) return;
        bytesIn += msg.length;
        datagramsIn += 1;
      });
      try {
        await send(s, probe.packet, port, opts.target);
        await sleep(waitMs);
      } finally {
        s.close();
      }
      return {
        name: probe.name,
        rule: probe.rule,
        source: source ?? null,
        bytesOut: probe.packet.length,
        bytesIn,
        datagramsIn,
        ratio: amplification(bytesIn, probe.packet.length),
      };
    }),
  );
}

export interface FloodResult {
  readonly sent: number;
  readonly seconds: number;
  /** Normal time answers (stratum 1–15). */
  readonly served: number;
  readonly kodRate: number;
  readonly otherReplies: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
  /** 1-based request number of the first KoD RATE, or null. */
  readonly firstKodAt: number | null;
  /** 1-based request number of the last answer of any kind, or null. */
  readonly lastAnswerAt: number | null;
}

/**
 * `count` mode-3 requests from one socket (one address, one port), evenly spread over
 * `durationMs`, then `waitMs` for late replies. Request k carries transmit = k, which the
 * server echoes as origin, so every reply is matched to its request.
 */
export async function flood(opts: {
  target: string;
  port?: number;
  source?: string;
  count: number;
  durationMs: number;
  waitMs?: number;
}): Promise<FloodResult> {
  const port = opts.port ?? 123;
  const count = bound("count", opts.count, LIMITS.packets, 1);
  const durationMs = bound("durationMs", opts.durationMs, LIMITS.durationMs, 1);
  const waitMs = bound("waitMs", opts.waitMs ?? 1000, LIMITS.waitMs);
  const s = await udpSocket(opts.target, opts.source);
  let served = 0;
  let kodRate = 0;
  let otherReplies = 0;
  let bytesIn = 0;
  let firstKodAt: number | null = null;
  let lastAnswerAt: number | null = null;
  s.on("message", (msg, rinfo) => {
    if (rinfo.port !== port) return;
    bytesIn += msg.length;
    if (msg.length < NTP_PACKET_BYTES) {
      otherReplies += 1;
      return;
    }
    const h = parseHeader(msg);
    const k = Number(h.originTs);
    const v = classify(h);
    lastAnswerAt = Math.max(lastAnswerAt ?? 0, k);
    if (v === "ok") served += 1;
    else if (v === "rate-limited") {
      kodRate += 1;
      firstKodAt = Math.min(firstKodAt ?? k, k);
    } else otherReplies += 1;
  });
  const t0 = performance.now();
  let sent = 0;
  try {
    // 10 ms ticks: each sends however many requests are due by then.
    while (sent < count && performance.now() - t0 < durationMs + 1000) {
      const due = Math.min(count, Math.ceil(((performance.now() - t0) / durationMs) * count));
      while (sent < due) {
        sent += 1;
        await send(s, ntpPacket({ mode: 3, nonce: BigInt(sent) }), port, opts.target);
      }
      if (sent < count) await sleep(10);
    }
    await sleep(waitMs);
  } finally {
    s.close();
  }
  return {
    sent,
    seconds: (performance.now() - t0 - waitMs) / 1000,
    served,
    kodRate,
    otherReplies,
    bytesOut: sent * NTP_PACKET_BYTES,
    bytesIn,
    firstKodAt,
    lastAnswerAt,
  };
}

type SampleOutcome = Verdict | "timeout";

interface Sample {
  /** Seconds since the client started. */
  readonly at: number;
  readonly outcome: SampleOutcome;
}

/** One mode-3 request from a fresh socket bound to `source`; the reply must echo our nonce. */
async function sample(opts: {
  target: string;
  port?: number;
  source?: string;
  timeoutMs?: number;
}): Promise<SampleOutcome> {
  const port = opts.port ?? 123;
  const timeoutMs = bound("timeoutMs", opts.timeoutMs ?? 3000, LIMITS.waitMs, 1);
  const nonce = BigInt(Math.floor(Math.random() * 2 ** 48)) + 1n;
  const s = await udpSocket(opts.target, opts.source);
  try {
    return await new Promise<SampleOutcome>((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), timeoutMs);
      s.on("message", (msg, rinfo) => {
        if (rinfo.port !== port || msg.length < NTP_PACKET_BYTES) return;
        const h = parseHeader(msg);
        if (h.originTs !== nonce) return;
        clearTimeout(timer);
        resolve(classify(h));
      });
      send(s, ntpPacket({ mode: 3, nonce }), port, opts.target).catch(() => {
        clearTimeout(timer);
        resolve("timeout");
      });
    });
  } finally {
    s.close();
  }
}

export interface ClientResult {
  readonly source: string | null;
  readonly samples: readonly Sample[];
  readonly answered: number;
  readonly rateLimited: number;
  readonly total: number;
}

function summarise(source: string | undefined, samples: Sample[]): ClientResult {
  return {
    source: source ?? null,
    samples,
    answered: samples.filter((s) => s.outcome === "ok").length,
    rateLimited: samples.filter((s) => s.outcome === "rate-limited").length,
    total: samples.length,
  };
}

/**
 * Send times in milliseconds, each answered by `sample` (timeout `timeoutMs`). Overlapping
 * samples are allowed, so a slow answer never shifts the schedule.
 */
export async function scheduledClient(opts: {
  target: string;
  port?: number;
  source?: string;
  timesMs: readonly number[];
  timeoutMs?: number;
}): Promise<ClientResult> {
  bound("samples", opts.timesMs.length, LIMITS.packets, 1);
  bound("last send time", Math.max(...opts.timesMs), LIMITS.durationMs);
  const t0 = performance.now();
  const samples = await Promise.all(
    opts.timesMs.map(async (at) => {
      await sleep(Math.max(0, at - (performance.now() - t0)));
      const outcome = await sample({ ...opts });
      return { at: at / 1000, outcome };
    }),
  );
  return summarise(opts.source, samples);
}

export interface ManyClientsResult {
  readonly sources: number;
  readonly queries: number;
  readonly answered: number;
  readonly rateLimited: number;
  readonly timeouts: number;
  readonly otherReplies: number;
  /** Distinct source addresses that got at least one normal answer. */
  readonly sourcesAnswered: number;
  readonly seconds: number;
}

/**
 * Each of `sources` sends `perSource` queries at deterministic pseudo-random times within
 * `windowMs` (a mix of one-shot clients and short pollers, as a pool server sees them).
 */
export async function manyClients(opts: {
  target: string;
  port?: number;
  sources: readonly string[];
  perSource: number;
  windowMs: number;
  timeoutMs?: number;
}): Promise<ManyClientsResult> {
  bound("sources", opts.sources.length, LIMITS.sources, 1);
  const perSource = bound("perSource", opts.perSource, 10, 1);
  bound("queries", opts.sources.length * perSource, LIMITS.packets, 1);
  const windowMs = bound("windowMs", opts.windowMs, LIMITS.durationMs, 1);
  let x = 0x2545f491;
  const rand = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  const plan: { source: string; at: number }[] = [];
  for (const source of opts.sources) {
    for (let k = 0; k < perSource; k++) {
      // Spread a source's queries ≥ 2 s apart when the window allows, like a polite client.
      const slot = windowMs / perSource;
      plan.push({ source, at: k * slot + rand() * Math.max(0, slot - 2000) });
    }
  }
  plan.sort((a, b) => a.at - b.at);
  const t0 = performance.now();
  const answeredBy = new Set<string>();
  const outcomes = await Promise.all(
    plan.map(async (p) => {
      await sleep(Math.max(0, p.at - (performance.now() - t0)));
      const o = await sample({
        target: opts.target,
        port: opts.port,
        source: p.source,
        timeoutMs: opts.timeoutMs ?? 3000,
      });
      if (o === "ok") answeredBy.add(p.source);
      return o;
    }),
  );
  return {
    sources: opts.sources.length,
    queries: outcomes.length,
    answered: outcomes.filter((o) => o === "ok").length,
    rateLimited: outcomes.filter((o) => o === "rate-limited").length,
    timeouts: outcomes.filter((o) => o === "timeout").length,
    otherReplies: outcomes.filter((o) => o !== "ok" && o !== "rate-limited" && o !== "timeout")
      .length,
    sourcesAnswered: answeredBy.size,
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface ScanResult {
  readonly protocol: "tcp" | "udp";
  readonly source: string | null;
  readonly scanned: number;
  /** TCP: connection accepted. UDP: a datagram came back. */
  readonly open: number[];
  /** TCP RST or ICMP port unreachable: the host answered "closed". */
  readonly refused: number[];
  /** Nothing came back within the timeout. */
  readonly silent: number;
  readonly seconds: number;
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

export interface ScanOptions {
  readonly target: string;
  readonly ports: readonly number[];
  readonly source?: string;
  readonly timeoutMs?: number;
  readonly concurrency?: number;
}

type ScanOutcome = "open" | "refused" | "silent";

/** TCP connect scan of `ports`, optionally from `source`. */
export function tcpScan(opts: ScanOptions): Promise<ScanResult> {
  return scan(
    "tcp",
    opts,
    256,
    (port, timeoutMs) =>
      new Promise<ScanOutcome>((resolve) => {
        const sock = net.connect({
          host: opts.target,
          port,
          ...(opts.source ? { localAddress: opts.source } : {}),
        });
        const done = (o: ScanOutcome) => {
          clearTimeout(timer);
          sock.destroy();
          resolve(o);
        };
        const timer = setTimeout(() => done("silent"), timeoutMs);
        sock.once("connect", () => done("open"));
        sock.once("error", (e: NodeJS.ErrnoException) =>
          done(e.code === "ECONNREFUSED" ? "refused" : "silent"),
        );
      }),
  );
}

/**
 * UDP scan: a 48-byte NTP client request to each port from a connected socket, so an ICMP
 * port-unreachable surfaces as ECONNREFUSED.
 */
export function udpScan(opts: ScanOptions): Promise<ScanResult> {
  return scan("udp", opts, 128, async (port, timeoutMs) => {
    const s = await udpSocket(opts.target, opts.source);
    const outcome = await new Promise<ScanOutcome>((resolve) => {
      const timer = setTimeout(() => resolve("silent"), timeoutMs);
      const done = (o: "open" | "refused") => {
        clearTimeout(timer);
        resolve(o);
      };
      s.on("message", () => done("open"));
      s.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "ECONNREFUSED") done("refused");
      });
      s.connect(port, opts.target, () => {
        s.send(ntpPacket({ mode: 3, nonce: 1n }), (err) => {
          if (err && (err as NodeJS.ErrnoException).code === "ECONNREFUSED") done("refused");
        });
      });
    });
    s.close();
    return outcome;
  });
}

/** Probes every port (bounded in count and per-probe time) and sorts the outcomes. */
async function scan(
  protocol: ScanResult["protocol"],
  opts: ScanOptions,
  defaultConcurrency: number,
  probe: (port: number, timeoutMs: number) => Promise<ScanOutcome>,
): Promise<ScanResult> {
  bound("ports", opts.ports.length, LIMITS.ports, 1);
  const timeoutMs = bound("timeoutMs", opts.timeoutMs ?? 1000, LIMITS.waitMs, 1);
  const open: number[] = [];
  const refused: number[] = [];
  let silent = 0;
  const t0 = performance.now();
  await pool(opts.ports, opts.concurrency ?? defaultConcurrency, async (port) => {
    const outcome = await probe(port, timeoutMs);
    if (outcome === "open") open.push(port);
    else if (outcome === "refused") refused.push(port);
    else silent += 1;
  });
  return {
    protocol,
    source: opts.source ?? null,
    scanned: opts.ports.length,
    open: open.sort((a, b) => a - b),
    refused: refused.sort((a, b) => a - b),
    silent,
    seconds: (performance.now() - t0) / 1000,
  };
}
