import { type ChildProcess, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { hostTimex } from "./labCli";

// A user's machine is not ours (issue 11): the host before and after a lab run — installed
// packages and their states, enabled units, listening sockets of the host's network
// namespace, the kernel's clock discipline — and, while it runs, every ntpd, sshd, chronyd
// and cloud-init of the run with its root (test/lab/lab.test.ts asserts on them).

const DAEMONS = /^(ntpd|sshd|chronyd|cloud-init)$/;
/** Ports a time daemon or SSH server of the run would take if it bound the host's. */
export const DAEMON_PORTS = /:(22|123)$/;

export function out(argv: string[]): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** `<netid> <local address:port>` → owning processes (ss -p), listening in the host's namespace. */
function listening(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out(["ss", "-H", "-l", "-n", "-t", "-u", "-p"]).split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    m.set(`${f[0]} ${f[4]}`, f.slice(6).join(" "));
  }
  return m;
}

/** Every file and symlink under /etc/systemd/system with its target (enabled units). */
function enabledUnits(): string[] {
  return out(["find", "/etc/systemd/system", "-printf", "%P %l\n"]).split("\n").sort();
}

export function hostState() {
  return {
    packages: out([
      "dpkg-query",
      "-W",
      `-f=${["$", "{Package} $", "{db:Status-Abbrev}\\n"].join("")}`,
    ]),
    units: enabledUnits(),
    sockets: listening(),
    timex: hostTimex(),
  };
}

/** The network namespace inodes of this run's namespaces (`ip netns` names with its prefix). */
function runNetns(prefix: string): Set<number> {
  const inodes = new Set<number>();
  for (const name of readdirSync("/run/netns").filter((n) => n.startsWith(`${prefix}-`))) {
    try {
      inodes.add(statSync(join("/run/netns", name)).ino);
    } catch {
      // removed meanwhile
    }
  }
  return inodes;
}

/** PIDs of processes carrying the run's NTP_LAB_RUN marker (lab/region.ts). */
function markedPids(prefix: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${d}/environ`, "utf8").includes(`NTP_LAB_RUN=${prefix}`))
        pids.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

export interface Seen {
  readonly pid: number;
  readonly comm: string;
  readonly root: string;
}

/**
 * Daemons of the run now: processes named ntpd/sshd/chronyd/cloud-init that are in one of its
 * network namespaces or carry its NTP_LAB_RUN marker (lab/region.ts), each with /proc/<pid>/root.
 */
export function runDaemons(prefix: string): Seen[] {
  const nets = runNetns(prefix);
  const seen: Seen[] = [];
  for (const d of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
      if (!DAEMONS.test(comm)) continue;
      const net = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${d}/ns/net`))?.[1]);
      const ours =
        nets.has(net) ||
        readFileSync(`/proc/${d}/environ`, "utf8").includes(`NTP_LAB_RUN=${prefix}`);
      if (ours) seen.push({ pid: Number(d), comm, root: readlinkSync(`/proc/${d}/root`) });
    } catch {
      // exited meanwhile
    }
  }
  return seen;
}

/**
 * Watches a run while it goes: every daemon of the run (with its root) as soon as the run has
 * a prefix, and, every 2 s, host-namespace listeners owned by the CLI or a process of the
 * run. Call `onLine` with each line the CLI prints; `stop` when the run has ended.
 */
export function watchRun(): {
  onLine: (line: string, child: ChildProcess) => void;
  stop: () => void;
  readonly seen: Map<number, Seen>;
  readonly boundByRun: Set<string>;
} {
  const seen = new Map<number, Seen>();
  const boundByRun = new Set<string>();
  let prefix = "";
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;
  return {
    seen,
    boundByRun,
    onLine: (line, child) => {
      if (prefix !== "" || !/run (ntpl-[0-9a-f]{6})/.test(line)) return;
      prefix = /run (ntpl-[0-9a-f]{6})/.exec(line)?.[1] ?? "";
      timer = setInterval(() => {
        for (const s of runDaemons(prefix)) seen.set(s.pid, s);
        if (ticks++ % 4 !== 0) return;
        const pids = new Set([child.pid, ...markedPids(prefix), ...seen.keys()]);
        for (const [k, owner] of listening()) {
          if ([...pids].some((p) => owner.includes(`pid=${p},`))) boundByRun.add(`${k} ${owner}`);
        }
      }, 500);
    },
    stop: () => {
      if (timer) clearInterval(timer);
    },
  };
}
