/**
 * Pure builders of the datagrams the attack suite sends to a member, and the pure model of
 * NTPsec's rate limiter used to choose the suite's rates. No I/O here.
 *
 * Packet layouts: RFC 5905 §7.3 (modes 1–5), RFC 9327 §2 (mode 6 control messages) and
 * ntp 4.2.x ntp_request.h (mode 7 "private" requests, the monlist amplifier of CVE-2013-5211).
 */
import { buildClientRequest, buildMode6Request, NTP_PACKET_BYTES } from "../../ntp/client";
import { POOL_RULES } from "../../ntp/poolRules";

/** One datagram to send, with what a safe public server must do with it. */
export interface Probe {
  /** Short name printed with the figure, e.g. "mode 6 readvar". */
  readonly name: string;
  readonly packet: Buffer;
  /**
   * "none": no byte may come back (management and private modes, junk).
   * "at-most-1": anything back must be no larger than what was sent.
   */
  readonly rule: "none" | "at-most-1";
}

/** First byte of an NTP header: leap (2 bits), version (3), mode (3). RFC 5905 Figure 8. */
export function headerByte(leap: number, version: number, mode: number): number {
  for (const [what, v, max] of [
    ["leap", leap, 3],
    ["version", version, 7],
    ["mode", mode, 7],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > max) {
      throw new Error(`headerByte: ${what} must be 0..${max}, got ${v}`);
    }
  }
  return (leap << 6) | (version << 3) | mode;
}

/**
 * A 48-byte NTP header with the given mode/version and a transmit timestamp of `nonce`,
 * zero-padded (or truncated) to `bytes`. A server echoes the transmit as its origin.
 */
export function ntpPacket(opts: {
  mode: number;
  version?: number;
  nonce?: bigint;
  bytes?: number;
}): Buffer {
  const bytes = opts.bytes ?? NTP_PACKET_BYTES;
  const base = buildClientRequest(opts.nonce ?? 0n);
  base[0] = headerByte(0, opts.version ?? 4, opts.mode);
  if (bytes <= NTP_PACKET_BYTES) return base.subarray(0, bytes);
  return Buffer.concat([base, Buffer.alloc(bytes - NTP_PACKET_BYTES)]);
}

/** Mode 6 opcodes (RFC 9327 §2, NTPsec ntp_control.h). */
export const MODE6 = {
  readstat: 1,
  readvar: 2,
  readclock: 4,
  /** READ_MRU: NTPsec's list of recent clients, the modern monlist (needs a nonce). */
  readMru: 10,
  /** REQ_NONCE: first step of ntpq's mrulist; its answer would be a small reflection. */
  reqNonce: 12,
} as const;

/** A 12-byte mode-6 request with the given opcode (READVAR is ntp/client.ts's builder). */
export function mode6Request(opcode: number, seq = 1): Buffer {
  const b = buildMode6Request(seq);
  b[1] = opcode & 0x1f;
  return b;
}

/**
 * A mode-7 MON_GETLIST_1 request (implementation 3 = XNTPD, request 42), the 8-byte header
 * padded to 48 bytes as ntpdc sends it: the classic monlist reflection (CVE-2013-5211),
 * which answered up to 600 client records. NTPsec removed mode 7 entirely.
 */
export function monlistRequest(): Buffer {
  const b = Buffer.alloc(NTP_PACKET_BYTES);
  b[0] = headerByte(0, 2, 7);
  b[2] = 3;
  b[3] = 42;
  return b;
}

/** Deterministic junk (xorshift32): the same bytes every run, so a failure is reproducible. */
export function junk(bytes: number, seed = 0x9e3779b9): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Largest UDP payload over IPv4 (65535 − 20 IP − 8 UDP): sent as ~45 fragments. */
export const MAX_UDP4_PAYLOAD = 65_507;

/**
 * The reflection probe set: every mode 0–7, the mode-6 and mode-7 amplifier requests,
 * oversized, short, wrong-version and junk datagrams.
 */
export function reflectionProbes(): Probe[] {
  const at1 = "at-most-1" as const;
  const none = "none" as const;
  return [
    { name: "mode 0 (reserved)", packet: ntpPacket({ mode: 0, nonce: 1n }), rule: at1 },
    { name: "mode 1 (symmetric active)", packet: ntpPacket({ mode: 1, nonce: 2n }), rule: at1 },
    { name: "mode 2 (symmetric passive)", packet: ntpPacket({ mode: 2, nonce: 3n }), rule: at1 },
    { name: "mode 3 (client)", packet: ntpPacket({ mode: 3, nonce: 4n }), rule: at1 },
    { name: "mode 4 (server)", packet: ntpPacket({ mode: 4, nonce: 5n }), rule: at1 },
    { name: "mode 5 (broadcast)", packet: ntpPacket({ mode: 5, nonce: 6n }), rule: at1 },
    { name: "mode 6 readstat", packet: mode6Request(MODE6.readstat), rule: none },
    { name: "mode 6 readvar", packet: mode6Request(MODE6.readvar), rule: none },
    { name: "mode 6 readclock", packet: mode6Request(MODE6.readclock), rule: none },
    { name: "mode 6 req_nonce", packet: mode6Request(MODE6.reqNonce), rule: none },
    { name: "mode 6 read_mru", packet: mode6Request(MODE6.readMru), rule: none },
    { name: "mode 7 monlist", packet: monlistRequest(), rule: none },
    { name: "mode 3 1 KiB", packet: ntpPacket({ mode: 3, nonce: 7n, bytes: 1024 }), rule: at1 },
    { name: "mode 3 4 KiB", packet: ntpPacket({ mode: 3, nonce: 8n, bytes: 4096 }), rule: at1 },
    {
      name: "mode 3 64 KiB (fragmented)",
      packet: ntpPacket({ mode: 3, nonce: 9n, bytes: MAX_UDP4_PAYLOAD }),
      rule: at1,
    },
    { name: "mode 6 64 KiB (fragmented)", packet: padded(mode6Request(2), 65_000), rule: none },
    { name: "short mode 3 (12 B)", packet: ntpPacket({ mode: 3, bytes: 12 }), rule: at1 },
    { name: "one byte", packet: Buffer.from([headerByte(0, 4, 3)]), rule: at1 },
    { name: "empty datagram", packet: Buffer.alloc(0), rule: at1 },
    { name: "version 0 mode 3", packet: ntpPacket({ mode: 3, version: 0, nonce: 10n }), rule: at1 },
    { name: "version 5 mode 3", packet: ntpPacket({ mode: 3, version: 5, nonce: 11n }), rule: at1 },
    { name: "version 7 mode 3", packet: ntpPacket({ mode: 3, version: 7, nonce: 12n }), rule: at1 },
    { name: "junk 48 B", packet: junk(48), rule: at1 },
    { name: "junk 1 KiB", packet: junk(1024, 7), rule: at1 },
  ];
}

function padded(b: Buffer, bytes: number): Buffer {
  return Buffer.concat([b, Buffer.alloc(Math.max(0, bytes - b.length))]);
}

/** Bytes answered per byte sent; 0 when nothing was sent. */
export function amplification(bytesIn: number, bytesOut: number): number {
  return bytesOut === 0 ? 0 : bytesIn / bytesOut;
}

/**
 * NTPsec 1.2.2's per-address rate score (ntpd/ntp_monitor.c, measured in docs/lab-mechanisms.md#rate-limiting):
 * decays with τ = 20 s and grows by 1/20 per packet; a packet that brings the score to
 * ≥ 1.0 (`limit average 1.0`) is limited (KoD RATE while the score is ≤ 1.5, silent drop
 * above). A 1 packet/s client is limited from its 75th packet on, as measured. Returns the
 * score including each packet, for send times in seconds.
 */
export function arrivalScores(times: readonly number[], tau = 20, step = 1 / 20): number[] {
  const out: number[] = [];
  let score = 0;
  let last: number | undefined;
  for (const t of times) {
    if (last !== undefined) score *= Math.exp(-(t - last) / tau);
    score += step;
    out.push(score);
    last = t;
  }
  return out;
}

/** Index of the first packet NTPsec would limit (arrival score ≥ `limit`), or -1. */
export function firstLimited(times: readonly number[], limit = 1.0): number {
  return arrivalScores(times).findIndex((s) => s >= limit);
}

/**
 * Send times (seconds) of the pool monitor's pattern: `samples` queries `gapS` apart at the
 * start of each cycle of `cycleS` seconds (the pool: ntp/poolRules.ts, every minute).
 */
export function monitorSchedule(
  cycles: number,
  cycleS = 60,
  samples: number = POOL_RULES.samples,
  gapS: number = POOL_RULES.sampleGapMs / 1000,
): number[] {
  const out: number[] = [];
  for (let c = 0; c < cycles; c++)
    for (let s = 0; s < samples; s++) out.push(c * cycleS + s * gapS);
  return out;
}

/** Evenly spaced send times (seconds): `count` packets at `perSecond`. */
export function steadySchedule(count: number, perSecond: number): number[] {
  return Array.from({ length: count }, (_, i) => i / perSecond);
}
