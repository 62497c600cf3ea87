import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GOOD_UPSTREAM } from "../../lab/upstreams";
import { TimeWorld } from "../helpers/timekeeping";
import { requireRealTools } from "../real/prereqs";

// Restarts and late DNS (issue 13), at the level of the member's ntpd with the shipped
// ntp.conf: a restart (SIGTERM, as a shutdown sends; ntpd writes its drift file) and the
// time until it serves synchronised time again on IPv4 and IPv6; and an upstream whose name
// resolves only some time after ntpd started.

let world: TimeWorld | undefined;
afterEach(() => {
  world?.teardown();
  expect(world?.net.leftovers() ?? []).toEqual([]);
  world = undefined;
});

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

describe("member ntpd restart and late DNS (real ntpd, shipped ntp.conf)", () => {
  it("after a restart it serves again on IPv4 and IPv6 within a measured bound, reading its drift file", async () => {
    requireRealTools(["ntpd", "ntpq", "ntpdig"]);
    world = await TimeWorld.create({
      upstreams: [GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM, GOOD_UPSTREAM],
    });
    const w = world;
    const t0 = w.startMember();
    const first = await servingAfter(w, w.member.ipv4, t0, 90_000);
    expect(first).not.toBeNull();
    await w.stopMember();
    const drift = path.join(w.net.dir, "member", "ntp.drift");
    expect(existsSync(drift), "drift file written at shutdown").toBe(true);
    const t1 = w.startMember();
    const [v4, v6] = await Promise.all([
      servingAfter(w, w.member.ipv4, t1, 90_000),
      servingAfter(w, w.member.ipv6, t1, 90_000),
    ]);
    const log = readFileSync(path.join(w.net.dir, "member", "ntpd.log"), "utf8");
    console.log(
      `FIGURE restart: ${JSON.stringify({
        firstBootServingSeconds: (first ?? 0) / 1000,
        afterRestartServingSeconds: { ipv4: (v4 ?? 0) / 1000, ipv6: (v6 ?? 0) / 1000 },
        driftFile: readFileSync(drift, "utf8").trim(),
      })}`,
    );
    expect(v4).not.toBeNull();
    expect(v6).not.toBeNull();
    expect(log).toMatch(/frequency initialized|drift/i);
  }, 300_000);
});
