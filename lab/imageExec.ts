import {
  type ChildProcess,
  type SpawnOptions,
  type SpawnSyncReturns,
  spawn,
  spawnSync,
} from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { mustRun, type RunOptions, type RunResult, run } from "./exec";

/**
 * The one way the lab, the tests and the bench start a program outside a droplet: from a
 * cached image root (usually the tools root, lab/imageRecipe.ts TOOLS_PACKAGES), never from the
 * host's installed packages. The command runs
 *
 * - in network namespace `netns` (`ip netns exec`), or in a new empty one when none is given,
 *   so that it can never bind a port of the host;
 * - in a private mount namespace (lab/guest/image-exec.sh) where the root is a tmpfs overlay
 *   over the image: writes vanish with the process, the cache on disk is never changed, and no
 *   mount is visible on the host;
 * - chrooted into the image, so `/proc/<pid>/root` is the image path inside the lab cache;
 * - with CAP_SYS_TIME dropped from the bounding set (capsh) unless told otherwise: the kernel
 *   then refuses every clock change, and all namespaces share the host's clock (docs/lab-mechanisms.md#shared-clock);
 * - with a clean environment (PATH, LANG=C.UTF-8, HOME=/root) plus `env`.
 *
 * The spawned process ends as the command itself (every step execs), so its PID is the
 * daemon's and killing it ends the command and its mounts.
 */
export interface ImageExecOptions {
  /** The image root, e.g. `ensureImage(...).tools` or `toolsRoot()`. */
  readonly root: string;
  /** `ip netns` name to run in; default: a new, empty network namespace. */
  readonly netns?: string;
  /** Host paths made visible inside the root (e.g. a test's scratch directory). */
  readonly binds?: readonly ImageBind[];
  /** Extra environment of the command (e.g. LD_PRELOAD of a shim bound into the root). */
  readonly env?: Readonly<Record<string, string>>;
  /** Empty writable tmpfs directories inside the root (beyond the overlay, which is writable). */
  readonly tmpfs?: readonly string[];
  /** Working directory inside the root. Default: `/`. */
  readonly cwd?: string;
  /** Keep CAP_SYS_TIME in the bounding set. Default false: dropped. */
  readonly keepCapSysTime?: boolean;
}

interface ImageBind {
  /** Path on the host (file or directory; must exist). */
  readonly host: string;
  /** Path inside the root. Default: the same as `host`, so absolute paths in configs still work. */
  readonly guest?: string;
  /** Mount read-only. Default false. */
  readonly readOnly?: boolean;
}

const SCRIPT = join(__dirname, "guest", "image-exec.sh");

/** argv (for spawn/run) that runs `argv` from the image as described on ImageExecOptions. */
export function imageExecArgv(argv: readonly string[], o: ImageExecOptions): string[] {
  if (argv.length === 0) throw new Error("imageExecArgv: empty command");
  const inner: string[] = [SCRIPT, o.root];
  for (const b of o.binds ?? []) {
    inner.push(b.readOnly ? "--ro-bind" : "--bind", b.host, b.guest ?? b.host);
  }
  for (const d of o.tmpfs ?? []) inner.push("--tmpfs", d);
  for (const [k, v] of Object.entries(o.env ?? {})) inner.push("--env", `${k}=${v}`);
  if (o.cwd !== undefined) inner.push("--cwd", o.cwd);
  // `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over the host's /etc/hosts (the lab's
  // upstream names, lab/net.ts writeNetnsHosts); the image sees the same file.
  if (o.netns !== undefined && existsSync(`/etc/netns/${o.netns}/hosts`)) {
    inner.push("--hosts", "/etc/hosts");
  }
  inner.push("--", ...argv);
  // capsh `--` runs bash with the rest; without the drop, bash directly.
  const caps = o.keepCapSysTime
    ? ["bash", ...inner]
    : ["capsh", "--drop=cap_sys_time", "--", ...inner];
  const mountNs = ["unshare", "--mount", "--propagation", "private"];
  return o.netns !== undefined
    ? ["ip", "netns", "exec", o.netns, ...mountNs, ...caps]
    : [...mountNs, "--net", ...caps];
}

/** Spawns the command from the image (stdio and the rest from `spawnOpts`). */
export function imageSpawn(
  argv: readonly string[],
  o: ImageExecOptions,
  spawnOpts: SpawnOptions = {},
): ChildProcess {
  const a = imageExecArgv(argv, o);
  return spawn(a[0] as string, a.slice(1), spawnOpts);
}

/** Runs the command from the image synchronously (for short tools: shellcheck, schema checks). */
export function imageSpawnSync(
  argv: readonly string[],
  o: ImageExecOptions,
  opts: { readonly input?: string } = {},
): SpawnSyncReturns<string> {
  const a = imageExecArgv(argv, o);
  return spawnSync(a[0] as string, a.slice(1), { encoding: "utf8", input: opts.input });
}

/** Runs the command from the image to its end (lab/exec.ts run: never throws on exit code). */
export function imageRun(
  argv: readonly string[],
  o: ImageExecOptions,
  opts: RunOptions = {},
): Promise<RunResult> {
  return run(imageExecArgv(argv, o), opts);
}

/** Like imageRun, but throws with the command and its stderr on a non-zero exit. */
export function imageMustRun(
  argv: readonly string[],
  o: ImageExecOptions,
  opts: RunOptions = {},
): Promise<RunResult> {
  return mustRun(imageExecArgv(argv, o), opts);
}
