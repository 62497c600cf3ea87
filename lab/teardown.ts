import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { liveChildren } from "./exec";

/**
 * Everything a lab run creates is registered here before (or right after) it is created, so
 * that one synchronous call removes it on success, failure, Ctrl-C and SIGTERM alike.
 * Synchronous on purpose: it must also work from a signal handler and from process 'exit'.
 */
export class Teardown {
  private readonly pids = new Set<number>();
  private readonly namespaces: string[] = [];
  private readonly paths: string[] = [];
  private done = false;
  private readonly notes: string[] = [];

  /** What went wrong while tearing down, and what the final sweep found. */
  get log(): readonly string[] {
    return this.notes;
  }

  /** `prefix`: every name this run creates starts with it; a final sweep looks for it. */
  constructor(readonly prefix?: string) {}

  addPid(pid: number | undefined): void {
    if (pid !== undefined) this.pids.add(pid);
  }

  /** A network namespace name; at teardown its processes are killed and it is deleted. */
  addNamespace(ns: string): void {
    this.namespaces.push(ns);
  }

  /** A file or directory removed (recursively) at teardown, e.g. /etc/netns/<ns> or the run dir. */
  addPath(path: string): void {
    this.paths.push(path);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Idempotent. Kills, then deletes namespaces, then removes paths; never throws. */
  run(): void {
    if (this.done) return;
    this.done = true;
    // First stop every command still in flight (teardown may run from a signal handler in
    // the middle of `ip netns add`), so nothing is created after the cleanup below.
    const inFlight = [...liveChildren];
    for (const pid of inFlight) killQuietly(pid);
    waitGone(inFlight, 5000);
    const victims = new Set(this.pids);
    for (const ns of this.namespaces) for (const pid of netnsPids(ns)) victims.add(pid);
    for (const pid of victims) killQuietly(pid);
    waitGone([...victims], 5000);
    for (const ns of [...this.namespaces].reverse()) {
      const r = spawnSync("ip", ["netns", "del", ns], { encoding: "utf8" });
      if (r.status !== 0 && !/No such file/.test(r.stderr))
        this.notes.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
    }
    for (const p of [...this.paths].reverse()) {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch (e) {
        this.notes.push(`rm ${p}: ${(e as Error).message}`);
      }
    }
    if (this.prefix) this.sweep(this.prefix);
  }

  /** Safety net: anything still named with the run's prefix, whether registered or not. */
  private sweep(prefix: string): void {
    const left = leftovers(prefix);
    const pids = left.processes.map((l) => Number(l.split(":")[0]));
    for (const ns of left.namespaces) pids.push(...netnsPids(ns));
    for (const pid of pids) killQuietly(pid);
    waitGone(pids, 5000);
    for (const ns of left.namespaces) {
      spawnSync("ip", ["netns", "del", ns]);
      this.notes.push(`swept namespace ${ns}`);
    }
    for (const e of left.etcNetns) rmSync(`/etc/netns/${e}`, { recursive: true, force: true });
  }
}

/** PIDs of the processes whose network namespace is `ns` (`ip netns pids`). */
function netnsPids(ns: string): number[] {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
  if (r.status !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

export function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    // A zombie still answers kill(0); read its state to tell.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function waitGone(pids: number[], limitMs: number): void {
  const until = Date.now() + limitMs;
  while (pids.some(alive) && Date.now() < until) {
    spawnSync("sleep", ["0.05"]);
  }
}

/** What a run with this prefix left behind on the host; empty lists mean a clean host. */
export function leftovers(prefix: string): {
  namespaces: string[];
  etcNetns: string[];
  processes: string[];
  mounts: string[];
} {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  const namespaces = (r.stdout ?? "")
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(prefix));
  const etcNetns = existsSync("/etc/netns")
    ? readdirSync("/etc/netns").filter((n) => n.startsWith(prefix))
    : [];
  const processes: string[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // Every lab process carries NTP_LAB_RUN=<prefix> in its environment (children inherit
      // it), so daemons inside droplets whose command lines name no lab path are found too.
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ");
      const env = readFileSync(`/proc/${d}/environ`, "utf8");
      if (cmd.includes(prefix) || env.includes(`NTP_LAB_RUN=${prefix}`)) {
        processes.push(`${d}: ${cmd.trim()}`);
      }
    } catch {
      // Exited while we looked.
    }
  }
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(prefix));
  return { namespaces, etcNetns, processes, mounts };
}
