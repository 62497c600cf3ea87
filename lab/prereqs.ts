import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";

/**
 * The only Debian packages the lab, the tests and the bench install on the host, with what
 * each is for. None of them ships a systemd unit (system or user), conflicts with another
 * package, or provides a time daemon (test/real/host-packages.test.ts checks that against the
 * packages' own metadata): every daemon and client (ntpd, ntpdig, ntpq, sshd, ssh, cloud-init,
 * nft, conntrack, chrony, shellcheck, rsvg-convert) runs from the lab's cached images
 * (lab/image.ts, lab/imageExec.ts), never from the host. unshare and nsenter come from
 * util-linux, which is Essential (on every Debian system) and not listed: it ships
 * fstrim.timer, so it could not pass the rule above.
 */
export const HOST_PACKAGES: Readonly<Record<string, string>> = {
  debootstrap: "building the lab's cached Debian roots (droplet image, tools image)",
  "dpkg-dev": "dpkg-scanpackages, the index of the droplets' local apt repository",
  iproute2: "ip netns/link/addr: the lab's network namespaces, veth pairs, bridges; ss",
  "libcap2-bin": "capsh, to drop CAP_SYS_TIME before every lab daemon starts",
  gcc: "building the LD_PRELOAD shims (lab/nosystime.c, the bench's receive-buffer shim)",
  "libc6-dev": "headers and crt files for those shims",
};

/** The first `name` on PATH, by its real path. */
function onPath(name: string): string | undefined {
  for (const d of (process.env.PATH ?? "").split(":")) {
    const p = join(d, name);
    if (d !== "" && existsSync(p)) return realpathSync(p);
  }
  return undefined;
}

/**
 * Host programs the tests may run that no Debian package of the host brings (test/helpers/
 * hostPath.ts builds the tiers' PATH from these and HOST_PACKAGES).
 */
export const HOST_PROGRAMS: Readonly<
  Record<string, { readonly why: string; readonly find: () => string | undefined }>
> = {
  node: { why: "runs the lab, the tests and the outside check", find: () => process.execPath },
  go: {
    why: "builds doctl for the doctl tests (docs/testing.md: Go 1.22 or later)",
    find: () => onPath("go"),
  },
};

/** Packages of `wanted` that dpkg does not report as installed. */
export function missingPackages(wanted: readonly string[] = Object.keys(HOST_PACKAGES)): string[] {
  // dpkg-query's own format syntax, not a template string.
  const format = ["-f=$", "{Package} $", "{db:Status-Status}\\n"].join("");
  const r = spawnSync("dpkg-query", ["-W", format, ...wanted], {
    encoding: "utf8",
  });
  const installed = new Set(
    (r.stdout ?? "")
      .split("\n")
      .filter((l) => l.endsWith(" installed"))
      .map((l) => l.split(" ")[0]),
  );
  return wanted.filter((p) => !installed.has(p));
}

/** Why the lab cannot run here, or undefined: not root, or not Linux. */
export function notRunnable(): string | undefined {
  if (process.platform !== "linux")
    return `the lab needs Linux (network namespaces); this is ${process.platform}`;
  if (process.getuid?.() !== 0) {
    return "the lab needs root (network namespaces, nftables, overlay mounts): run `sudo npm run lab`";
  }
  return undefined;
}

/**
 * As root: installs what is missing with apt-get, announcing it first. Throws with the list
 * when installing fails. Never changes anything when nothing is missing.
 */
export function ensurePackages(log: (msg: string) => void): void {
  const missing = missingPackages();
  if (missing.length === 0) return;
  log(`installing missing Debian packages: ${missing.join(" ")} (apt-get install)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const upd = spawnSync("apt-get", ["update", "-q"], { stdio: "inherit", env });
  const inst = spawnSync(
    "apt-get",
    ["install", "-y", "-q", "--no-install-recommends", ...missing],
    {
      stdio: "inherit",
      env,
    },
  );
  if (upd.status !== 0 || inst.status !== 0 || missingPackages(missing).length > 0) {
    throw new Error(
      `could not install ${missing.join(" ")}: run \`apt-get install ${missing.join(" ")}\``,
    );
  }
}
