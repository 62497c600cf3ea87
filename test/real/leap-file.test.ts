/**
 * The leap-second file a lab droplet runs with is current: the one in the droplet image and the
 * one its first boot installs (the newest tzdata in the lab's repository, as from Debian's
 * suites) must be valid for at least LEAP_FILE_MARGIN_DAYS after today. Debian's tzdata of the
 * release alone expired on 2026-12-28 (2026b) while bookworm-security had 2026f: from then on
 * the on-droplet check fails in every lab run. This test says so a month before, naming the
 * package and (asking the mirror then) the suite that has a newer one.
 *
 * "Today" is the process's clock, so the check can be run at another date without touching the
 * host's clock: with lab/clockshift.c preloaded (NTP_LAB_CLOCK_SHIFT=<seconds>) around vitest.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import {
  DEBIAN_SUITES,
  debFileNameVersion,
  fetchSuiteIndex,
  fetchSuiteStates,
  type SuiteState,
  versionGreater,
} from "../../lab/debian";
import { dropletImage } from "../../lab/image";
import { leapFileExpiry, leapFileProblem } from "../../lab/leapFile";
import { requireRealTools } from "../helpers/realTools";

const LEAP_FILE = "usr/share/zoneinfo/leap-seconds.list";
/**
 * Which suite has a tzdata newer than `have` (asked only when the check fails, to name the fix);
 * without an answer from the mirror, the suites Debian publishes tzdata updates to.
 */
async function fix(have: string): Promise<string> {
  const rebuild = "`sudo npm run lab` compares the cached image with the suites and rebuilds it";
  try {
    const states = await fetchSuiteStates();
    for (const s of DEBIAN_SUITES) {
      const v = (await fetchSuiteIndex(s, states[s.name] as SuiteState)).get("tzdata");
      if (v !== undefined && versionGreater(v, have))
        return `tzdata ${v} in ${s.name} would fix it: ${rebuild}`;
    }
    return `no suite has a tzdata newer than ${have} yet: a member then needs one before its file expires (docs/timekeeping.md#the-leap-second-file-for-years)`;
  } catch (e) {
    return `Debian 12's tzdata updates come through bookworm-security and bookworm-updates (their index could not be read: ${(e as Error).message}): ${rebuild}`;
  }
}

/** The newest tzdata .deb of the lab repository: what a droplet's first boot installs. */
function newestRepoTzdata(repo: string): { file: string; version: string } {
  let best: { file: string; version: string } | undefined;
  for (const f of readdirSync(repo)) {
    const d = debFileNameVersion(f);
    if (d?.name !== "tzdata") continue;
    if (best === undefined || versionGreater(d.version, best.version))
      best = { file: f, version: d.version };
  }
  if (best === undefined) throw new Error(`no tzdata in the lab repository ${repo}`);
  return best;
}

it("the droplet image's and its repository's leap-seconds.list are valid 30 days from today", async () => {
  requireRealTools([]);
  const now = Date.now() / 1000;
  const image = dropletImage();
  const imageTz = image.builtFrom.packages.tzdata;
  expect(imageTz, "the droplet image records its tzdata version").toBeDefined();
  const inImage = leapFileExpiry(readFileSync(join(image.root, LEAP_FILE), "utf8"));

  const repoTz = newestRepoTzdata(image.repo);
  const r = spawnSync(
    "sh",
    [
      "-c",
      `dpkg-deb --fsys-tarfile "$1" | tar -xO "./${LEAP_FILE}"`,
      "sh",
      join(image.repo, repoTz.file),
    ],
    { encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
  const inRepo = leapFileExpiry(r.stdout);

  const problems = [
    leapFileProblem(`droplet image (tzdata ${imageTz})`, inImage, now),
    leapFileProblem(
      `lab repository, installed at first boot (tzdata ${repoTz.version})`,
      inRepo,
      now,
    ),
  ].filter((p) => p !== undefined);
  const how = problems.length > 0 ? await fix(repoTz.version) : "";
  expect(problems.map((p) => `${p}; ${how}`)).toEqual([]);
});
