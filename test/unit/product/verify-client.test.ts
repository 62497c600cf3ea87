import { describe, expect, it } from "vitest";
import {
  buildClientRequest,
  buildMode6Request,
  classify,
  ntpToUnixMs,
  offsetAndDelay,
  Pacer,
  parseHeader,
} from "../../../ntp/client";
import { fakeHeader } from "../../helpers/poolFakes";

/** A server reply as NTPsec would send it; fields in wire form. */
function reply(opts: { leap?: number; stratum: number; refid: Buffer; origin?: bigint }): Buffer {
  const b = Buffer.alloc(48);
  b[0] = ((opts.leap ?? 0) << 6) | (4 << 3) | 4;
  b[1] = opts.stratum;
  b[2] = 6;
  b.writeInt8(-24, 3);
  b.writeUInt32BE(0x00018000, 4); // 1.5 s root delay in 16.16
  b.writeUInt32BE(0x00000800, 8); // 1/32 s root dispersion
  opts.refid.copy(b, 12);
  b.writeBigUInt64BE(opts.origin ?? 0n, 24);
  return b;
}

const header = fakeHeader;

describe("packets", () => {
  it("client request: 48 bytes, LI 0 VN 4 mode 3, nonce in the transmit field only", () => {
    const b = buildClientRequest(0x0123456789abcdefn);
    expect(b.length).toBe(48);
    expect(b[0]).toBe(0x23);
    expect(b.subarray(1, 40).every((x) => x === 0)).toBe(true);
    expect(b.readBigUInt64BE(40)).toBe(0x0123456789abcdefn);
  });

  it("mode-6 request: 12-byte READVAR of association 0, like ntpq -c rv", () => {
    const b = buildMode6Request(0x1234);
    expect([...b]).toEqual([0x16, 0x02, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("decodes a stratum-2 header: IPv4 refid, 16.16 root delay/dispersion in ms", () => {
    const h = parseHeader(reply({ stratum: 2, refid: Buffer.from([198, 18, 0, 11]), origin: 42n }));
    expect(h).toMatchObject({
      leap: 0,
      version: 4,
      mode: 4,
      stratum: 2,
      poll: 6,
      precision: -24,
      rootDelayMs: 1500,
      rootDispersionMs: 31.25,
      refid: "198.18.0.11",
      originTs: 42n,
    });
  });

  it("decodes kiss codes and stratum-1 sources as ASCII", () => {
    expect(parseHeader(reply({ leap: 3, stratum: 0, refid: Buffer.from("RATE") })).refid).toBe(
      "RATE",
    );
    expect(parseHeader(reply({ stratum: 1, refid: Buffer.from("GPS\0") })).refid).toBe("GPS");
  });

  it("refuses a short packet", () => {
    expect(() => parseHeader(Buffer.alloc(47))).toThrow(/47 bytes, need 48/);
  });
});

describe("classify (RFC 5905 §7.4 kiss codes)", () => {
  it.each([
    [{ stratum: 0, refid: "RATE", leap: 3 }, "rate-limited"],
    [{ stratum: 0, refid: "DENY", leap: 3 }, "denied"],
    [{ stratum: 0, refid: "RSTR", leap: 3 }, "denied"],
    [{ stratum: 0, refid: "INIT", leap: 3 }, "unsynchronised"],
    [{ stratum: 0, refid: "STEP", leap: 3 }, "unsynchronised"],
    [{ stratum: 0, refid: "AUTH", leap: 3 }, "kiss"],
    [{ stratum: 2, leap: 3 }, "unsynchronised"],
    [{ stratum: 2, leap: 0 }, "ok"],
    [{ stratum: 1, leap: 1, refid: "LOOP" }, "ok"],
  ] as const)("%o -> %s", (over, verdict) => {
    expect(classify(header(over))).toBe(verdict);
  });
});

describe("time arithmetic", () => {
  it("NTP era 0 timestamps map to Unix time", () => {
    // 2026-11-27T07:24:02.193Z was reftime eeb3ae92.318b9362 in a captured ntpq -c rv.
    const ms = ntpToUnixMs(0xeeb3ae92318b9362n, Date.UTC(2026, 10, 27));
    expect(new Date(ms).toISOString()).toBe("2026-11-27T07:24:02.193Z");
  });

  it("after the 2036 rollover, small seconds values land in era 1", () => {
    const pivot = Date.UTC(2036, 1, 8); // a day after 2036-02-07T06:28:16Z
    const ms = ntpToUnixMs(BigInt(86400) << 32n, pivot);
    expect(new Date(ms).toISOString()).toBe("2036-02-08T06:28:16.000Z");
  });

  it("offset and delay (RFC 5905 §8)", () => {
    // Server 50 ms ahead, 10 ms each way, 2 ms processing.
    expect(offsetAndDelay(1000, 1060, 1062, 1022)).toEqual({ offsetMs: 50, delayMs: 20 });
  });
});

describe("Pacer", () => {
  it("keeps 2 s between packets to one address, none between different ones", async () => {
    let t = 0;
    const slept: number[] = [];
    const pacer = new Pacer(
      2000,
      async (ms) => {
        slept.push(ms);
        t += ms;
      },
      () => t,
    );
    await pacer.wait("a");
    await pacer.wait("b");
    t += 500;
    await pacer.wait("a");
    await pacer.wait("a");
    t += 3000;
    await pacer.wait("a");
    expect(slept).toEqual([1500, 2000]);
  });
});
