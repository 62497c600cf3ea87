/**
 * Port scans for the attack suite (TCP connect, UDP with an NTP request), bounded in port
 * count and per-probe time by lab/attacks/sockets.ts LIMITS.
 */
import * as net from "node:net";
import { ntpPacket } from "./packets";
import { bound, LIMITS, udpSocket } from "./sockets";

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
