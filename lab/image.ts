import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import {
  DEBIAN_SUITES,
  type DebianSuite,
  debFileNameVersion,
  describeStale,
  fetchSuiteIndex,
  fetchSuiteStates,
  installedVersions,
  ROOT_PATH,
  renderSourcesList,
  type StalePackage,
  type SuiteState,
  stalePackages,
} from "./debian";
import { mustRun, sleep } from "./exec";

/**
 * debootstrap lays down the release (the first suite); the build then upgrades the root from
 * all of DEBIAN_SUITES with apt, as a droplet's sources and first-boot upgrade would.
 */
const BASE = DEBIAN_SUITES[0] as DebianSuite;

/**
 * Installed in the cached droplet image: what a DigitalOcean Debian 12 image boots with
 * (cloud-init, sshd, iproute2, nftables, CA certificates). `--include` does not resolve virtual
 * dependencies: cloud-init stays unconfigured without python3-cffi-backend, and its locale
 * module fails without locales (docs/lab-mechanisms.md#cloud-init).
 */
export const IMAGE_PACKAGES: readonly string[] = [
  "openssh-server",
  "cloud-init",
  "iproute2",
  "nftables",
  "ca-certificates",
  "python3-cffi-backend",
  "locales",
  "procps",
];

/**
 * Not in the image but offered by the lab's local apt repository (with their dependencies),
 * so that the user-data's `packages:` and the first-boot install script really install them,
 * maintainer scripts included, inside the droplet. A package the user-data asks for that is
 * missing here fails the droplet's boot with apt's own message; add it to this list.
 */
export const REPO_EXTRA_PACKAGES: readonly string[] = [
  "ntpsec",
  "ntpsec-ntpdate",
  "tzdata",
  "unattended-upgrades",
];

/**
 * The lab's second cached root, "tools": every daemon and client the lab, the tests and the
 * bench start outside a droplet runs from here (lab/imageExec.ts), never from the host. It is
 * not the droplet image because a droplet must stay what DigitalOcean boots (no ntpd until
 * the user-data installs it), and because chrony conflicts with ntpsec (both Provide and
 * Conflict time-daemon): chrony is unpacked here with `dpkg-deb -x` (no maintainer scripts;
 * its library dependencies are listed below), as the bench needs both daemons side by side.
 * shellcheck, librsvg2-bin (rsvg-convert) and systemd (systemd-analyze) are here too, so the
 * host needs none of them. Nothing in this root ever boots or starts a unit.
 */
export const TOOLS_PACKAGES: readonly string[] = [
  "ntpsec",
  "ntpsec-ntpdate",
  "cloud-init",
  "python3-cffi-backend",
  "openssh-server",
  "openssh-client",
  "nftables",
  "conntrack",
  "iproute2",
  "procps",
  "libcap2-bin",
  "faketime",
  "shellcheck",
  "librsvg2-bin",
  // systemd-analyze, to verify the user-data's units against Debian's own ntpsec.service.
  "systemd",
  // chrony's Depends (Debian 12), for the unpacked chronyd/chronyc.
  "libedit2",
  "libgnutls30",
  "libnettle8",
  "libseccomp2",
];

/** Unpacked into the tools root with `dpkg-deb -x` (it conflicts with ntpsec, see above). */
export const TOOLS_UNPACKED: readonly string[] = ["chrony"];

/** Where the droplets' apt finds the lab repository (a file: source inside the image). */
export const GUEST_REPO_DIR = "/srv/ntp-lab-apt";
/** The LD_PRELOAD shim inside the image (listed in its /etc/ld.so.preload). */
export const GUEST_SHIM = "/usr/local/lib/ntp-lab/nosystime.so";

/** Default cache: `<repo>/.lab-cache` (git-ignored); `NTP_LAB_CACHE` overrides. */
export function defaultCacheDir(): string {
  return resolve(process.env.NTP_LAB_CACHE ?? join(__dirname, "..", ".lab-cache"));
}

/** The image's cloud-init settings file (each droplet's overlay replaces it, lab/droplet.ts). */
export const IMAGE_CLOUD_CFG = "90-ntp-lab.cfg";

/** cloud-init settings of the image: what differs from a DigitalOcean image, and why. */
export function renderImageCloudCfg(): string {
  return [
    "# ntp-pool lab image.",
    "# DigitalOcean serves user-data from its metadata service (DataSourceDigitalOcean); the lab",
    "# hands the same user-data to cloud-init through a NoCloud seed instead.",
    "datasource_list: [ NoCloud, None ]",
    "# The lab configures the droplet's interfaces itself (as DigitalOcean's metadata would).",
    "network: {config: disabled}",
    "# DigitalOcean's images log in as root with the droplet's SSH keys.",
    "disable_root: false",
    "",
  ].join("\n");
}

/**
 * The source text of function `name` of this file, as written: a cache key part that is the
 * same whichever transpiler loaded the module (Function.toString() differs between tsx, which
 * the lab CLI runs under, and vitest, whose global setup builds the same images).
 */
function sourceOf(name: string): string {
  const text = readFileSync(join(__dirname, "image.ts"), "utf8");
  const start = text.indexOf(`function ${name}(`);
  const end = text.indexOf("\n}\n", start);
  if (start < 0 || end < 0) throw new Error(`lab/image.ts: no function ${name}`);
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

/** What a cached root was built from, beside it as `built-from.json`. */
export interface BuiltFrom {
  readonly builtAt: string;
  /** Each suite's package index when the build started (lab/debian.ts). */
  readonly suites: Readonly<Record<string, SuiteState>>;
  /** Package → version the root holds (for the droplet image: also what its repository adds). */
  readonly packages: Readonly<Record<string, string>>;
}

const BUILT_FROM = "built-from.json";

/** A complete build of one root: `<cacheDir>/<base>-<suites hash>/{root,complete,built-from.json}`. */
interface Build {
  readonly dir: string;
  readonly builtFrom: BuiltFrom;
}

/** The most recently built complete build whose directory starts with `base-`. */
function newestBuild(cacheDir: string, base: string): Build | undefined {
  if (!existsSync(cacheDir)) return undefined;
  let best: Build | undefined;
  for (const name of readdirSync(cacheDir)) {
    if (!name.startsWith(`${base}-`) || name.includes(".")) continue;
    const dir = join(cacheDir, name);
    if (!existsSync(join(dir, "complete"))) continue;
    let builtFrom: BuiltFrom;
    try {
      builtFrom = JSON.parse(readFileSync(join(dir, BUILT_FROM), "utf8")) as BuiltFrom;
    } catch {
      continue;
    }
    if (best === undefined || builtFrom.builtAt > best.builtFrom.builtAt) best = { dir, builtFrom };
  }
  return best;
}

function suitesHash(suites: Readonly<Record<string, SuiteState>>): string {
  const ids = DEBIAN_SUITES.map((s) => `${s.name}:${suites[s.name]?.sha256 ?? "?"}`);
  return createHash("sha256").update(ids.join("\n")).digest("hex").slice(0, 8);
}

/** Builds the LD_PRELOAD shim (docs/lab-mechanisms.md#shared-clock) into the cache; reused while the source is unchanged. */
export function ensureShim(cacheDir: string): Promise<string> {
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
  const tmp = `${out}.${process.pid}.tmp`;
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

interface RootRecipe {
  readonly cacheDir: string;
  /** Directory name prefix: what the root is and its package lists (imageKey/toolsKey). */
  readonly base: string;
  readonly what: string;
  readonly packages: readonly string[];
  readonly progress: (msg: string) => void;
  /**
   * The lab's changes to the fresh debootstrap root (`debs`: the build's .deb directory);
   * returns package → version of what it downloaded but did not install.
   */
  readonly layer: (broot: string, debs: string) => Promise<Map<string, string>>;
}

/** The suites' states, read once per process and mirror (both roots ask). */
const suiteStates = new Map<string, Promise<Record<string, SuiteState>>>();
const indexes = new Map<string, Promise<Map<string, string>>>();

function statesOnce(suites: readonly DebianSuite[]): Promise<Record<string, SuiteState>> {
  const key = suites.map((s) => `${s.mirror} ${s.name}`).join("\n");
  let p = suiteStates.get(key);
  if (p === undefined) {
    p = fetchSuiteStates(suites);
    // A failed answer is not kept: the next run (or root) asks again.
    p.catch(() => suiteStates.delete(key));
    suiteStates.set(key, p);
  }
  return p;
}

/**
 * The packages of the build in `dir` that `suites` now offer in a newer version (empty: the
 * build is current). A suite whose package index is unchanged since the build is not read; when
 * indexes changed without touching the build, built-from.json records them, so the next run
 * does not download them again. Throws when the mirror cannot be asked.
 */
export async function staleness(
  dir: string,
  suites: readonly DebianSuite[] = DEBIAN_SUITES,
): Promise<StalePackage[]> {
  const builtFrom = JSON.parse(readFileSync(join(dir, BUILT_FROM), "utf8")) as BuiltFrom;
  const now = await statesOnce(suites);
  const changed = suites.filter((s) => now[s.name]?.sha256 !== builtFrom.suites[s.name]?.sha256);
  const offered = new Map<string, Map<string, string>>();
  for (const s of changed) {
    const state = now[s.name] as SuiteState;
    const key = `${s.mirror} ${s.name} ${state.sha256}`;
    let index = indexes.get(key);
    if (index === undefined) {
      index = fetchSuiteIndex(s, state);
      index.catch(() => indexes.delete(key));
      indexes.set(key, index);
    }
    offered.set(s.name, await index);
  }
  const stale = stalePackages(new Map(Object.entries(builtFrom.packages)), offered);
  if (stale.length === 0 && changed.length > 0) {
    const updated: BuiltFrom = { ...builtFrom, suites: { ...builtFrom.suites, ...now } };
    writeFileSync(join(dir, BUILT_FROM), `${JSON.stringify(updated, null, 2)}\n`);
  }
  return stale;
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

/**
 * debootstrap of the release, the lab's layer (which upgrades it from all suites), and the
 * record of what the result holds; built in `<dir>.build-<pid>` and renamed into place.
 */
async function buildRoot(
  o: RootRecipe,
  dir: string,
  states: Record<string, SuiteState>,
): Promise<void> {
  const build = `${dir}.build-${process.pid}`;
  rmSync(build, { recursive: true, force: true });
  // One .deb cache per recipe: two debootstraps downloading into one directory at once break
  // each other's files, and the droplets' repository is made of the droplet image's alone.
  const debs = join(o.cacheDir, "debs", o.base);
  mkdirSync(debs, { recursive: true });
  try {
    const t0 = Date.now();
    o.progress(
      `${o.what}: debootstrap --variant=minbase ${BASE.name}, then apt from ${DEBIAN_SUITES.map((s) => s.name).join(", ")} (packages: ${o.packages.join(" ")})`,
    );
    const broot = join(build, "root");
    await mustRun([
      "debootstrap",
      "--variant=minbase",
      `--cache-dir=${debs}`,
      `--include=${o.packages.join(",")}`,
      BASE.name,
      broot,
      BASE.mirror,
    ]);
    const downloaded = await o.layer(broot, debs);
    const packages = installedVersions(readFileSync(join(broot, "var/lib/dpkg/status"), "utf8"));
    for (const [name, version] of downloaded) if (!packages.has(name)) packages.set(name, version);
    const builtFrom: BuiltFrom = {
      builtAt: new Date().toISOString(),
      suites: states,
      packages: Object.fromEntries([...packages].sort(([a], [b]) => a.localeCompare(b))),
    };
    writeFileSync(join(build, BUILT_FROM), `${JSON.stringify(builtFrom, null, 2)}\n`);
    if (o.base.startsWith("image-")) await writeRepo(debs, join(build, "repo"));
    try {
      renameSync(build, dir);
    } catch (e) {
      // Another run built the same root meanwhile: use theirs once it is complete.
      if (!existsSync(join(dir, "complete"))) throw e;
      return;
    }
    writeFileSync(join(dir, "complete"), `${builtFrom.builtAt}\n`);
    o.progress(`${o.what}: built in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${dir}`);
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
}

/**
 * Brings a fresh debootstrap root up to DEBIAN_SUITES with apt inside it, as a droplet's
 * first-boot upgrade would, and downloads (without installing) `downloadWithDependencies`
 * and `downloadOnly`. Every .deb apt fetched goes to `debs` (the droplets' repository is made
 * from there); returns package → version of the downloaded packages. apt's lists and archives
 * are emptied afterwards.
 *
 * apt runs chrooted in its own mount and PID namespaces (proc mounted there only, every
 * process gone when it ends), with a policy-rc.d that forbids starting services: no daemon of
 * the root may start on the host (invoke-rc.d asks policy-rc.d, Debian policy §9.3.3).
 */
export async function upgradeFromSuites(
  broot: string,
  debs: string,
  o: { downloadWithDependencies?: readonly string[]; downloadOnly?: readonly string[] },
): Promise<Map<string, string>> {
  const archives = join(broot, "var/cache/apt/archives");
  const policy = join(broot, "usr/sbin/policy-rc.d");
  writeFileSync(join(broot, "etc/apt/sources.list"), renderSourcesList());
  writeFileSync(policy, "#!/bin/sh\n# ntp-pool lab build: start no service\nexit 101\n", {
    mode: 0o755,
  });
  // Without Recommends, as debootstrap installs: a droplet's first-boot apt would pull in
  // unattended-upgrades' systemd-sysv from a repository holding it, and a lab droplet has the
  // lab's systemctl stand-in instead of systemd (a real droplet has systemd already).
  const apt = [
    "apt-get -q -y -o APT::Install-Recommends=false",
    "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
  ].join(" ");
  const script = [
    "set -e",
    `${apt} update`,
    `${apt} dist-upgrade`,
    ...(o.downloadWithDependencies?.length
      ? [`${apt} --download-only install ${o.downloadWithDependencies.join(" ")}`]
      : []),
    ...(o.downloadOnly?.length
      ? [`cd /var/cache/apt/archives && apt-get -q download ${o.downloadOnly.join(" ")}`]
      : []),
  ].join("\n");
  try {
    const before = new Set(readdirSync(archives));
    await mustRun(
      [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        `--mount-proc=${join(broot, "proc")}`,
        "chroot",
        broot,
        "/bin/sh",
        "-c",
        script,
      ],
      {
        env: {
          DEBIAN_FRONTEND: "noninteractive",
          LANG: "C.UTF-8",
          PATH: ROOT_PATH,
        },
      },
    );
    const got = new Map<string, string>();
    for (const f of readdirSync(archives)) {
      const deb = debFileNameVersion(f);
      if (deb === undefined) continue;
      linkOrCopy(join(archives, f), join(debs, f));
      if (!before.has(f)) got.set(deb.name, deb.version);
    }
    return got;
  } finally {
    rmSync(policy, { force: true });
    for (const f of readdirSync(archives)) if (f.endsWith(".deb")) rmSync(join(archives, f));
    const lists = join(broot, "var/lib/apt/lists");
    for (const f of readdirSync(lists)) {
      if (f !== "partial" && f !== "lock") rmSync(join(lists, f), { recursive: true, force: true });
    }
  }
}

/**
 * The lab's changes to a fresh tools root: upgraded from the suites, chrony unpacked (its .deb
 * downloaded by apt), no SSH host keys (each sshd a test starts gets its own), and no service
 * enabled (nothing here ever boots).
 */
export async function layerTools(
  broot: string,
  debs: string,
  progress: (msg: string) => void,
): Promise<Map<string, string>> {
  progress(`tools image: apt upgrade from the suites; downloading ${TOOLS_UNPACKED.join(" ")}`);
  const downloaded = await upgradeFromSuites(broot, debs, { downloadOnly: TOOLS_UNPACKED });
  for (const pkg of TOOLS_UNPACKED) {
    const version = downloaded.get(pkg);
    const deb = readdirSync(debs).find(
      (f) => debFileNameVersion(f)?.name === pkg && debFileNameVersion(f)?.version === version,
    );
    if (!deb) throw new Error(`tools image: no ${pkg}_*.deb in ${debs} after downloading it`);
    // tar's --keep-directory-symlink: the package's ./lib/ must not replace the merged-/usr
    // symlink lib -> usr/lib (plain `dpkg-deb -x` does, and the root then has no loader).
    await mustRun([
      "sh",
      "-c",
      'dpkg-deb --fsys-tarfile "$1" | tar -x --keep-directory-symlink -C "$2"',
      "sh",
      join(debs, deb),
      broot,
    ]);
  }
  for (const f of readdirSync(join(broot, "etc/ssh"))) {
    if (f.startsWith("ssh_host_")) rmSync(join(broot, "etc/ssh", f));
  }
  return downloaded;
}

/** The lab's changes to a fresh debootstrap root; each one is a difference from a DO image. */
export async function layer(broot: string, hostShim: string): Promise<void> {
  // DigitalOcean's images have en_US.UTF-8, the locale cloud-init's locale module sets.
  writeFileSync(join(broot, "etc/locale.gen"), "en_US.UTF-8 UTF-8\n");
  await mustRun(["chroot", broot, "locale-gen"], { env: { PATH: ROOT_PATH } });
  // e2scrub_reap needs LVM, which a lab droplet (an overlay root, no block devices) has not.
  rmSync(join(broot, "etc/systemd/system/multi-user.target.wants/e2scrub_reap.service"), {
    force: true,
  });
  mkdirSync(join(broot, GUEST_REPO_DIR.slice(1)), { recursive: true });
  // A flat file: repository; [trusted=yes] because it has no signed Release (it never
  // leaves this machine).
  writeFileSync(
    join(broot, "etc/apt/sources.list"),
    `# ntp-pool lab: packages come from the lab's local repository (no network in droplets)\ndeb [trusted=yes] file:${GUEST_REPO_DIR} ./\n`,
  );
  writeFileSync(join(broot, "etc/cloud/cloud.cfg.d/90-ntp-lab.cfg"), renderImageCloudCfg());
  mkdirSync(join(broot, "usr/local/lib/ntp-lab"), { recursive: true });
  copyFileSync(hostShim, join(broot, GUEST_SHIM.slice(1)));
  writeFileSync(join(broot, "etc/ld.so.preload"), `${GUEST_SHIM}\n`);
  // cloud-init's ssh module makes new host keys per instance; none are baked into the image.
  for (const f of readdirSync(join(broot, "etc/ssh"))) {
    if (f.startsWith("ssh_host_")) rmSync(join(broot, "etc/ssh", f));
  }
}

/** The droplets' flat apt repository: every .deb in `debs`, indexed by dpkg-scanpackages. */
async function writeRepo(debs: string, repo: string): Promise<void> {
  mkdirSync(repo, { recursive: true });
  for (const f of readdirSync(debs)) {
    if (f.endsWith(".deb")) linkOrCopy(join(debs, f), join(repo, f));
  }
  // --multiversion: apt picks the newest of each package, as from the suites.
  const scan = await mustRun(["dpkg-scanpackages", "--multiversion", "."], { cwd: repo });
  writeFileSync(join(repo, "Packages"), scan.stdout);
}

function linkOrCopy(from: string, to: string): void {
  if (existsSync(to)) return;
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}
