import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseNtpdig, parseNtpqPeers, parseNtpqRv, parseVarList } from "../../../verify/parse";

const fixture = (name: string): string =>
  readFileSync(path.join(__dirname, "..", "..", "fixtures", "ntpsec-1.2.2", name), "utf8");

describe("parseNtpqPeers (real ntpq -p output)", () => {
  it("reads a synchronised member's table: tally, reach in octal, millisecond columns", () => {
    const r = parseNtpqPeers(fixture("ntpq-p-synced.txt"));
    if (!r.ok) throw new Error(r.failure);
    expect(r.value).toHaveLength(4);
    expect(r.value.map((p) => p.tally).join("")).toBe("+*++");
    expect(r.value[1]).toEqual({
      tally: "*",
      remote: "10.77.0.12",
      refid: ".LOOP.",
      stratum: 1,
      type: "u",
      reach: 1,
      delayMs: 0.1224,
      offsetMs: -0.0544,
      jitterMs: 0.0595,
    });
  });

  it("decodes reach as octal (377 = 255, all of the last 8 polls answered)", () => {
    const table = fixture("ntpq-pn-synced.txt").replace(/ {4}3 {3}0\.1016/, "  377   0.1016");
    const r = parseNtpqPeers(table);
    if (!r.ok) throw new Error(r.failure);
    expect(r.value[0]?.reach).toBe(255);
    expect(r.value[1]?.reach).toBe(3);
  });

  it("shows a starting member as stratum 16, reach 0, no tally", () => {
    const r = parseNtpqPeers(fixture("ntpq-p-starting.txt"));
    if (!r.ok) throw new Error(r.failure);
    expect(
      r.value.every(
        (p) => p.stratum === 16 && p.reach === 0 && p.tally === " " && p.refid === ".INIT.",
      ),
    ).toBe(true);
  });

  it("unreachable upstreams: every reach 0", () => {
    const r = parseNtpqPeers(fixture("ntpq-pn-unreachable.txt"));
    if (!r.ok) throw new Error(r.failure);
    expect(r.value.map((p) => [p.remote, p.reach])).toEqual([
      ["10.77.0.51", 0],
      ["10.77.0.52", 0],
      ["10.77.0.53", 0],
      ["10.77.0.54", 0],
    ]);
  });

  it("an unsynchronised upstream shows stratum 16 next to a selected one", () => {
    const r = parseNtpqPeers(fixture("ntpq-pn-stratum16.txt"));
    if (!r.ok) throw new Error(r.failure);
    expect(r.value.map((p) => [p.tally, p.stratum])).toEqual([
      [" ", 16],
      ["*", 1],
    ]);
  });

  it("turns ntpq's exit-0 failures into typed results", () => {
    expect(parseNtpqPeers(fixture("ntpq-p-timeout.txt"))).toEqual({
      ok: false,
      failure: "timeout",
    });
    expect(parseNtpqPeers(fixture("ntpq-p-notrunning.txt"))).toEqual({
      ok: false,
      failure: "not-running",
    });
  });

  it("rejects text that is not a peer table, naming the problem", () => {
    expect(() => parseNtpqPeers("hello")).toThrow(/no "=====" header rule/);
    expect(() => parseNtpqPeers("=====\n*a b 1 u - 64\n")).toThrow(/expected 10 fields, got 6/);
    expect(() => parseNtpqPeers("=====\n*a b 1 u - 64 9 0.1 0.1 0.1\n")).toThrow(
      /reach "9" is not octal/,
    );
  });
});

describe("parseNtpqRv (real ntpq -c rv output)", () => {
  it("synchronised: leap 00, stratum 2, system peer, leap file expiry", () => {
    const r = parseNtpqRv(fixture("rv-synced.txt"));
    if (!r.ok) throw new Error(r.failure);
    expect(r.value).toMatchObject({
      leap: 0,
      stratum: 2,
      refid: "10.77.0.12",
      offsetMs: -0.012981,
      rootDelayMs: 0.122,
      rootDispMs: 187.587,
      peer: 17768,
      leapFileExpires: "2026-06-28T00:00Z",
      lastLeapSecond: "2017-01-01T00:00Z",
    });
    expect(r.value.raw.version).toBe("ntpd ntpsec-1.2.2");
    expect(r.value.raw.clock).toBe("eeb3ae92.bb5fa0a9 2026-11-27T07:24:02.731Z");
  });

  it("unsynchronised: leap 11 (= 3), stratum 16, refid INIT, no peer", () => {
    for (const f of ["rv-starting.txt", "rv-unsynced.txt"]) {
      const r = parseNtpqRv(fixture(f));
      if (!r.ok) throw new Error(r.failure);
      expect({
        leap: r.value.leap,
        stratum: r.value.stratum,
        refid: r.value.refid,
        peer: r.value.peer,
      }).toEqual({
        leap: 3,
        stratum: 16,
        refid: "INIT",
        peer: 0,
      });
    }
  });

  it("no leapfile line: no expire, so the check can say so", () => {
    const r = parseNtpqRv(fixture("rv-noleapfile.txt"));
    if (!r.ok) throw new Error(r.failure);
    expect(r.value.leapFileExpires).toBeUndefined();
    expect(r.value.stratum).toBe(2);
  });

  it("timeouts and a missing daemon", () => {
    expect(parseNtpqRv(fixture("rv-timeout.txt"))).toEqual({ ok: false, failure: "timeout" });
    expect(parseNtpqRv(fixture("rv-notrunning.txt"))).toEqual({
      ok: false,
      failure: "not-running",
    });
  });

  it("names a missing variable", () => {
    expect(() => parseNtpqRv("associd=0 status=0000\nleap=00, stratum=2\n")).toThrow(
      /variable refid missing/,
    );
  });

  it("keeps commas inside quoted values", () => {
    expect(parseVarList('a=1, b="x, y", c=2\n')).toEqual({ a: "1", b: "x, y", c: "2" });
  });
});

describe("parseNtpdig (real ntpdig / ntpdate -q output)", () => {
  it("an answer: offset and error in seconds, stratum, leap", () => {
    expect(parseNtpdig(fixture("ntpdig-synced.txt"))).toEqual({
      kind: "answer",
      host: "10.77.0.2",
      offsetSeconds: -0.000041,
      errorSeconds: 0.000241,
      stratum: 2,
      leap: "no-leap",
    });
    expect(parseNtpdig(fixture("ntpdate-q-synced.txt"))).toMatchObject({
      kind: "answer",
      offsetSeconds: 0.000273,
      stratum: 2,
    });
    expect(parseNtpdig(fixture("ntpdate-q-two.txt"))).toMatchObject({
      kind: "answer",
      host: "10.77.0.12",
      stratum: 1,
    });
  });

  it("KoD and unsynchronised look the same to ntpdig", () => {
    expect(parseNtpdig(fixture("ntpdig-kod.txt"))).toEqual({
      kind: "kod-or-unsynchronised",
      host: "10.77.0.2",
    });
    expect(parseNtpdig(fixture("ntpdate-q-kod.txt"))).toEqual({
      kind: "kod-or-unsynchronised",
      host: "10.77.0.2",
    });
  });

  it("no answer and a failed lookup", () => {
    expect(parseNtpdig(fixture("ntpdig-noanswer.txt"))).toEqual({ kind: "no-answer" });
    expect(parseNtpdig(fixture("ntpdate-q-noanswer.txt"))).toEqual({ kind: "no-answer" });
    expect(parseNtpdig(fixture("ntpdig-dnsfail.txt"))).toEqual({
      kind: "lookup-failed",
      host: "no-such-host.invalid",
      detail: "errno -3 = Temporary failure in name resolution",
    });
  });

  it("refuses unknown text instead of guessing", () => {
    expect(() => parseNtpdig("something else")).toThrow(/not recognised/);
  });
});
