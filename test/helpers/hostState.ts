import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultCacheDir } from "../../lab/image";
import { assertLabPrerequisites, hostTimex, runLabCli } from "../helpers/labCli";

// A user's machine is not ours (issue 11): one `npm run lab`, and the host before and after
// it — installed packages and their states, enabled units, listening sockets of the host's
// network namespace, the kernel's clock discipline. While it runs, every ntpd, sshd, chronyd
// and cloud-init of the run must have its root inside the lab cache, never `/`.
//
// The tier's global setup (test/globalSetup.ts) has installed lab/prereqs.ts HOST_PACKAGES
// and built the images before this file runs, so the run itself must change nothing.

const DAEMONS = /^(ntpd|sshd|chronyd|cloud-init)$/;
/** Ports a time daemon or SSH server of the run would take if it bound the host's. */
const DAEMON_PORTS = /:(22|123)$/;

function out(argv: string[]): string {
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

function hostState() {
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

/** PIDs of processes carrying the run's NTP_LAB_RUN marker (lab/lab.ts). */
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

interface Seen {
  readonly pid: number;
  readonly comm: string;
  readonly root: string;
}

/**
 * Daemons of the run now: processes named ntpd/sshd/chronyd/cloud-init that are in one of its
 * network namespaces or carry its NTP_LAB_RUN marker (lab/lab.ts), each with /proc/<pid>/root.
 */
function runDaemons(prefix: string): Seen[] {
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

describe("the lab leaves the machine as it was", () => {
  it("packages, enabled units, host sockets and clock unchanged; every daemon rooted in the cache", async () => {
    assertLabPrerequisites();
    const cache = defaultCacheDir();
    const before = hostState();
    const seen = new Map<number, Seen>();
    /** Host-namespace listeners owned by the lab CLI or a process of the run, while it ran. */
    const boundByRun = new Set<string>();
    let prefix = "";
    let timer: NodeJS.Timeout | undefined;
    let ticks = 0;
    const run = await runLabCli([], {
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
    });
    if (timer) clearInterval(timer);
    const after = hostState();
    expect(run.code, run.out.slice(-3000)).toBe(0);

    const all = [...seen.values()];
    const count = (c: string) => all.filter((s) => s.comm === c).length;
    console.log(
      `lab ${run.prefix}: ${count("ntpd")} ntpd, ${count("sshd")} sshd, ${count("cloud-init")} cloud-init, ${count("chronyd")} chronyd seen; roots: ${[...new Set(all.map((s) => s.root))].join(", ")}`,
    );
    // The upstreams (4) and the member's ntpd, the member's sshd, its cloud-init stages.
    expect(count("ntpd")).toBeGreaterThanOrEqual(5);
    expect(count("sshd")).toBeGreaterThanOrEqual(1);
    expect(count("cloud-init")).toBeGreaterThanOrEqual(1);
    expect(all.filter((s) => !s.root.startsWith(`${cache}/`))).toEqual([]);

    expect(after.packages).toBe(before.packages);
    expect(after.units).toEqual(before.units);
    expect(after.timex).toEqual(before.timex);
    // The host's sockets: no process of the run listened in the host's namespace while it ran,
    // and afterwards the host's listeners are the same. Other programs on a shared machine
    // may open or close sockets meanwhile; those are printed, not failed.
    expect([...boundByRun]).toEqual([]);
    const changed = [
      ...[...after.sockets].filter(([k]) => !before.sockets.has(k)),
      ...[...before.sockets].filter(([k]) => !after.sockets.has(k)),
    ];
    if (changed.length > 0)
      console.log(`host sockets changed by others: ${JSON.stringify(changed)}`);
    expect(
      changed.filter(
        ([k, owner]) => DAEMON_PORTS.test(k) || /"(ntpd|sshd|chronyd|cloud-init)"/.test(owner),
      ),
    ).toEqual([]);
  });

  it("the daemon check can fail: a host program named sshd in a run's namespace is reported with root /", async () => {
    const prefix = `ntpl-${randomBytes(3).toString("hex")}`;
    const ns = `${prefix}-x`;
    const dir = mkdtempSync(`${tmpdir()}/ntp-lab-fake-`);
    const fake = join(dir, "sshd");
    copyFileSync("/bin/sleep", fake);
    out(["ip", "netns", "add", ns]);
    const child = spawn("ip", ["netns", "exec", ns, fake, "30"], { stdio: "ignore" });
    try {
      let found: Seen[] = [];
      for (let i = 0; i < 50 && found.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        found = runDaemons(prefix);
      }
      expect(found.map((s) => [s.comm, s.root])).toEqual([["sshd", "/"]]);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      spawnSync("ip", ["netns", "del", ns]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
