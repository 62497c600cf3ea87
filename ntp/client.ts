/**
 * A small NTP client for the outside check, so the deployer needs nothing but Node.
 *
 * - `queryNtp` sends one client request (mode 3, RFC 5905 §7.3) and returns the server's
 *   header plus offset and delay (RFC 5905 §8: offset = ((T2-T1)+(T3-T4))/2,
 *   delay = (T4-T1)-(T3-T2)). Like ntpdig it is one request per call, no filtering.
 *   The transmit timestamp we send is random (draft-ietf-ntp-data-minimization §4): the
 *   server must echo it as its origin timestamp, which rejects stray and spoofed replies;
 *   T1 is kept locally instead. Each query uses a fresh socket, so a random source port
 *   (RFC 9109).
 * - `probeMode6` sends one NTP control request (mode 6, READVAR of association 0, the
 *   packet `ntpq -c rv` sends; RFC 9327 §2) and reports whether anything came back. A
 *   public server must not answer: a 12-byte request that yields a ~500-byte variable list is
 *   a reflection amplifier. With `restrict default noquery` NTPsec drops it silently.
 * - `Pacer` keeps at least 2 s between packets to one address: NTPsec's `limited` answers a
 *   1 packet/s client with KoD RATE after ~75 s (test/real/verify-outside.test.ts floods one).
 *
 * Times are in milliseconds. Only sockets to the caller's address are opened.
 */
import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { POOL_RULES } from "./poolRules";

/** Seconds between 1900-01-01 (NTP era 0) and 1970-01-01 (RFC 5905 §6). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const TWO_32 = 4_294_967_296;
export const NTP_PACKET_BYTES = 48;

/** Wall clock with sub-millisecond resolution (Date.now() has whole milliseconds). */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Header of a server reply (RFC 5905 Figure 8). */
export interface NtpHeader {
  /** Leap indicator; 3 = clock not synchronised. */
  readonly leap: number;
  readonly version: number;
  readonly mode: number;
  /** 0 = kiss-o'-death / unspecified (stratum 16 is sent as 0), 1 primary, 2–15 secondary. */
  readonly stratum: number;
  readonly poll: number;
  readonly precision: number;
  /** Milliseconds. */
  readonly rootDelayMs: number;
  /** Milliseconds. */
  readonly rootDispersionMs: number;
  /**
   * Stratum 0: the kiss code ("RATE", "DENY", "RSTR", "INIT", ...). Stratum 1: the source
   * ("GPS", "LOOP" for NTPsec orphan mode). Higher: IPv4 of the upstream, or 8 hex digits
   * (hash of an IPv6 upstream).
   */
  readonly refid: string;
  /** The four timestamps as raw 64-bit NTP values (seconds·2³² + fraction). */
  readonly referenceTs: bigint;
  readonly originTs: bigint;
  readonly receiveTs: bigint;
  readonly transmitTs: bigint;
}

/** Builds a 48-byte client request: LI 0, version 4, mode 3, transmit = `nonce`. */
export function buildClientRequest(nonce: bigint): Buffer {
  const b = Buffer.alloc(NTP_PACKET_BYTES);
  b[0] = (0 << 6) | (4 << 3) | 3;
  b.writeBigUInt64BE(nonce, 40);
  return b;
}

/** Decodes a server reply; throws on a short packet. */
export function parseHeader(b: Buffer): NtpHeader {
  if (b.length < NTP_PACKET_BYTES)
    throw new Error(`NTP reply: ${b.length} bytes, need ${NTP_PACKET_BYTES}`);
  const b0 = b[0] as number;
  const stratum = b[1] as number;
  return {
    leap: b0 >> 6,
    version: (b0 >> 3) & 7,
    mode: b0 & 7,
    stratum,
    poll: b.readInt8(2),
    precision: b.readInt8(3),
    rootDelayMs: (b.readUInt32BE(4) / 65536) * 1000,
    rootDispersionMs: (b.readUInt32BE(8) / 65536) * 1000,
    refid: decodeRefid(b.subarray(12, 16), stratum),
    referenceTs: b.readBigUInt64BE(16),
    originTs: b.readBigUInt64BE(24),
    receiveTs: b.readBigUInt64BE(32),
    transmitTs: b.readBigUInt64BE(40),
  };
}

function decodeRefid(r: Buffer, stratum: number): string {
  if (stratum <= 1) return r.toString("latin1").replace(/\0+$/, "");
  if (stratum >= 16) return r.toString("hex");
  return `${r[0]}.${r[1]}.${r[2]}.${r[3]}`;
}

/**
 * Converts a 64-bit NTP timestamp to Unix milliseconds. The 32-bit seconds field wraps in
 * 2036 (era 1); the era is chosen so the result lies within 68 years of `pivotMs`
 * (RFC 5905 §6, "era" arithmetic).
 */
export function ntpToUnixMs(ts: bigint, pivotMs: number): number {
  const seconds = Number(ts >> 32n);
  const fraction = Number(ts & 0xffffffffn) / TWO_32;
  const pivotNtp = pivotMs / 1000 + NTP_UNIX_OFFSET_S;
  const era = Math.round((pivotNtp - seconds) / TWO_32);
  return (seconds + era * TWO_32 + fraction - NTP_UNIX_OFFSET_S) * 1000;
}

/** Classification of a reply. */
export type Verdict =
  | "ok"
  /** Leap 3 or kiss code INIT/STEP: the server has no time to give yet. */
  | "unsynchronised"
  /** Kiss code RATE: we were rate-limited (RFC 5905 §7.4). */
  | "rate-limited"
  /** Kiss code DENY or RSTR: access denied — the pool scores this −10 per check. */
  | "denied"
  /** Another kiss code. */
  | "kiss";

export interface NtpSample {
  readonly address: string;
  readonly header: NtpHeader;
  readonly verdict: Verdict;
  /** Server clock minus local clock, milliseconds. */
  readonly offsetMs: number;
  /** Round trip minus server processing time, milliseconds. */
  readonly delayMs: number;
  /** Local send time (T1), Unix milliseconds. */
  readonly sentAtMs: number;
}

/** Judges a header the way the pool monitor and ntpdig do. */
export function classify(h: NtpHeader): Verdict {
  if (h.stratum === 0) {
    if (h.refid === "RATE") return "rate-limited";
    if (h.refid === "DENY" || h.refid === "RSTR") return "denied";
    if (h.refid === "INIT" || h.refid === "STEP") return "unsynchronised";
    return "kiss";
  }
  if (h.leap === 3 || h.stratum >= 16) return "unsynchronised";
  return "ok";
}

/** Offset and delay from the four timestamps, all in Unix milliseconds (RFC 5905 §8). */
export function offsetAndDelay(
  t1: number,
  t2: number,
  t3: number,
  t4: number,
): { offsetMs: number; delayMs: number } {
  return { offsetMs: (t2 - t1 + (t3 - t4)) / 2, delayMs: t4 - t1 - (t3 - t2) };
}

export interface QueryOptions {
  readonly address: string;
  /** UDP port; 123 unless testing. */
  readonly port?: number;
  /** How long to wait for the reply, milliseconds (default: the pool monitor's 3000). */
  readonly timeoutMs?: number;
}

export class NtpTimeoutError extends Error {
  constructor(address: string, timeoutMs: number) {
    super(`no NTP reply from ${address} within ${timeoutMs} ms`);
    this.name = "NtpTimeoutError";
  }
}

/** Sends one mode-3 request to an IP address and resolves with the decoded sample. */
export async function queryNtp(opts: QueryOptions): Promise<NtpSample> {
  const port = opts.port ?? 123;
  const timeoutMs = opts.timeoutMs ?? POOL_RULES.timeoutMs;
  const nonce = randomBytes(8).readBigUInt64BE(0);
  const reply = await exchange(opts.address, port, buildClientRequest(nonce), timeoutMs, (msg) => {
    // A reply echoes our transmit value as its origin (RFC 5905 §8 "bogus" check).
    return (
      msg.length >= NTP_PACKET_BYTES &&
      ((msg[0] as number) & 7) === 4 &&
      msg.readBigUInt64BE(24) === nonce
    );
  });
  if (!reply) throw new NtpTimeoutError(opts.address, timeoutMs);
  const header = parseHeader(reply.msg);
  const t2 = ntpToUnixMs(header.receiveTs, reply.sentAtMs);
  const t3 = ntpToUnixMs(header.transmitTs, reply.sentAtMs);
  const { offsetMs, delayMs } = offsetAndDelay(reply.sentAtMs, t2, t3, reply.receivedAtMs);
  return {
    address: opts.address,
    header,
    verdict: classify(header),
    offsetMs,
    delayMs,
    sentAtMs: reply.sentAtMs,
  };
}

/** READVAR (opcode 2) of association 0, sequence `seq`: a 12-byte mode-6 request. */
export function buildMode6Request(seq: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = (0 << 6) | (2 << 3) | 6; // LI 0, version 2 (as ntpq sends), mode 6
  b[1] = 2; // R=0 E=0 M=0, opcode 2 = read variables
  b.writeUInt16BE(seq & 0xffff, 2);
  return b; // status, association id, offset, count: all 0
}

export interface Mode6Probe {
  /** True if any mode-6 datagram came back. */
  readonly answered: boolean;
  /** Bytes received in reply (0 when refused): the amplification a reflector would give. */
  readonly replyBytes: number;
}

/** Sends one mode-6 request and waits `timeoutMs` for any reply from that address. */
export async function probeMode6(opts: QueryOptions): Promise<Mode6Probe> {
  const seq = randomBytes(2).readUInt16BE(0);
  const reply = await exchange(
    opts.address,
    opts.port ?? 123,
    buildMode6Request(seq),
    opts.timeoutMs ?? POOL_RULES.timeoutMs,
    (msg) => {
      return (
        msg.length >= 12 && ((msg[0] as number) & 7) === 6 && msg.readUInt16BE(2) === (seq & 0xffff)
      );
    },
  );
  return { answered: reply !== undefined, replyBytes: reply?.msg.length ?? 0 };
}

interface Exchange {
  readonly msg: Buffer;
  readonly sentAtMs: number;
  readonly receivedAtMs: number;
}

/** Sends `packet` and resolves with the first datagram from address:port that `accept`s. */
function exchange(
  address: string,
  port: number,
  packet: Buffer,
  timeoutMs: number,
  accept: (msg: Buffer) => boolean,
): Promise<Exchange | undefined> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(isIPv6(address) ? "udp6" : "udp4");
    let sentAtMs = 0;
    let done = false;
    const finish = (result: Exchange | undefined, error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(result);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on("error", (err) => finish(undefined, err));
    socket.on("message", (msg, rinfo) => {
      const receivedAtMs = nowMs();
      if (rinfo.port !== port || !sameAddress(rinfo.address, address) || !accept(msg)) return;
      finish({ msg, sentAtMs, receivedAtMs });
    });
    sentAtMs = nowMs();
    socket.send(packet, port, address, (err) => {
      if (err) finish(undefined, err);
    });
  });
}

function sameAddress(a: string, b: string): boolean {
  const strip = (s: string) =>
    s
      .toLowerCase()
      .replace(/^::ffff:/, "")
      .replace(/%.*$/, "");
  return strip(a) === strip(b);
}

/** Spaces packets to each address by at least `gapMs` (default: the monitor's 2000). */
export class Pacer {
  private readonly last = new Map<string, number>();
  constructor(
    private readonly gapMs: number = POOL_RULES.sampleGapMs,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((r) => setTimeout(r, ms)),
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Resolves when a packet may be sent to `address`, and books that slot. */
  async wait(address: string): Promise<void> {
    const prev = this.last.get(address);
    if (prev !== undefined) {
      const due = prev + this.gapMs - this.clock();
      if (due > 0) await this.sleep(due);
    }
    this.last.set(address, this.clock());
  }
}
