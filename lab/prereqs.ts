import { spawnSync } from "node:child_process";

/**
 * Debian packages the lab (and the real/lab test tiers) need on the host, with what each is for.
 * The droplets' own packages come from the cached image and the lab's apt repository instead.
 */
export const HOST_PACKAGES: Readonly<Record<string, string>> = {
  ntpsec: "ntpd for the lab's stratum-1 upstreams",
  "ntpsec-ntpdate": "ntpdig, the outside client",
  "cloud-init": "cloud-init schema checks (real-tool tests)",
  "openssh-client": "ssh for command:remote:Command",
  "openssh-server": "sshd (real-tool tests)",
  nftables: "the emulated cloud firewall and reserved-IP NAT",
  conntrack: "flushing the edge's connection table when a firewall changes",
  iproute2: "network namespaces, veth, bridge",
  "libcap2-bin": "capsh, to drop CAP_SYS_TIME from every lab daemon",
  debootstrap: "building the cached Debian droplet image",
  "dpkg-dev": "dpkg-scanpackages for the lab's apt repository",
  gcc: "building the LD_PRELOAD clock shim",
  "libc6-dev": "building the LD_PRELOAD clock shim",
  "util-linux": "unshare, nsenter",
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
