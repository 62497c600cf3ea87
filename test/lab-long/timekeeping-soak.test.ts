import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { LOAD_SOURCES } from "../../bench/daemons";
import { compile } from "../../bench/tools";
import { NOTRACK_RULESET } from "../../cloud-init/userData";
import { defaultCacheDir } from "../../lab/image";
import { GOOD_UPSTREAM } from "../../lab/upstreams";
import { requireRealTools } from "../helpers/realTools";
import { TimeWorld } from "../helpers/timekeeping";

// Monitor soak (issue 13): three monitor namespaces score the member with
// `npm run pool -- monitor` (time compressed: a check every 4 s instead of 9 min) while
// bench/ntpload.c polls it from 131,072 client addresses at LOAD_RATE requests/s, each
// address far below `limited`. No monitor sample may be rate-limited or lost.

const MONITORS = 3;
const CHECKS = 20;
const INTERVAL_S = 4;
/** Requests/s of the background load: each address about once every 4 min. */
const LOAD_RATE = 500;

let world: TimeWorld | undefined;
let stopLoad = false;
afterAll(() => {
  stopLoad = true;
  world?.teardown();
  expect(world?.net.leftovers() ?? []).toEqual([]);
});

describe("monitor soak under background load (real ntpd, shipped ntp.conf)", () => {
  it(`${MONITORS} monitors × ${CHECKS} checks: every sample answered, none rate-limited`, async () => {
    requireRealTools(["ntpd", "ntpq"]);
    world = await TimeWorld.create({
      upstreams: [GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM],
      monitors: MONITORS,
    });
    const w = world;
    const loader = w.net.addNode("load", 200);
    const run = (node: typeof loader, argv: string[]) =>
      w.net.hostExec(node, argv, { timeoutMs: 30_000 }).then((r) => {
        if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
      });
    const range = `${LOAD_SOURCES.base}/${LOAD_SOURCES.prefix}`;
    await run(loader, ["ip", "route", "add", "local", range, "dev", "lo"]);
    await run(w.member, ["ip", "route", "add", range, "via", loader.ipv4]);
    // As deployed: the user-data's notrack table (cloud-init/userData.ts).
    w.net.nft(w.member, NOTRACK_RULESET);
    const t0 = w.startMember();
    expect(await w.waitSynced(t0, 90_000)).not.toBeNull();

    const ntpload = compile(defaultCacheDir(), "ntpload", false);
    const loads: { sent: number; replies: number; kod: number }[] = [];
    const loadLoop = (async () => {
      while (!stopLoad) {
        const out = await new Promise<string>((resolve) => {
          const c = spawn(
            "ip",
            [
              "netns",
              "exec",
              loader.ns,
              ntpload,
              w.member.ipv4,
              String(LOAD_RATE),
              "20",
              LOAD_SOURCES.base,
              String(LOAD_SOURCES.count),
              "500",
            ],
            { stdio: ["ignore", "pipe", "ignore"] },
          );
          let s = "";
          c.stdout.on("data", (b: Buffer) => {
            s += b.toString();
          });
          c.on("close", () => resolve(s));
        });
        const line = out.trim().split("\n").at(-1);
        if (line?.startsWith("{")) loads.push(JSON.parse(line));
      }
    })();

    const results = await Promise.all(
      w.monitors.map((m) =>
        w.monitor(m, [
          w.member.ipv4,
          "--reference",
          w.up[0]?.ipv4 ?? "",
          "--checks",
          String(CHECKS),
          "--interval",
          String(INTERVAL_S),
        ]),
      ),
    );
    stopLoad = true;
    await loadLoop;
    const checkLines = results.flatMap((r) =>
      r.stdout.split("\n").filter((l) => l.startsWith("check ")),
    );
    expect(checkLines).toHaveLength(MONITORS * CHECKS);
    const full = checkLines.filter((l) => l.includes("(3/3 answered)") && l.includes("step +1.00"));
    const scores = results.map((r) =>
      Number(r.stdout.trim().split("\n").at(-1)?.replace("score ", "")),
    );
    const offsets = checkLines.map((l) => Number(/offset ([-+][\d.]+) ms/.exec(l)?.[1]));
    const sent = loads.reduce((a, l) => a + l.sent, 0);
    const replies = loads.reduce((a, l) => a + l.replies, 0);
    console.log(
      `FIGURE monitor-soak: ${JSON.stringify({
        monitors: MONITORS,
        checksEach: CHECKS,
        samples: MONITORS * CHECKS * 3,
        samplesAnswered: full.length * 3,
        kissOrLost: checkLines.filter((l) => !l.includes("(3/3 answered)") || l.includes("kiss"))
          .length,
        finalScores: scores,
        maxAbsOffsetMs: Math.max(...offsets.map(Math.abs)),
        backgroundLoad: {
          requestsPerSecond: LOAD_RATE,
          sources: LOAD_SOURCES.count,
          sent,
          replies,
          kod: loads.reduce((a, l) => a + l.kod, 0),
        },
      })}`,
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(full).toHaveLength(MONITORS * CHECKS);
    expect(sent).toBeGreaterThan(0);
  }, 600_000);
});
