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
import { join } from "node:path";
import {
  DEBIAN_SUITES,
  type DebianSuite,
  debFileNameVersion,
  installedVersions,
  ROOT_PATH,
  renderSourcesList,
  type SuiteState,
} from "./debian";
import { mustRun } from "./exec";
import { BUILT_FROM, type BuiltFrom } from "./imageFreshness";

/*
 * The recipe of the lab's two cached roots: what each holds and how it is built. lab/image.ts
 * keys the cache by this file's build functions as written (sourceOf), so editing one of them
 * rebuilds the roots.
 */

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
const GUEST_SHIM = "/usr/local/lib/ntp-lab/nosystime.so";

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

export interface RootRecipe {
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

/**
 * debootstrap of the release, the lab's layer (which upgrades it from all suites), and the
 * record of what the result holds; built in `<dir>.build-<pid>` and renamed into place.
 */
export async function buildRoot(
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
