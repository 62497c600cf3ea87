import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "vitest";
import { GOOD_UPSTREAM } from "../../lab/upstreams";
import { parseVarList } from "../../verify/parse";
import { requireRealTools } from "../helpers/realTools";
import { TimeWorld } from "../helpers/timekeeping";

// Restarts and late DNS (issue 13), at the level of the member's ntpd with the shipped
// ntp.conf: a restart (SIGTERM, as a shutdown sends; ntpd writes its drift file) and the
// time until it serves synchronised time again on IPv4 and IPv6; and an upstream whose name
// resolves only some time after ntpd started. Two worlds of their own that mostly wait on
// ntpd: they run concurrently (TimeWorld.forTest).

/** The fourth upstream's name starts to resolve this long after ntpd started. */
const LATE_DNS_MS = 30_000;
/** How long to wait for ntpd to pick it up. */
const LATE_DNS_LIMIT_MS = 330_000;
/** A plausible droplet clock frequency error, ppm (what a drift file holds). */
const DRIFT_PPM = -7.25;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ms from `since` until ntpdig from the deployer gets a synchronised answer from `address`. */
async function servingAfter(w: TimeWorld, address: string, since: number, limitMs: number) {
  while (Date.now() - since < limitMs) {
    const r = await w.exec(w.deployer, ["ntpdig", "-t", "1", address], { timeoutMs: 5000 });
    if (/ s[1-5] (no-leap|add-leap|del-leap)/.test(r.stdout)) return Date.now() - since;
    await sleep(500);
  }
  return null;
}

describe.concurrent("member ntpd restart and late DNS (real ntpd, shipped ntp.conf)", () => {
  it("after a restart it serves again on IPv4 and IPv6 within a measured bound", async ({
    expect,
    onTestFinished,
  }) => {
    requireRealTools(["ntpd", "ntpq", "ntpdig"]);
    const w = await TimeWorld.forTest(onTestFinished, {
      upstreams: [GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM],
    });
    const t0 = w.startMember();
    const first = await servingAfter(w, w.member.ipv4, t0, 90_000);
    expect(first).not.toBeNull();
    await w.stopMember();
    // NTPsec writes the drift file about hourly once it knows the frequency, not at exit
    // (measured: none after a 10 s run). A droplet rebooted after days has one; this one is
    // such a file, and ntpd must start from it.
    const drift = path.join(w.net.dir, "member", "ntp.drift");
    expect(existsSync(drift)).toBe(false);
    writeFileSync(drift, `${DRIFT_PPM}\n`);
    const t1 = w.startMember();
    const [v4, v6] = await Promise.all([
      servingAfter(w, w.member.ipv4, t1, 90_000),
      servingAfter(w, w.member.ipv6, t1, 90_000),
    ]);
    const log = readFileSync(path.join(w.net.dir, "member", "ntpd.log"), "utf8");
    const freq = Number(
      parseVarList((await w.exec(w.member, ["ntpq", "-c", "rv 0 frequency"])).stdout).frequency,
    );
    console.log(
      `FIGURE restart: ${JSON.stringify({
        firstBootServingSeconds: (first ?? 0) / 1000,
        afterRestartServingSeconds: { ipv4: (v4 ?? 0) / 1000, ipv6: (v6 ?? 0) / 1000 },
        driftFilePpm: DRIFT_PPM,
        frequencyAfterRestartPpm: freq,
        driftLog: log.split("\n").filter((l) => /drift|freq/i.test(l)),
      })}`,
    );
    expect(v4).not.toBeNull();
    expect(v6).not.toBeNull();
    // A restart costs less than one pool check interval (540 s): at most one check can miss.
    expect(Math.max(v4 ?? 0, v6 ?? 0)).toBeLessThan(60_000);
    // Whether the drift file is USED cannot be observed here: ntpd hands its frequency to
    // the kernel, which refuses it (no CAP_SYS_TIME: "set_freq ... ntp_adjtime: Operation
    // not permitted" on every start), and ntpq then shows frequency 0. Reported, not asserted.
  }, 300_000);

  it("an upstream whose name resolves only later is picked up without a restart", async ({
    expect,
    onTestFinished,
  }) => {
    requireRealTools(["ntpd", "ntpq"]);
    const w = await TimeWorld.forTest(onTestFinished, {
      upstreams: [GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM],
    });
    const late = w.up[3]?.ipv4 ?? "";
    w.resolveByName([0, 1, 2]);
    const t0 = w.startMember();
    expect(await w.waitSynced(t0, 90_000)).not.toBeNull();
    await sleep(Math.max(0, t0 + LATE_DNS_MS - Date.now()));
    w.resolveByName([0, 1, 2, 3]);
    const published = Date.now();
    let pickedUp: number | null = null;
    while (Date.now() - published < LATE_DNS_LIMIT_MS) {
      const rows = await w.peers();
      if (rows.some((r) => r.remote === late && r.reach > 0)) {
        pickedUp = Date.now() - published;
        break;
      }
      await sleep(2000);
    }
    console.log(
      `FIGURE late-dns: ${JSON.stringify({
        nameResolvableAfterStartSeconds: LATE_DNS_MS / 1000,
        answeringPeerAfterPublishSeconds: pickedUp === null ? null : pickedUp / 1000,
        limitSeconds: LATE_DNS_LIMIT_MS / 1000,
      })}`,
    );
    expect(pickedUp).not.toBeNull();
  }, 600_000);
});
