import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { DEBIAN_SUITES, describeStale, type SuiteState } from "./debian";
import { mustRun, sleep } from "./exec";
import { type BuiltFrom, newestBuild, staleness, statesOnce, suitesHash } from "./imageFreshness";
import {
  buildRoot,
  IMAGE_PACKAGES,
  layer,
  layerTools,
  REPO_EXTRA_PACKAGES,
  type RootRecipe,
  renderImageCloudCfg,
  TOOLS_PACKAGES,
  TOOLS_UNPACKED,
  upgradeFromSuites,
} from "./imageRecipe";

/*
 * The lab's cache of built roots (the droplet image and the tools root, lab/imageRecipe.ts):
 * which build to use, when to build again, one builder at a time.
 */

/** Default cache: `<repo>/.lab-cache` (git-ignored); `NTP_LAB_CACHE` overrides. */
export function defaultCacheDir(): string {
  return resolve(process.env.NTP_LAB_CACHE ?? join(__dirname, "..", ".lab-cache"));
}

/**
 * The source text of function `name` of lab/imageRecipe.ts, as written: a cache key part that is the
 * same whichever transpiler loaded the module (Function.toString() differs between tsx, which
 * the lab CLI runs under, and vitest, whose global setup builds the same images).
 */
function sourceOf(name: string): string {
  const text = readFileSync(join(__dirname, "imageRecipe.ts"), "utf8");
  const start = text.indexOf(`function ${name}(`);
  const end = text.indexOf("\n}\n", start);
  if (start < 0 || end < 0) throw new Error(`lab/imageRecipe.ts: no function ${name}`);
  return text.slice(start, end);
}

/** The part of every root's cache key that does not depend on the suites' contents. */
function recipeHash(): ReturnType<typeof createHash> {
  return createHash("sha256")
    .update(JSON.stringify({ DEBIAN_SUITES }))
    .update(sourceOf("buildRoot"))
    .update(sourceOf("upgradeFromSuites"));
}

function toolsKey(): string {
  return recipeHash()
    .update(JSON.stringify({ TOOLS_PACKAGES, TOOLS_UNPACKED }))
    .update(sourceOf("layerTools"))
    .digest("hex")
    .slice(0, 12);
}

/**
 * The newest complete tools root in `cacheDir`, else a clear error saying how to build it.
 * Synchronous, for tests that run after the vitest global setup (test/globalSetup.ts) built it.
 */
export function toolsRoot(cacheDir: string = defaultCacheDir()): string {
  const b = newestBuild(cacheDir, `tools-${toolsKey()}`);
  if (b === undefined) {
    throw new Error(
      `the lab's tools image is not built in ${cacheDir} (NTP_LAB_CACHE): run \`sudo npm test\` or \`sudo npm run lab\` once, which build it`,
    );
  }
  return join(b.dir, "root");
}

/**
 * The newest complete droplet image in `cacheDir` (root, repository, what it was built from),
 * else a clear error saying how to build it. Synchronous, like toolsRoot.
 */
export function dropletImage(cacheDir: string = defaultCacheDir()): {
  readonly root: string;
  readonly repo: string;
  readonly builtFrom: BuiltFrom;
} {
  const b = newestBuild(cacheDir, `image-${imageKey()}`);
  if (b === undefined) {
    throw new Error(
      `the lab's droplet image is not built in ${cacheDir} (NTP_LAB_CACHE): run \`sudo npm test\` or \`sudo npm run lab\` once, which build it`,
    );
  }
  return { root: join(b.dir, "root"), repo: join(b.dir, "repo"), builtFrom: b.builtFrom };
}

function imageKey(): string {
  return (
    recipeHash()
      .update(JSON.stringify({ IMAGE_PACKAGES, REPO_EXTRA_PACKAGES }))
      .update(renderImageCloudCfg())
      // The lab layer is part of the image: a change to it must rebuild the image.
      .update(sourceOf("layer"))
      .update(readFileSync(join(__dirname, "nosystime.c")))
      .digest("hex")
      .slice(0, 12)
  );
}

/** Builds the LD_PRELOAD shim (docs/lab-mechanisms.md#shared-clock) into the cache; reused while the source is unchanged. */
function ensureShim(cacheDir: string): Promise<string> {
  return ensureSharedObject(cacheDir, "nosystime");
}

/**
 * Compiles lab/<name>.c into `<cacheDir>/<name>-<source hash>.so` (an LD_PRELOAD shim) once
 * per source; concurrent runs each write a temporary file and rename it into place.
 */
export async function ensureSharedObject(cacheDir: string, name: string): Promise<string> {
  const src = join(__dirname, `${name}.c`);
  const hash = createHash("sha256").update(readFileSync(src)).digest("hex").slice(0, 12);
  const out = join(cacheDir, `${name}-${hash}.so`);
  if (existsSync(out)) return out;
  mkdirSync(cacheDir, { recursive: true });
  // Unique per call: concurrent tests of one process may build the same object at once.
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await mustRun(["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", tmp, src, "-ldl"]);
  renameSync(tmp, out);
  return out;
}

/**
 * The cached Debian root every droplet boots from (copy-on-write via overlayfs), with a local
 * apt repository of every downloaded .deb, as current as DEBIAN_SUITES (see ensureRoot).
 */
export interface Image {
  /** The read-only lower layer of every droplet's overlay. */
  readonly root: string;
  /** The local apt repository (flat, file:), bind-mounted at GUEST_REPO_DIR in droplets. */
  readonly repo: string;
  /** True when this call built the root (false: taken from the cache). */
  readonly built: boolean;
  /** The shim on the host, for daemons the lab starts outside droplets. */
  readonly hostShim: string;
  /** The tools root (TOOLS_PACKAGES): daemons and clients the lab runs outside droplets. */
  readonly tools: string;
}

/**
 * Set in the environment once a process has compared the cache with the suites (the test
 * tiers' global setup does it once for the whole run): later calls in it and its children take
 * the newest build without asking the mirror again, so a suite that changes during a 30-minute
 * test run cannot rebuild a root under tests that are using it.
 */
export const SUITES_CHECKED_ENV = "NTP_LAB_SUITES_CHECKED";

/**
 * The droplet image and its repository, and the tools root: each taken from the cache while it
 * is as current as DEBIAN_SUITES, else (re)built, saying why.
 */
export async function ensureImage(
  cacheDir: string,
  progress: (msg: string) => void,
): Promise<Image> {
  const hostShim = await ensureShim(cacheDir);
  // The two roots are independent: built side by side (debootstrap is mostly waiting on
  // dpkg, one core each).
  const [tools, r] = await Promise.all([
    ensureToolsImage(cacheDir, progress),
    ensureRoot({
      cacheDir,
      base: `image-${imageKey()}`,
      what: "droplet image",
      packages: IMAGE_PACKAGES,
      progress,
      layer: async (broot, debs) => {
        const extra = await upgradeFromSuites(broot, debs, {
          downloadWithDependencies: REPO_EXTRA_PACKAGES,
        });
        await layer(broot, hostShim);
        return extra;
      },
    }),
  ]);
  return { root: join(r.dir, "root"), repo: join(r.dir, "repo"), built: r.built, hostShim, tools };
}

/** The tools root, from the cache while current, else (re)built. */
export async function ensureToolsImage(
  cacheDir: string,
  progress: (msg: string) => void,
): Promise<string> {
  const r = await ensureRoot({
    cacheDir,
    base: `tools-${toolsKey()}`,
    what: "tools image",
    packages: TOOLS_PACKAGES,
    progress,
    layer: (broot, debs) => layerTools(broot, debs, progress),
  });
  return join(r.dir, "root");
}

/**
 * One cached root: the newest build of `o.base` while it is as current as DEBIAN_SUITES, else a
 * new one in `<base>-<suites hash>` (older builds of the same base are then removed). Without an
 * answer from the mirror a cached build is used as it is, with a warning.
 */
async function ensureRoot(o: RootRecipe): Promise<{ dir: string; built: boolean }> {
  const cached = newestBuild(o.cacheDir, o.base);
  if (cached !== undefined) {
    if (process.env[SUITES_CHECKED_ENV] !== undefined) return { dir: cached.dir, built: false };
    try {
      const stale = await staleness(cached.dir);
      if (stale.length === 0) {
        o.progress(
          `${o.what}: built ${cached.builtFrom.builtAt}, no newer package in ${DEBIAN_SUITES.map((s) => s.name).join(", ")}`,
        );
        return { dir: cached.dir, built: false };
      }
      o.progress(
        `${o.what} built ${cached.builtFrom.builtAt} is older than Debian's suites: ${describeStale(stale)}; rebuilding`,
      );
    } catch (e) {
      o.progress(
        `${o.what}: cannot compare with Debian's suites (${(e as Error).message}): using the build of ${cached.builtFrom.builtAt} as it is`,
      );
      return { dir: cached.dir, built: false };
    }
  } else {
    o.progress(`${o.what}: none in ${o.cacheDir} for this recipe (${o.base}): building it`);
  }
  const states = await statesOnce(DEBIAN_SUITES);
  const dir = join(o.cacheDir, `${o.base}-${suitesHash(states)}`);
  const r = await lockedBuild(o, dir, states);
  for (const name of readdirSync(o.cacheDir)) {
    const old = join(o.cacheDir, name);
    if (name.startsWith(`${o.base}-`) && old !== dir && !name.includes(".")) {
      o.progress(`${o.what}: removing the older build ${old}`);
      rmSync(old, { recursive: true, force: true });
    }
  }
  return r;
}

/**
 * Builds `dir` unless another process did: one builder at a time (the test tiers' global setups
 * and lab runs may start together), the others wait for it and take over when it died.
 */
async function lockedBuild(
  o: RootRecipe,
  dir: string,
  states: Record<string, SuiteState>,
): Promise<{ dir: string; built: boolean }> {
  const lock = `${dir}.lock`;
  for (let announced = false; ; ) {
    try {
      mkdirSync(o.cacheDir, { recursive: true });
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      if (existsSync(join(dir, "complete"))) return { dir, built: false };
      let holder = 0;
      try {
        holder = Number(readFileSync(join(lock, "pid"), "utf8"));
      } catch {
        // The holder has not written its PID yet, or just finished: look again.
      }
      if (holder > 0 && !existsSync(`/proc/${holder}`)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) o.progress(`${o.what}: waiting for process ${holder} that builds it`);
      announced = true;
      await sleep(2000);
    }
  }
  try {
    if (existsSync(join(dir, "complete"))) return { dir, built: false };
    await buildRoot(o, dir, states);
    return { dir, built: true };
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
