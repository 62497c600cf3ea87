import { describe, expect, it } from "vitest";
import {
  describeFigures,
  notServingAtEnd,
  type Probe,
  parseProbes,
  probeFailures,
  probeFigures,
} from "../../../lab/probes";

const T0 = 1_800_000_000_000;
const probe = (s: number, family: string, verdict?: string): Probe => ({
  t: T0 + s * 1000,
  family,
  target: family === "ipv4" ? "198.18.64.11" : "2001:db8:2::11",
  source: "198.18.0.200",
  answered: verdict !== undefined,
  ...(verdict !== undefined ? { verdict, stratum: verdict === "ok" ? 2 : 0, leap: 0 } : {}),
});

describe("the outside probes of a replacement", () => {
  it("reads the prober's JSON lines and skips anything else", () => {
    const out = [
      JSON.stringify(probe(0, "ipv4", "ok")),
      "(node:12) ExperimentalWarning: something",
      JSON.stringify(probe(1, "ipv6")),
      '{"t": 1, "fam',
    ].join("\n");
    expect(parseProbes(out)).toEqual([probe(0, "ipv4", "ok"), probe(1, "ipv6")]);
  });

  it("every probe answered and synchronised: figures, and no failure", () => {
    const probes = [0, 1, 2, 3].flatMap((s) => [probe(s, "ipv4", "ok"), probe(s, "ipv6", "ok")]);
    const f = probeFigures(probes);
    expect(f.ipv4).toEqual({
      target: "198.18.64.11",
      probes: 4,
      answered: 4,
      synchronised: 4,
      longestGapSeconds: 1,
    });
    expect(probeFailures(f)).toBeUndefined();
    expect(describeFigures(f)).toBe(
      "ipv4 198.18.64.11: 4/4 answered, 4 synchronised, longest gap 1 s; ipv6 2001:db8:2::11: 4/4 answered, 4 synchronised, longest gap 1 s",
    );
  });

  it("an unanswered or unsynchronised probe fails it, and the gap runs to the next good answer", () => {
    const probes = [
      probe(0, "ipv4", "ok"),
      probe(1, "ipv4"),
      probe(2, "ipv4", "unsynchronised"),
      probe(3, "ipv4", "rate-limited"),
      probe(4, "ipv4", "ok"),
    ];
    const f = probeFigures(probes);
    expect(f.ipv4).toMatchObject({ probes: 5, answered: 4, synchronised: 2, longestGapSeconds: 4 });
    expect(probeFailures(f)).toBe(
      "ipv4 198.18.64.11: 1 of 5 probes unanswered, 2 answered unsynchronised, longest gap 4 s (at 1 s unanswered, 2 s unsynchronised, 3 s rate-limited after probing began)",
    );
  });

  it("an address not serving at the end, or never probed, counts too", () => {
    const f = probeFigures([probe(0, "ipv6", "ok"), probe(1, "ipv6"), probe(2, "ipv6")]);
    expect(f.ipv6?.longestGapSeconds).toBe(2);
    expect(probeFailures(f)).toMatch(/^ipv6 2001:db8:2::11: 2 of 3 probes unanswered/);
    expect(probeFailures({})).toBeUndefined();
  });

  it("after an outage (the drift runbook), the member must be serving again at the end", () => {
    const outage = [
      probe(0, "ipv4"),
      probe(1, "ipv6"),
      ...[2, 3, 4].flatMap((s) => [probe(s, "ipv4", "ok"), probe(s, "ipv6", "ok")]),
    ];
    expect(notServingAtEnd(outage)).toBeUndefined();
    expect(notServingAtEnd([...outage, probe(5, "ipv6", "unsynchronised")])).toBe(
      "not serving at the end: 2001:db8:2::11: last 3 probes ok, ok, unsynchronised",
    );
    expect(notServingAtEnd([probe(0, "ipv4", "ok"), probe(1, "ipv4", "ok")])).toMatch(
      /198\.18\.64\.11: last 2 probes ok, ok/,
    );
    expect(notServingAtEnd([])).toBe("no probe was sent");
  });
});
