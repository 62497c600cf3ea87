/**
 * vitest global setup of the real-tool and lab tiers: what `sudo npm test` needs on a fresh
 * clone, set up the way `npm run lab` does it (announced first): the host packages of
 * lab/prereqs.ts HOST_PACKAGES, then the cached droplet and tools images (lab/image.ts),
 * compared once with Debian's suites for the whole run. Both projects name this file; the
 * first call does the work and the second waits for it (globalThis is shared by every global
 * setup of one vitest process).
 *
 * Then the run's PATH becomes the allowed host programs only (test/helpers/hostPath.ts), with
 * no Python path of the host's: a test that runs a tool from the host instead of the lab's
 * images fails here as it would on a user's machine without that tool. Test workers start
 * after this and inherit it.
 *
 * Without root or Linux it does nothing: the tiers' own checks then fail with what to do
 * (test/helpers/realTools.ts, test/helpers/labCli.ts), never skip.
 */
import { defaultCacheDir, ensureImage, SUITES_CHECKED_ENV } from "../lab/image";
import { ensurePackages, notRunnable } from "../lab/prereqs";
import { restrictedPathDir } from "./helpers/hostPath";

const KEY = Symbol.for("ntp-pool.test.globalSetup");
type Holder = { [KEY]?: Promise<void> };

/** Set to the restricted PATH directory; tests compare PATH with it (host-programs test). */
export const RESTRICTED_PATH_ENV = "NTP_LAB_RESTRICTED_PATH";

export default async function setup(): Promise<void> {
  if (notRunnable() !== undefined) return;
  const holder = globalThis as Holder;
  holder[KEY] ??= (async () => {
    const t0 = Date.now();
    const log = (msg: string) =>
      console.log(`[test setup ${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);
    ensurePackages(log);
    const image = await ensureImage(defaultCacheDir(), log);
    process.env[SUITES_CHECKED_ENV] = new Date().toISOString();
    log(`images ready: droplet ${image.root}, tools ${image.tools}`);
    const dir = restrictedPathDir(defaultCacheDir());
    process.env.PATH = dir;
    process.env[RESTRICTED_PATH_ENV] = dir;
    for (const k of ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"]) {
      delete process.env[k];
    }
    process.env.PYTHONNOUSERSITE = "1";
    log(`PATH for the tests: ${dir} (the allowed host programs only)`);
  })();
  await holder[KEY];
}
