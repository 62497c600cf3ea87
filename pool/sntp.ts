/**
 * A minimal SNTP client (RFC 4330 / RFC 5905 §7.3): one mode-3 request, one mode-4 reply.
 * Used by `pool register` to check, from here, that each address answers with a stratum the
 * pool's add form accepts. Packet building and parsing are pure; only `sntpQuery` does I/O.
 *
 * NOTE: verify/ is getting a fuller NTP client; this one exists because it was not there yet
 * when the pool CLI was written. The two should be merged (keep the pure parser tests).
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";

/** Seconds between the NTP era 0 epoch (1900-01-01) and the Unix epoch (RFC 5905 §6). */
export const NTP_UNIX_EPOCH_DELTA = 2_208_988_800;
export const NTP_PACKET_BYTES = 48;
export const NTP_PORT = 123;

export interface SntpReply {
  leap: number;
  version: number;
  mode: number;
  stratum: number;
  poll: number;
  precision: number;
  /** Seconds. */
  rootDelay: number;
  /** Seconds. */
  rootDispersion: number;
  /** Four ASCII characters for stratum 0/1 (kiss code or reference id), else an IPv4 form. */
  refId: string;
  /** Unix seconds (fractional). */
  originTime: number;
  receiveTime: number;
  transmitTime: number;
  /** The 8 raw origin-timestamp bytes, compared with what we sent (RFC 5905 §8 "bogus"). */
  originRaw: Buffer;
  /** Set when stratum is 0: the kiss code (RATE, DENY, RSTR, ...), RFC 5905 §7.4. */
  kissCode: string | null;
}

export interface SntpResult {
  address: string;
  reply: SntpReply;
  /** Seconds: ((T2 - T1) + (T3 - T4)) / 2, RFC 5905 §8. */
  offset: number;
  /** Seconds: (T4 - T1) - (T3 - T2). */
  delay: number;
}

/**
 * A client request: LI=0, VN=4, mode 3; the transmit timestamp carries `nonce` so the
 * reply's origin timestamp can be matched to it (RFC 5905 §8: the server echoes it).
 */
export function buildSntpRequest(nonce: Buffer): Buffer {
  if (nonce.length !== 8) {
    throw new Error(`SNTP request: nonce must be 8 bytes, got ${nonce.length}`);
  }
  const packet = Buffer.alloc(NTP_PACKET_BYTES);
  packet[0] = (0 << 6) | (4 << 3) | 3;
  nonce.copy(packet, 40);
  return packet;
}

function readTimestamp(buf: Buffer, offset: number): number {
  const seconds = buf.readUInt32BE(offset);
  const fraction = buf.readUInt32BE(offset + 4);
  if (seconds === 0 && fraction === 0) {
    return 0;
  }
  return seconds - NTP_UNIX_EPOCH_DELTA + fraction / 2 ** 32;
}

function readShortFormat(buf: Buffer, offset: number): number {
  return buf.readUInt16BE(offset) + buf.readUInt16BE(offset + 2) / 2 ** 16;
}

/** Encodes Unix seconds as an NTP 64-bit timestamp (used by tests' fake servers). */
export function writeNtpTimestamp(buf: Buffer, offset: number, unixSeconds: number): void {
  const ntp = unixSeconds + NTP_UNIX_EPOCH_DELTA;
  const seconds = Math.floor(ntp);
  buf.writeUInt32BE(seconds >>> 0, offset);
  buf.writeUInt32BE(Math.floor((ntp - seconds) * 2 ** 32) >>> 0, offset + 4);
}

/** Parses a server reply. Throws with the field and value when it is not a usable reply. */
export function parseSntpReply(buf: Buffer): SntpReply {
  if (buf.length < NTP_PACKET_BYTES) {
    throw new Error(
      `SNTP reply: length must be >= ${NTP_PACKET_BYTES} bytes, got ${buf.length} bytes`,
    );
  }
  const b0 = buf.readUInt8(0);
  const leap = b0 >> 6;
  const version = (b0 >> 3) & 0x7;
  const mode = b0 & 0x7;
  const stratum = buf.readUInt8(1);
  const refIdBytes = buf.subarray(12, 16);
  const ascii = refIdBytes.toString("latin1").replace(/\0+$/, "");
  const refId = stratum <= 1 ? ascii : Array.from(refIdBytes).join(".");
  return {
    leap,
    version,
    mode,
    stratum,
    poll: buf.readInt8(2),
    precision: buf.readInt8(3),
    rootDelay: readShortFormat(buf, 4),
    rootDispersion: readShortFormat(buf, 8),
    refId,
    originTime: readTimestamp(buf, 24),
    receiveTime: readTimestamp(buf, 32),
    transmitTime: readTimestamp(buf, 40),
    originRaw: Buffer.from(buf.subarray(24, 32)),
    kissCode: stratum === 0 ? ascii : null,
  };
}

export interface SntpQueryOptions {
  /** UDP port; 123 except in tests. */
  port?: number;
  /** Milliseconds to wait for the reply; default 3000 (the pool monitors' own timeout). */
  timeoutMs?: number;
}

/** Error raised for a query that got no usable answer; `kind` tells the caller why. */
export class SntpError extends Error {
  constructor(
    readonly kind: "timeout" | "bogus" | "socket",
    message: string,
  ) {
    super(message);
    this.name = "SntpError";
  }
}

/** Sends one mode-3 request to `address` and resolves with the matched mode-4 reply. */
export function sntpQuery(address: string, options: SntpQueryOptions = {}): Promise<SntpResult> {
  const port = options.port ?? NTP_PORT;
  const timeoutMs = options.timeoutMs ?? 3000;
  const family = net.isIP(address);
  if (family === 0) {
    return Promise.reject(new SntpError("socket", `SNTP: address must be an IP, got "${address}"`));
  }
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
    const nonce = randomBytes(8);
    let t1 = 0;
    const finish = (error: Error | null, result?: SntpResult) => {
      clearTimeout(timer);
      socket.close();
      if (error) {
        reject(error);
      } else if (result) {
        resolve(result);
      }
    };
    const timer = setTimeout(
      () =>
        finish(
          new SntpError("timeout", `SNTP: no reply from ${address}:${port} in ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    socket.on("error", (err) =>
      finish(new SntpError("socket", `SNTP ${address}:${port}: ${err.message}`)),
    );
    socket.on("message", (msg, rinfo) => {
      const t4 = Date.now() / 1000;
      if (rinfo.port !== port) {
        return;
      }
      let reply: SntpReply;
      try {
        reply = parseSntpReply(msg);
      } catch (err) {
        finish(new SntpError("bogus", `${address}: ${(err as Error).message}`));
        return;
      }
      // Not ours (stale or spoofed): keep waiting for the real answer until the timeout.
      if (!reply.originRaw.equals(nonce)) {
        return;
      }
      if (reply.mode !== 4) {
        finish(
          new SntpError("bogus", `${address}: reply mode must be 4 (server), got ${reply.mode}`),
        );
        return;
      }
      const t2 = reply.receiveTime;
      const t3 = reply.transmitTime;
      finish(null, {
        address,
        reply,
        offset: (t2 - t1 + (t3 - t4)) / 2,
        delay: t4 - t1 - (t3 - t2),
      });
    });
    t1 = Date.now() / 1000;
    socket.send(buildSntpRequest(nonce), port, address, (err) => {
      if (err) {
        finish(new SntpError("socket", `SNTP send to ${address}:${port}: ${err.message}`));
      }
    });
  });
}
