import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { nextMonthStart, renderLeapFile } from "../../../lab/leapFile";
import {
  GOOD_UPSTREAM,
  parseUpstreamKind,
  renderUpstreamConf,
  upstreamLaunch,
} from "../../../lab/upstreams";

// A leap-seconds.list in the IERS layout: #$ (last update), #@ (expiry), data, #h (hash).
const LIST = [
  "#\tsample",
  "#$\t 3676924800",
  "#@\t 3928521600",
  "2272060800\t10\t# 1 Jan 1972",
  "3692217600\t37\t# 1 Jan 2017",
  "#h\t16edd0f0 3666784f 37db6bdd e74ced87 59af48f1",
  "",
].join("\n");

/** SHA-1 of the digits of #$, #@ and data lines, as NTPsec checks it. */
function hashOf(text: string): string {
  let digits = "";
  for (const l of text.split("\n")) {
    if (l.startsWith("#$") || l.startsWith("#@")) digits += l.slice(2).replace(/\D/g, "");
    else if (l !== "" && !l.startsWith("#")) digits += (l.split("#")[0] ?? "").replace(/\D/g, "");
  }
  return createHash("sha1").update(digits).digest("hex").match(/.{8}/g)?.join(" ") ?? "";
}

describe("renderLeapFile", () => {
  it("re-dates the expiry and recomputes the hash", () => {
    const out = renderLeapFile(LIST, { expiresUnix: 1_900_000_000 });
    expect(out).toContain(`#@\t${1_900_000_000 + 2_208_988_800}`);
    expect(out.trimEnd().split("\n").at(-1)).toBe(`#h\t${hashOf(out)}`);
    expect(out.match(/^#h/gm)).toHaveLength(1);
  });
  it("adds a leap second with TAI-UTC one more than the last entry", () => {
    const when = Date.UTC(2027, 0, 1) / 1000;
    const out = renderLeapFile(LIST, { expiresUnix: 1_900_000_000, extraLeapUnix: when });
    const data = out.split("\n").filter((l) => /^\d/.test(l));
    expect(data.at(-1)).toMatch(new RegExp(`^${when + 2_208_988_800}\t38\t# 2027-01-01`));
    expect(out.trimEnd().split("\n").at(-1)).toBe(`#h\t${hashOf(out)}`);
  });
  it("nextMonthStart is 00:00 UTC on the next 1st (NTPsec refuses other days)", () => {
    expect(nextMonthStart(Date.UTC(2026, 11, 1, 21, 0) / 1000)).toBe(Date.UTC(2027, 0, 1) / 1000);
    expect(nextMonthStart(Date.UTC(2026, 1, 28, 23, 59) / 1000)).toBe(Date.UTC(2026, 2, 1) / 1000);
  });
});

describe("upstream kinds", () => {
  it.each([
    ["good", { kind: "good" }],
    ["falseticker:+2", { kind: "falseticker", offsetSeconds: 2 }],
    ["falseticker:-0.5", { kind: "falseticker", offsetSeconds: -0.5 }],
    ["leap", { kind: "leap" }],
    ["unsynchronised", { kind: "unsynchronised" }],
    ["kod", { kind: "kod" }],
  ])("parses %s", (spec, kind) => {
    expect(parseUpstreamKind(spec)).toEqual(kind);
  });
  it.each([
    ["falseticker", "expected good, falseticker:<±seconds>"],
    ["falseticker:0", "non-zero seconds within ±86400"],
    ["falseticker:+100000", "non-zero seconds within ±86400"],
    ["slow", 'upstream kind "slow"'],
  ])("refuses %s, naming the rule", (spec, message) => {
    expect(() => parseUpstreamKind(spec)).toThrow(message);
  });

  it("good: orphan stratum 1, no rate limit; unsynchronised: no time source at all", () => {
    const good = renderUpstreamConf("/d", GOOD_UPSTREAM);
    expect(good).toContain("tos orphan 1 orphanwait 0");
    expect(good).not.toContain("limited");
    const unsync = renderUpstreamConf("/d", { kind: "unsynchronised" });
    expect(unsync).not.toMatch(/orphan|server|refclock/);
  });
  it("kod: limited with kod; leap: the given leap file", () => {
    expect(renderUpstreamConf("/d", { kind: "kod" })).toMatch(
      /^limit average .*\nrestrict default limited kod nomodify$/m,
    );
    expect(renderUpstreamConf("/d", { kind: "leap" }, "/d/leap.list")).toContain(
      "leapfile /d/leap.list",
    );
  });
  it("falseticker: preloads the clock-shift shim with the offset", () => {
    const l = upstreamLaunch(
      { kind: "falseticker", offsetSeconds: -1.5 },
      {
        dir: "/d",
        clockShift: "/cache/clockshift-1.so",
      },
    );
    expect(l.env).toEqual({
      LD_PRELOAD: l.binds[0]?.guest,
      NTP_LAB_CLOCK_SHIFT: "-1.5",
    });
    expect(l.binds[0]?.host).toBe("/cache/clockshift-1.so");
    expect(() => upstreamLaunch({ kind: "falseticker", offsetSeconds: 1 }, { dir: "/d" })).toThrow(
      "no clock-shift shim",
    );
  });
});
