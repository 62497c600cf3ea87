/**
 * vitest global setup of the real-tool and lab tiers: what `sudo npm test` needs on a fresh
 * clone, set up the way `npm run lab` does it (announced first): the host packages of
 * lab/prereqs.ts HOST_PACKAGES, then the cached droplet and tools images (lab/image.ts).
 * Both projects name this file; the first call does the work and the second waits for it
 * (globalThis is shared by every global setup of one vitest process).
 *
 * Without root or Linux it does nothing: the tiers' own checks then fail with what to do
 * (test/real/prereqs.ts, test/lab/helpers.ts), never skip.
 */
import { defaultCacheDir, ensureImage } from "../lab/image";
import { ensurePackages, notRunnable } from "../lab/prereqs";

const KEY = Symbol.for("ntp-pool.test.globalSetup");
type Holder = { [KEY]?: Promise<void> };

export default async function setup(): Promise<void> {
  if (notRunnable() !== undefined) return;
  const holder = globalThis as Holder;
  holder[KEY] ??= (async () => {
    const t0 = Date.now();
    const log = (msg: string) =>
      console.log(`[test setup ${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);
    ensurePackages(log);
    const image = await ensureImage(defaultCacheDir(), log);
    log(`images ready: droplet ${image.root}, tools ${image.tools}`);
  })();
  await holder[KEY];
}
