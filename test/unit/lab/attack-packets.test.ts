import { spawnSync } from "node:child_process";
import { readlinkSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { addressBlock, anyIpRoutes } from "../../../lab/attacks/harness";
import {
  amplification,
  arrivalScores,
  firstLimited,
  headerByte,
  junk,
  MAX_UDP4_PAYLOAD,
  MODE6,
  mode6Request,
  monitorSchedule,
  monlistRequest,
  ntpPacket,
  reflectionProbes,
  steadySchedule,
} from "../../../lab/attacks/packets";
import { reflect } from "../../../lab/attacks/senders";
import { LIMITS } from "../../../lab/attacks/sockets";
import { parseHeader } from "../../../ntp/client";

describe("attack packet builders", () => {
  it("packs leap, version and mode into the first byte (RFC 5905 Figure 8)", () => {
    expect(headerByte(0, 4, 3)).toBe(0x23);
    expect(headerByte(3, 4, 4)).toBe(0xe4);
    expect(headerByte(0, 2, 7)).toBe(0x17);
    expect(() => headerByte(0, 8, 3)).toThrow("headerByte: version must be 0..7, got 8");
    expect(() => headerByte(0, 4, -1)).toThrow("headerByte: mode must be 0..7, got -1");
  });

  it("builds NTP headers of any mode, version and size with the nonce as transmit", () => {
    const p = ntpPacket({ mode: 1, version: 3, nonce: 0x0102030405060708n });
    expect(p.length).toBe(48);
    const h = parseHeader(p);
    expect([h.mode, h.version, h.leap]).toEqual([1, 3, 0]);
    expect(h.transmitTs).toBe(0x0102030405060708n);
    const big = ntpPacket({ mode: 3, nonce: 9n, bytes: 4096 });
    expect(big.length).toBe(4096);
    expect(big.subarray(48).every((b) => b === 0)).toBe(true);
    expect(ntpPacket({ mode: 3, bytes: 12 })).toEqual(Buffer.from([0x23, ...Array(11).fill(0)]));
  });

  it("builds mode 6 requests with the opcode ntpq uses (RFC 9327 §2)", () => {
    const b = mode6Request(MODE6.readMru, 0x1234);
    expect([...b]).toEqual([0x16, 10, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(mode6Request(MODE6.readvar)[1]).toBe(2);
  });

  it("builds the classic monlist request (mode 7, implementation 3, request 42)", () => {
    const b = monlistRequest();
    expect(b.length).toBe(48);
    expect([...b.subarray(0, 4)]).toEqual([0x17, 0x00, 0x03, 0x2a]);
  });

  it("junk is deterministic per seed and not constant", () => {
    expect(junk(64)).toEqual(junk(64));
    expect(junk(64)).not.toEqual(junk(64, 7));
    expect(new Set(junk(256)).size).toBeGreaterThan(100);
  });

  it("the probe set covers every mode, the amplifier requests, sizes and malformed packets", () => {
    const probes = reflectionProbes();
    const names = probes.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    const named = probes.filter((p) => p.name.startsWith("mode "));
    const modes = new Set(named.map((p) => (p.packet[0] as number) & 7));
    expect([...modes].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const p of named.filter((p) => ((p.packet[0] as number) & 7) >= 6)) {
      expect(p.rule, p.name).toBe("none");
    }
    expect(Math.max(...probes.map((p) => p.packet.length))).toBe(MAX_UDP4_PAYLOAD);
    expect(probes.some((p) => p.packet.length === 0)).toBe(true);
    expect(probes.filter((p) => /^version [057]/.test(p.name)).length).toBe(3);
  });

  it("amplification is bytes back per byte sent", () => {
    expect(amplification(0, 48)).toBe(0);
    expect(amplification(48, 48)).toBe(1);
    expect(amplification(468, 12)).toBe(39);
    expect(amplification(10, 0)).toBe(0);
  });
});

describe("NTPsec rate-limit model (docs/lab-mechanisms.md#rate-limiting)", () => {
  it("limits a 1 packet/s client from its 75th packet, as measured on NTPsec 1.2.2", () => {
    expect(firstLimited(steadySchedule(200, 1))).toBe(74);
  });

  it("limits a 1,000 packet/s flood after its burst allowance of ~20 packets", () => {
    expect(firstLimited(steadySchedule(2000, 1000))).toBe(20);
  });

  it("never limits one query per 2 s", () => {
    expect(firstLimited(steadySchedule(500, 0.5))).toBe(-1);
  });

  it("the pool monitor pattern peaks far below the limit, also compressed to 15 s cycles", () => {
    const real = Math.max(...arrivalScores(monitorSchedule(60)));
    const compressed = Math.max(...arrivalScores(monitorSchedule(60, 15)));
    expect(real).toBeCloseTo(0.143, 3);
    expect(compressed).toBeCloseTo(0.258, 3);
    expect(compressed).toBeLessThan(1 / 3);
    expect(monitorSchedule(2)).toEqual([0, 2, 4, 60, 62, 64]);
  });
});

describe("attack harness helpers", () => {
  it("hands out host addresses of a block, skipping .0 and .255", () => {
    expect(addressBlock("10.78.8.0/21", 3)).toEqual(["10.78.8.1", "10.78.8.2", "10.78.8.3"]);
    const many = addressBlock("10.78.8.0/21", 1200);
    expect(new Set(many).size).toBe(1200);
    expect(many.some((a) => /\.(0|255)$/.test(a))).toBe(false);
    expect(() => addressBlock("10.78.1.0/30", 5)).toThrow(
      "addressBlock: 10.78.1.0/30 has only 2 usable addresses, 5 asked",
    );
    expect(() => addressBlock("10.78.1.0", 1)).toThrow("not an IPv4 CIDR");
  });

  it("AnyIP routes: a local route in the client, a return route in each server", () => {
    expect(anyIpRoutes("c", "10.78.0.0/16", [{ ns: "m", via: "10.77.0.100" }])).toEqual([
      ["ip", "-n", "c", "route", "add", "local", "10.78.0.0/16", "dev", "lo"],
      ["ip", "-n", "m", "route", "add", "10.78.0.0/16", "via", "10.77.0.100"],
    ]);
  });

  it("senders refuse specs beyond their hard bounds before sending anything", async () => {
    await expect(
      reflect({ target: "127.0.0.1", probes: reflectionProbes(), waitMs: LIMITS.waitMs + 1 }),
    ).rejects.toThrow(`waitMs: must be from 0 to ${LIMITS.waitMs}, got ${LIMITS.waitMs + 1}`);
    await expect(reflect({ target: "127.0.0.1", probes: [] })).rejects.toThrow(
      "probes: must be from 1 to 200, got 0",
    );
  });
});

describe("attack CLI", () => {
  it("refuses to send from the namespace it was launched in (the host's)", () => {
    const r = spawnSync(
      process.execPath,
      [
        resolve(__dirname, "../../../node_modules/tsx/dist/cli.mjs"),
        resolve(__dirname, "../../../lab/attacks/cli.ts"),
        JSON.stringify({ kind: "flood", target: "127.0.0.1", count: 1, durationMs: 1 }),
      ],
      {
        encoding: "utf8",
        env: { ...process.env, NTP_ATTACK_LAUNCH_NETNS: readlinkSync("/proc/self/ns/net") },
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("refusing to send from the host's network namespace");
    expect(r.stdout).toBe("");
  });
});
