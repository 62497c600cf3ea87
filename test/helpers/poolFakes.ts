/**
 * Local stand-ins for the pool tests: an in-process NTP server and a score API server, both
 * bound to loopback on a random port (tests send packets nowhere else).
 */
import dgram from "node:dgram";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { NtpHeader } from "../../ntp/client";

const NTP_PACKET_BYTES = 48;
/** Seconds from 1900 (NTP era 0) to 1970 (RFC 5905 §6). */
const NTP_UNIX_EPOCH_DELTA = 2_208_988_800;

function writeNtpTimestamp(buf: Buffer, offset: number, unixSeconds: number): void {
  const ntp = unixSeconds + NTP_UNIX_EPOCH_DELTA;
  const seconds = Math.floor(ntp);
  buf.writeUInt32BE(seconds >>> 0, offset);
  buf.writeUInt32BE(Math.floor((ntp - seconds) * 2 ** 32) >>> 0, offset + 4);
}

export interface FakeNtpBehaviour {
  stratum?: number;
  leap?: number;
  /** Stratum-0 kiss code to send instead of time (e.g. "RATE"). */
  kiss?: string;
  /** Ignore this many requests before answering (simulated loss). */
  dropFirst?: number;
  /** Never answer. */
  silent?: boolean;
  /** Reply with a mismatched origin timestamp (a reply that is not ours). */
  wrongOrigin?: boolean;
}

export interface FakeNtpServer {
  address: string;
  port: number;
  /** Date.now() at each received request. */
  arrivals: number[];
  close: () => Promise<void>;
}

export async function startFakeNtp(
  behaviour: FakeNtpBehaviour,
  host = "127.0.0.1",
): Promise<FakeNtpServer> {
  const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  const arrivals: number[] = [];
  let dropped = 0;
  socket.on("message", (msg, rinfo) => {
    arrivals.push(Date.now());
    if (behaviour.silent) return;
    if (dropped < (behaviour.dropFirst ?? 0)) {
      dropped++;
      return;
    }
    const reply = Buffer.alloc(NTP_PACKET_BYTES);
    const leap = behaviour.kiss !== undefined ? 3 : (behaviour.leap ?? 0);
    reply[0] = (leap << 6) | (4 << 3) | 4;
    reply[1] = behaviour.kiss !== undefined ? 0 : (behaviour.stratum ?? 2);
    reply[2] = 6;
    reply.writeInt8(-20, 3);
    if (behaviour.kiss !== undefined) {
      reply.write(behaviour.kiss.padEnd(4, "\0"), 12, "latin1");
    } else {
      reply.writeUInt32BE(0xc0000201, 12);
    }
    const now = Date.now() / 1000;
    writeNtpTimestamp(reply, 16, now - 10);
    if (behaviour.wrongOrigin) {
      writeNtpTimestamp(reply, 24, now - 1000);
    } else {
      msg.copy(reply, 24, 40, 48);
    }
    writeNtpTimestamp(reply, 32, now);
    writeNtpTimestamp(reply, 40, now);
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    address: host,
    port,
    arrivals,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

export type FakeScoreAnswer =
  | { kind: "json"; body: unknown }
  | { kind: "status"; status: number; body?: string }
  | { kind: "hang" };

export interface FakeScoreApi {
  base: string;
  /** Paths requested, in order (both the 301 source and target). */
  requests: string[];
  close: () => Promise<void>;
}

/**
 * Serves `/scores/<ip>/json` as 301 to `/api/data/server/scores/<ip>/json` (query kept), as
 * the real site does, then answers from `answers` by IP; unknown IPs get 404.
 */
export async function startFakeScoreApi(
  answers: Record<string, FakeScoreAnswer>,
): Promise<FakeScoreApi> {
  const requests: string[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push(`${url.pathname}${url.search}`);
    const legacy = url.pathname.match(/^\/scores\/([^/]+)\/json$/);
    if (legacy) {
      res.writeHead(301, { location: `/api/data/server/scores/${legacy[1]}/json${url.search}` });
      res.end();
      return;
    }
    const api = url.pathname.match(/^\/api\/data\/server\/scores\/([^/]+)\/json$/);
    const ip = api ? decodeURIComponent(api[1] ?? "") : "";
    const answer = answers[ip];
    if (!api || answer === undefined) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("Not Found");
      return;
    }
    if (answer.kind === "hang") {
      hanging.add(res);
      return;
    }
    if (answer.kind === "status") {
      res.writeHead(answer.status, { "content-type": "text/plain" });
      res.end(answer.body ?? "");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A score answer in the documented shape (docs/decisions.md#score-history), built from compact rows. */
export function scoreBody(
  ip: string,
  opts: {
    overall: { id: number; score: number; points: [number, number][] };
    monitors: { id: number; name: string; score: number; status?: string; offset: number | null }[];
  },
) {
  const history = [
    ...opts.overall.points.map(([ts, score]) => ({
      ts,
      offset: null,
      step: 1,
      score,
      monitor_id: opts.overall.id,
      rtt: null,
    })),
    ...opts.monitors.map((m, i) => ({
      ts: 1_800_000_000 + i,
      offset: m.offset,
      step: m.offset === null ? -5 : 1,
      score: m.score,
      monitor_id: m.id,
      rtt: 30 + i,
    })),
  ];
  return {
    history,
    monitors: [
      {
        id: opts.overall.id,
        name: "recentmedian",
        type: "score",
        ts: "2027-01-15T08:00:00Z",
        score: opts.overall.score,
        status: "active",
        avg_rtt: null,
      },
      ...opts.monitors.map((m, i) => ({
        id: m.id,
        name: m.name,
        type: "monitor",
        ts: "2027-01-15T08:00:00Z",
        score: m.score,
        status: m.status ?? "active",
        avg_rtt: 30 + i,
      })),
    ],
    server: { ip },
  };
}

/** A decoded server header: stratum 2, leap 0, with `over` applied (unit tests of replies). */
export const fakeHeader = (over: Partial<NtpHeader> = {}): NtpHeader => ({
  leap: 0,
  version: 4,
  mode: 4,
  stratum: 2,
  poll: 6,
  precision: -24,
  rootDelayMs: 0,
  rootDispersionMs: 0,
  refid: "10.0.0.1",
  referenceTs: 0n,
  originTs: 0n,
  receiveTs: 0n,
  transmitTs: 0n,
  ...over,
});

/**
 * Virtual time for concurrent waits: each sleep registers a wake-up; after the current
 * microtasks (setImmediate), the earliest one fires and the clock jumps to it.
 */
export function virtualClock() {
  let t = 0;
  const timers: { at: number; fire: () => void }[] = [];
  const sleep = (ms: number) =>
    new Promise<void>((fire) => {
      timers.push({ at: t + Math.max(0, ms), fire });
      setImmediate(() => {
        timers.sort((a, b) => a.at - b.at);
        const next = timers.shift();
        if (next === undefined) return;
        t = Math.max(t, next.at);
        next.fire();
      });
    });
  return { sleep, now: () => t };
}
