import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDoctl } from "./doctl";
import { assertLabPrerequisites, ROOT } from "./labCli";

/** A lab started with `--keep`, with what it prints for manual use. */
interface KeptLab {
  readonly url: string;
  readonly token: string;
  /** The deployer (internet) namespace. */
  readonly ns: string;
  readonly prefix: string;
  readonly child: ChildProcess;
  /** The CLI's exit code, once it has ended (after stopKeptLab). */
  readonly exited: Promise<number | null>;
  /** Everything the lab printed so far. */
  out(): string;
}

/** What a kept lab is started with, besides `--keep`. */
interface KeptLabOptions {
  /** More arguments of `npm run lab` (e.g. `--report <file>`). */
  readonly args?: readonly string[];
  /** Called with each whole line the lab prints, from the start. */
  readonly onLine?: (line: string, child: ChildProcess) => void;
}

/** Starts `npm run lab -- --keep` and resolves once it printed the API URL, token and namespace. */
function startKeptLab(opts: KeptLabOptions = {}): Promise<KeptLab> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, "node_modules/tsx/dist/cli.mjs"),
        join(ROOT, "lab/cli.ts"),
        "--keep",
        ...(opts.args ?? []),
      ],
      { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
    );
    const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
    let out = "";
    let buf = "";
    const got: { url?: string; token?: string; ns?: string; prefix?: string } = {};
    let done = false;
    const onData = (b: Buffer) => {
      out += b.toString();
      buf += b.toString();
      let i = buf.indexOf("\n");
      while (i >= 0) {
        opts.onLine?.(buf.slice(0, i), child);
        buf = buf.slice(i + 1);
        i = buf.indexOf("\n");
      }
      got.url ??= /^DIGITALOCEAN_API_URL=(\S+)$/m.exec(out)?.[1];
      got.token ??= /^DIGITALOCEAN_ACCESS_TOKEN=(\S+)$/m.exec(out)?.[1];
      got.ns ??= /^deployer namespace: (\S+)$/m.exec(out)?.[1];
      got.prefix ??= /run (ntpl-[0-9a-f]{6})/.exec(out)?.[1];
      if (!done && got.url && got.token && got.ns && got.prefix) {
        done = true;
        resolve({
          url: got.url,
          token: got.token,
          ns: got.ns,
          prefix: got.prefix,
          child,
          exited,
          out: () => out,
        });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("close", (code) =>
      reject(new Error(`lab exited (${code}) before --keep:\n${out.slice(-4000)}`)),
    );
  });
}

/** Ends a kept lab as a user does (a line on stdin) and waits for its teardown. */
export async function stopKeptLab(lab: ChildProcess | undefined): Promise<void> {
  if (!lab || lab.exitCode !== null) return;
  const closed = new Promise((r) => lab.once("close", r));
  lab.stdin?.write("\n");
  await closed;
}

/** argv of doctl run from the kept lab's deployer namespace, JSON output. */
export function doctlArgv({ lab, doctlBin, home }: KeptSession, args: readonly string[]): string[] {
  return [
    "ip",
    "netns",
    "exec",
    lab.ns,
    doctlBin,
    "--api-url",
    lab.url,
    "-t",
    lab.token,
    "--config",
    join(home, "config.yaml"),
    "-o",
    "json",
    ...args,
  ];
}

/** A kept lab with doctl ready for it (a private doctl config dir). */
export interface KeptSession {
  readonly lab: KeptLab;
  readonly doctlBin: string;
  readonly home: string;
}

/** Checks the prerequisites, installs doctl if needed and starts a kept lab. */
export async function openKeptSession(
  tag: string,
  opts: KeptLabOptions = {},
): Promise<KeptSession> {
  assertLabPrerequisites();
  const doctlBin = ensureDoctl().bin;
  const home = mkdtempSync(join(tmpdir(), `ntp-lab-${tag}-`));
  return { lab: await startKeptLab(opts), doctlBin, home };
}
