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
import { mustRun, sleep } from "./exec";

/** Debian release of the lab droplets (DigitalOcean's `debian-12-x64`). */
export const DEBIAN_SUITE = "bookworm";
export const DEBIAN_MIRROR = "http://deb.debian.org/debian";

/**
 * Installed in the cached droplet image: what a DigitalOcean Debian 12 image boots with
 * (cloud-init, sshd, iproute2, nftables, CA certificates). `--include` does not resolve virtual
 * dependencies: cloud-init stays unconfigured without python3-cffi-backend, and its locale
 * module fails without locales (DESIGN.md, lab facts).
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

function toolsKey(): string {
  return createHash("sha256")
    .update(JSON.stringify({ DEBIAN_SUITE, DEBIAN_MIRROR, TOOLS_PACKAGES, TOOLS_UNPACKED }))
    .update(sourceOf("layerTools"))
    .digest("hex")
    .slice(0, 12);
}

/** The tools root's path in `cacheDir` (built or not: see toolsRoot/ensureToolsImage). */
export function toolsRootPath(cacheDir: string): string {
  return join(cacheDir, `tools-${toolsKey()}`, "root");
}

/**
 * The tools root if it is built, else a clear error saying how to build it. Synchronous, for
 * tests that run after the vitest global setup (test/globalSetup.ts) built it.
 */
export function toolsRoot(cacheDir: string = defaultCacheDir()): string {
  const root = toolsRootPath(cacheDir);
  if (!existsSync(join(root, "..", "complete"))) {
    throw new Error(
      `the lab's tools image is not built in ${cacheDir} (NTP_LAB_CACHE): run \`sudo npm test\` or \`sudo npm run lab\` once, which build it`,
    );
  }
  return root;
}

function imageKey(): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ DEBIAN_SUITE, DEBIAN_MIRROR, IMAGE_PACKAGES }));
  h.update(renderImageCloudCfg());
  // The lab layer is part of the image: a change to it must rebuild the image.
  h.update(sourceOf("layer"));
  h.update(readFileSync(join(__dirname, "nosystime.c")));
  return h.digest("hex").slice(0, 12);
}

/** Builds the LD_PRELOAD shim (LAB-NOTES §3) into the cache; reused while the source is unchanged. */
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
 * apt repository of every downloaded .deb. Built once per package list (~2-3 min, ~400 MB);
 * later runs take it from the cache.
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
 * The cached Debian root every droplet boots from (copy-on-write via overlayfs) and the local
 * apt repository of every downloaded .deb. The root is built once per package list (~2-3 min,
 * ~360 MB); later runs take both from the cache.
 */
export async function ensureImage(
  cacheDir: string,
  progress: (msg: string) => void,
): Promise<Image> {
  const hostShim = await ensureShim(cacheDir);
  const debs = join(cacheDir, "debs");
  mkdirSync(debs, { recursive: true });
  const repo = await ensureRepo(cacheDir, debs, progress);
  // The two roots are independent: built side by side (debootstrap is mostly waiting on
  // dpkg, one core each).
  const [tools, r] = await Promise.all([
    ensureToolsImage(cacheDir, progress),
    ensureRoot({
      dir: join(cacheDir, `image-${imageKey()}`),
      what: "droplet image",
      packages: IMAGE_PACKAGES,
      debs,
      progress,
      layer: (broot) => layer(broot, hostShim),
    }),
  ]);
  return { root: r.root, repo, built: r.built, hostShim, tools };
}

/** Builds (once per TOOLS_PACKAGES) or takes from the cache the tools root. */
export async function ensureToolsImage(
  cacheDir: string,
  progress: (msg: string) => void,
): Promise<string> {
  const debs = join(cacheDir, "debs");
  mkdirSync(debs, { recursive: true });
  const r = await ensureRoot({
    dir: join(toolsRootPath(cacheDir), ".."),
    what: "tools image",
    packages: TOOLS_PACKAGES,
    debs,
    progress,
    layer: (broot) => layerTools(broot, debs, progress),
  });
  return r.root;
}

/**
 * One cached debootstrap root in `dir` (`dir/root`, complete when `dir/complete` exists),
 * built in a per-process directory and renamed into place, so that two runs building the
 * same root at once both end with one complete copy.
 */
async function ensureRoot(o: {
  dir: string;
  what: string;
  packages: readonly string[];
  debs: string;
  progress: (msg: string) => void;
  layer: (broot: string) => Promise<void>;
}): Promise<{ root: string; built: boolean }> {
  const root = join(o.dir, "root");
  if (existsSync(join(o.dir, "complete"))) return { root, built: false };
  // One builder at a time (the test tiers' global setups and lab runs may start together):
  // the others wait for it, and take over when it died without finishing.
  const lock = `${o.dir}.lock`;
  for (let announced = false; ; ) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      if (existsSync(join(o.dir, "complete"))) return { root, built: false };
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
    if (existsSync(join(o.dir, "complete"))) return { root, built: false };
    return await buildRoot(o, root);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function buildRoot(
  o: Parameters<typeof ensureRoot>[0],
  root: string,
): Promise<{ root: string; built: boolean }> {
  const build = `${o.dir}.build-${process.pid}`;
  rmSync(build, { recursive: true, force: true });
  try {
    o.progress(
      `${o.what}: debootstrap --variant=minbase ${DEBIAN_SUITE} (packages: ${o.packages.join(" ")})`,
    );
    const broot = join(build, "root");
    await mustRun([
      "debootstrap",
      "--variant=minbase",
      `--cache-dir=${o.debs}`,
      `--include=${o.packages.join(",")}`,
      DEBIAN_SUITE,
      broot,
      DEBIAN_MIRROR,
    ]);
    await o.layer(broot);
    mkdirSync(o.dir, { recursive: true });
    try {
      renameSync(broot, root);
    } catch (e) {
      // Another run built the same root meanwhile: use theirs once it is complete.
      if (!existsSync(join(o.dir, "complete"))) throw e;
      return { root, built: false };
    }
    writeFileSync(join(o.dir, "complete"), `${new Date().toISOString()}\n`);
    return { root, built: true };
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
}

/**
 * The lab's changes to a fresh tools root: chrony unpacked (its .deb and dependencies fetched
 * by debootstrap --download-only into the shared .deb cache), no SSH host keys (each sshd a
 * test starts gets its own), and no service enabled (nothing here ever boots).
 */
export async function layerTools(
  broot: string,
  debs: string,
  progress: (msg: string) => void,
): Promise<void> {
  progress(`tools image: downloading ${TOOLS_UNPACKED.join(" ")} (debootstrap --download-only)`);
  const dl = `${broot}.download`;
  try {
    await mustRun([
      "debootstrap",
      "--download-only",
      "--variant=minbase",
      `--cache-dir=${debs}`,
      `--include=${TOOLS_UNPACKED.join(",")}`,
      DEBIAN_SUITE,
      dl,
      DEBIAN_MIRROR,
    ]);
  } finally {
    rmSync(dl, { recursive: true, force: true });
  }
  for (const pkg of TOOLS_UNPACKED) {
    const deb = readdirSync(debs)
      .filter((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"))
      .sort()
      .at(-1);
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
}

/** The lab's changes to a fresh debootstrap root; each one is a difference from a DO image. */
export async function layer(broot: string, hostShim: string): Promise<void> {
  // DigitalOcean's images have en_US.UTF-8, the locale cloud-init's locale module sets.
  writeFileSync(join(broot, "etc/locale.gen"), "en_US.UTF-8 UTF-8\n");
  await mustRun(["chroot", broot, "locale-gen"]);
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

async function ensureRepo(
  cacheDir: string,
  debs: string,
  progress: (msg: string) => void,
): Promise<string> {
  const key = createHash("sha256")
    .update(JSON.stringify({ DEBIAN_SUITE, DEBIAN_MIRROR, IMAGE_PACKAGES, REPO_EXTRA_PACKAGES }))
    .digest("hex")
    .slice(0, 12);
  const repo = join(cacheDir, `repo-${key}`);
  if (existsSync(join(repo, "Packages"))) return repo;
  const build = join(cacheDir, `repo-build-${process.pid}`);
  rmSync(build, { recursive: true, force: true });
  try {
    const all = [...IMAGE_PACKAGES, ...REPO_EXTRA_PACKAGES].join(",");
    progress(`downloading Debian ${DEBIAN_SUITE} packages for the lab apt repository (${all})`);
    await mustRun([
      "debootstrap",
      "--download-only",
      "--variant=minbase",
      `--cache-dir=${debs}`,
      `--include=${all}`,
      DEBIAN_SUITE,
      join(build, "download"),
      DEBIAN_MIRROR,
    ]);
    const tmp = join(build, "repo");
    mkdirSync(tmp, { recursive: true });
    for (const f of readdirSync(debs)) {
      if (f.endsWith(".deb")) linkOrCopy(join(debs, f), join(tmp, f));
    }
    const scan = await mustRun(["dpkg-scanpackages", "--multiversion", "."], { cwd: tmp });
    writeFileSync(join(tmp, "Packages"), scan.stdout);
    try {
      renameSync(tmp, repo);
    } catch (e) {
      if (!existsSync(join(repo, "Packages"))) throw e;
    }
    return repo;
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}
