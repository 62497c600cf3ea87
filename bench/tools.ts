/**
 * Tools the bench builds or fetches into its cache (`.bench-cache`, or $NTP_BENCH_CACHE):
 * the load generator and the socket-buffer shim (compiled with gcc, keyed by source hash)
 * and chrony (its Debian .deb, downloaded with apt and extracted with dpkg-deb: chrony
 * cannot be installed next to ntpsec, both are `time-daemon` — LAB-NOTES §1).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "..");

export function defaultCacheDir(): string {
  return process.env.NTP_BENCH_CACHE ?? path.join(ROOT, ".bench-cache");
}

function must(argv: readonly string[], cwd?: string): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), {
    encoding: "utf8",
    cwd,
    timeout: 120_000,
  });
  if (r.error) throw new Error(`cannot run ${argv[0]}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${argv.join(" ")} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** What is missing for the measured parts, with the package that provides it. */
export function missingPrerequisites(): string[] {
  const need: [string, string][] = [
    ["gcc", "gcc"],
    ["ntpd", "ntpsec"],
    ["ntpq", "ntpsec"],
    ["capsh", "libcap2-bin"],
    ["nft", "nftables"],
    ["ip", "iproute2"],
    ["taskset", "util-linux"],
    ["apt-get", "apt"],
    ["dpkg-deb", "dpkg"],
  ];
  const missing = need.filter(([bin]) => spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0);
  return missing.map(([bin, pkg]) => `${bin} (apt-get install ${pkg})`);
}

/** Compiles bench/<name>.c once per source version; returns the output path. */
export function compile(cacheDir: string, name: string, shared: boolean): string {
  const src = path.join(__dirname, `${name}.c`);
  const hash = createHash("sha256").update(readFileSync(src)).digest("hex").slice(0, 12);
  const out = path.join(cacheDir, `${name}-${hash}${shared ? ".so" : ""}`);
  if (existsSync(out)) return out;
  mkdirSync(cacheDir, { recursive: true });
  const args = shared ? ["-shared", "-fPIC", "-o", out, src, "-ldl"] : ["-o", out, src];
  must(["gcc", "-O2", "-Wall", "-Werror", ...args]);
  return out;
}

/** chrony's package root (usr/sbin/chronyd, usr/bin/chronyc), extracted once. */
export function ensureChrony(cacheDir: string, log: (m: string) => void): string {
  const root = path.join(cacheDir, "chrony-root");
  if (existsSync(path.join(root, "usr/sbin/chronyd"))) return root;
  const debs = path.join(cacheDir, "debs");
  mkdirSync(debs, { recursive: true });
  log("downloading chrony's .deb (apt-get download chrony)");
  must(["apt-get", "download", "chrony"], debs);
  const deb = readdirSync(debs).find((f) => /^chrony_.*\.deb$/.test(f));
  if (!deb) throw new Error(`apt-get download chrony: no chrony_*.deb in ${debs}`);
  rmSync(root, { recursive: true, force: true });
  must(["dpkg-deb", "-x", path.join(debs, deb), root]);
  return root;
}

export function versions(chronyRoot: string | undefined): {
  ntpsec: string;
  chrony: string | null;
} {
  const ntpsec = must(["ntpd", "--version"]).trim().split("\n").at(-1) ?? "";
  const chrony = chronyRoot
    ? must([path.join(chronyRoot, "usr/sbin/chronyd"), "--version"]).trim()
    : null;
  return { ntpsec, chrony };
}
