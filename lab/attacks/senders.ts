/**
 * Bounded traffic generators for the attack suite. Every loop is bounded in count AND time
 * (lab/attacks/sockets.ts LIMITS are hard caps, checked before anything is sent), and they
 * are only ever run by lab/attacks/cli.ts, which refuses to start in the host's network
 * namespace: the packets can reach nothing but the namespaces the run created.
 *
 * NTP packets come from lab/attacks/packets.ts and ntp/client.ts (one codec for the
 * project); this file only sends, listens and counts.
 */
import { classify, NTP_PACKET_BYTES, parseHeader, type Verdict } from "../../ntp/client";
import { amplification, ntpPacket, type Probe } from "./packets";
import { bound, LIMITS, send, sleep, udpSocket } from "./sockets";

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
