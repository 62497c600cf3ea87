import { describe, it } from "vitest";
import { GOOD_UPSTREAM, type UpstreamKind } from "../../lab/upstreams";
import type { PeerRow } from "../../verify/parse";
import { onDropletSchema, outsideSchema } from "../../verify/summary";
import type { Node } from "../helpers/netns";
import { requireRealTools } from "../helpers/realTools";
import { SCHEDULING_MS, TimeWorld } from "../helpers/timekeeping";

// Wrong upstreams (issue 13): a member with the shipped ntp.conf against real NTPsec
// upstreams that are 2 s off (lab/clockshift.c), announce a leap second nobody else has,
// are unsynchronised, or answer KoD RATE. Each case prints its figures ("FIGURE ...").
// Each case is a world of its own (TimeWorld.forTest). The first measures offsets to the
// millisecond and runs alone; the other two, judged by which upstream ntpd follows and what
// the checks say, wait on ntpd's polls side by side.

const FT: UpstreamKind = { kind: "falseticker", offsetSeconds: 2 };

function figure(name: string, value: unknown): void {
  console.log(`FIGURE ${name}: ${JSON.stringify(value)}`);
}

const rowOf = (rows: PeerRow[], ip: string) => rows.find((r) => r.remote === ip);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.concurrent("wrong upstreams (real ntpd, shipped ntp.conf)", () => {
  it.sequential("1 of 4 upstreams 2 s off: the member follows the other three, marks it, and the verification names it", async ({
    expect,
    onTestFinished,
  }) => {
    requireRealTools(["ntpd", "ntpq", "ntpdate"]);
    const w = await TimeWorld.forTest(onTestFinished, {
      upstreams: [FT, GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM],
    });
    const ft = w.up[0]?.ipv4 ?? "";
    const t0 = w.startMember();
    const syncMs = await w.waitSynced(t0, 90_000);
    expect(syncMs, "member synchronised").not.toBeNull();
    // Watch the falseticker's tally for 20 s after the first sync: never selected, and
    // marked "x" once the member has a sample of it.
    const seen = new Set<string>();
    let rows: PeerRow[] = [];
    for (let i = 0; i < 20; i++) {
      rows = await w.peers();
      seen.add(rowOf(rows, ft)?.tally ?? "?");
      expect(rows.find((r) => r.tally === "*")?.remote).not.toBe(ft);
      await sleep(1000);
    }
    const sys = rows.find((r) => r.tally === "*");
    expect(sys).toBeDefined();
    // "x" falseticker, "-" outlier or " " rejected: never "*", "+", "#" or "o".
    for (const t of seen) expect(["x", "-", " "]).toContain(t);
    expect(rowOf(rows, ft)?.tally).toBe("x");
    expect(Math.abs((rowOf(rows, ft)?.offsetMs ?? 0) - 2000)).toBeLessThan(5);

    const v = await w.verifyOnDroplet(60);
    expect(v.code, v.stderr).toBe(0);
    const d = onDropletSchema.parse(JSON.parse(v.stdout.trim().split("\n").at(-1) ?? ""));
    expect(d.warnings.join("\n")).toMatch(
      new RegExp(`upstream ${ft.replaceAll(".", "\\.")}.*(falseticker|\\+2000)`),
    );

    const o = await w.outside(w.up[1] as Node);
    expect(o.code, o.stderr).toBe(0);
    const out = outsideSchema.parse(JSON.parse(o.stdout.trim().split("\n").at(-1) ?? ""));
    // Offset against a good upstream: two measurements of the same host clock.
    expect(Math.abs(out.ipv4.offsetMs)).toBeLessThan(2 * SCHEDULING_MS);
    figure("falseticker-1of4", {
      secondsToFirstSync: (syncMs ?? 0) / 1000,
      falsetickerTallies: [...seen],
      falsetickerOffsetMs: rowOf(rows, ft)?.offsetMs,
      systemPeer: sys?.remote,
      outsideOffsetMsVsGoodUpstream: { ipv4: out.ipv4.offsetMs, ipv6: out.ipv6?.offsetMs },
      warnings: d.warnings,
    });
  }, 300_000);

  it("2 of 4 agreeing 2 s off: the member does not claim sync and the verification fails naming them", async ({
    expect,
    onTestFinished,
  }) => {
    requireRealTools(["ntpd", "ntpq", "ntpdate"]);
    const w = await TimeWorld.forTest(onTestFinished, {
      upstreams: [FT, FT, GOOD_UPSTREAM, GOOD_UPSTREAM],
    });
    const t0 = w.startMember();
    const syncMs = await w.waitSynced(t0, 45_000);
    const rows = await w.peers();
    const rv = await w.systemVars();
    const sys = rows.find((r) => r.tally === "*");
    // Never synchronised to the wrong pair (and here: not at all, no majority).
    expect([w.up[0]?.ipv4, w.up[1]?.ipv4]).not.toContain(sys?.remote);
    const v = await w.verifyOnDroplet(30);
    expect(v.code).toBe(1);
    const fail = v.stderr.split("\n").find((l) => l.includes("FAIL")) ?? "";
    expect(fail).toContain(w.up[0]?.ipv4);
    expect(fail).toContain(w.up[1]?.ipv4);
    expect(fail).not.toContain(`${w.up[2]?.ipv4} (`);
    figure("falseticker-2of4", {
      synchronisedWithin45s: syncMs !== null,
      leap: rv.leap,
      stratum: rv.stratum,
      tallies: rows.map((r) => `${r.tally}${r.remote} ${r.offsetMs} ms`),
      message: fail,
    });
  }, 300_000);

  it("a leap-announcing, an unsynchronised and a KoD-RATE upstream among three good ones", async ({
    expect,
    onTestFinished,
  }) => {
    requireRealTools(["ntpd", "ntpq", "ntpdate"]);
    const w = await TimeWorld.forTest(onTestFinished, {
      upstreams: [
        { kind: "leap" },
        { kind: "unsynchronised" },
        { kind: "kod" },
        GOOD_UPSTREAM,
        GOOD_UPSTREAM,
        GOOD_UPSTREAM,
      ],
    });
    const [leapUp, unsyncUp, kodUp] = w.up.map((u) => u.ipv4);
    const t0 = w.startMember();
    const syncMs = await w.waitSynced(t0, 90_000);
    expect(syncMs).not.toBeNull();
    await sleep(20_000);
    const rows = await w.peers();
    const rv = await w.systemVars();
    const upLeap = await w.systemVars(w.up[0] as Node);
    // The upstream loaded the fake leap second (it announces it from 28 days before)...
    expect(upLeap.lastLeapSecond).toMatch(/-01T00:00Z$/);
    expect(upLeap.lastLeapSecond).not.toBe(rv.lastLeapSecond);
    // ...and the member, with the real leap file and five other upstreams, announces nothing.
    expect(rv.leap).toBe(0);
    expect(rowOf(rows, unsyncUp ?? "")?.tally).not.toBe("*");
    expect(rowOf(rows, kodUp ?? "")?.tally).not.toBe("*");
    const v = await w.verifyOnDroplet(60);
    expect(v.code, v.stderr).toBe(0);
    const d = onDropletSchema.parse(JSON.parse(v.stdout.trim().split("\n").at(-1) ?? ""));
    // The two upstreams that give no time are named.
    for (const ip of [unsyncUp, kodUp])
      expect(d.warnings).toContain(
        `upstream ${ip}: Response dropped: stratum 0, probable KOD packet (ntpdate -q from the member)`,
      );
    figure("leap-unsync-kod", {
      secondsToFirstSync: (syncMs ?? 0) / 1000,
      memberLeap: rv.leap,
      leapUpstream: { leap: upLeap.leap, fakeLeapSecond: upLeap.lastLeapSecond },
      rows: rows.map(
        (r) =>
          `${r.tally}${r.remote} st ${r.stratum} refid ${r.refid} reach ${r.reach.toString(8)}`,
      ),
      upstreamsDirect: d.upstreams,
      warnings: d.warnings,
      leapUp,
    });
  }, 300_000);
});
