/**
 * Tools the bench builds into its cache (`.bench-cache`, or $NTP_BENCH_CACHE): the load
 * generator and the socket-buffer shim (compiled with gcc, keyed by source hash). The daemons
 * (ntpd, chronyd) and their clients run from the lab's tools image (lab/imageRecipe.ts: chrony is
 * unpacked there next to ntpsec, both being `time-daemon` — docs/lab-mechanisms.md#host-packages).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { imageSpawnSync } from "../lab/imageExec";

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
  // Host build tools only (lab/prereqs.ts HOST_PACKAGES); the daemons come from the image.
  const need: [string, string][] = [
    ["gcc", "gcc"],
    ["capsh", "libcap2-bin"],
    ["ip", "iproute2"],
    ["taskset", "util-linux"],
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

/** ntpd's and chronyd's versions, as the tools image (`tools`) has them. */
export function versions(tools: string | undefined): {
  ntpsec: string;
  chrony: string | null;
} {
  if (tools === undefined) return { ntpsec: "", chrony: null };
  const version = (argv: string[]): string => {
    const r = imageSpawnSync(argv, { root: tools });
    if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.status}): ${r.stderr}`);
    return r.stdout.trim();
  };
  return {
    ntpsec: version(["ntpd", "--version"]).split("\n").at(-1) ?? "",
    chrony: version(["chronyd", "--version"]),
  };
}
