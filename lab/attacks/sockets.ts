/**
 * What every attack sender shares: the hard caps (checked before anything is sent) and the
 * UDP socket primitives.
 */
import * as dgram from "node:dgram";
import * as net from "node:net";

/** Hard caps: a spec beyond them is refused, not trimmed. */
export const LIMITS = {
  packets: 10_000,
  durationMs: 180_000,
  waitMs: 10_000,
  sources: 5_000,
  ports: 65_535,
} as const;

export function bound(field: string, value: number, max: number, min = 0): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${field}: must be from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A UDP socket, bound to `source` (any port) when given. */
export async function udpSocket(target: string, source?: string): Promise<dgram.Socket> {
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

export function send(
  s: dgram.Socket,
  packet: Buffer,
  port: number,
  address: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    s.send(packet, port, address, (err) => (err ? reject(err) : resolve()));
  });
}
