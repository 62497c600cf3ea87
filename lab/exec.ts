import { type SpawnOptions, spawn } from "node:child_process";

/** Result of a finished child process. */
export interface RunResult {
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Data written to the child's stdin, then stdin is closed. Default: nothing. */
  readonly input?: string;
  /** Kill the child (SIGKILL) after this many milliseconds. Default: no limit. */
  readonly timeoutMs?: number;
  /** Extra environment on top of process.env. */
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /**
   * Called with each chunk of stdout as it arrives, and a way to signal the child: e.g. a
   * Ctrl-C (SIGINT) at a chosen point of a `pulumi up` (lab/engineRun.ts).
   */
  readonly onStdout?: (chunk: string, signal: (sig: NodeJS.Signals) => void) => void;
}

/**
 * PIDs of children started by run() that have not exited yet. Teardown kills them first, so
 * no `ip netns add` or `nft` still in flight can create something after it has cleaned up.
 */
export const liveChildren = new Set<number>();

/** Runs argv[0] with argv[1..] (no shell) and collects its output; never throws on exit code. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
    };
    const child = spawn(argv[0] as string, argv.slice(1), spawnOpts);
    const pid = child.pid;
    if (pid !== undefined) liveChildren.add(pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => {
      out.push(b);
      opts.onStdout?.(b.toString("utf8"), (sig) => child.kill(sig));
    });
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    }
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${argv[0]}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      if (pid !== undefined) liveChildren.delete(pid);
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? -1,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin?.on("error", () => {
      // The child may exit before reading all of stdin (EPIPE); its exit code tells the story.
    });
    child.stdin?.end(opts.input ?? "");
  });
}

/** Like run(), but throws with the command line and its stderr when the exit code is not 0. */
export async function mustRun(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    const detail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-15).join("\n");
    throw new Error(
      `command failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ""}): ${argv.join(" ")}\n${detail}`,
    );
  }
  return r;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
