import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import { run, sleep } from "./exec";
import type { Image } from "./image";
import { GUEST_REPO_DIR } from "./image";
import { ADDR, addNamespace, ip, nodad } from "./net";
import type { Teardown } from "./teardown";

/** One cloud-init stage or unit start as the droplet's init reported it. */
export interface BootStage {
  readonly name: string;
  readonly rc: number;
  readonly seconds: number;
}

/** What cloud-init itself recorded per module (from its log), for the report. */
export interface ModuleResult {
  readonly stage: string;
  readonly module: string;
  readonly result: "SUCCESS" | "FAIL" | "SKIP";
  readonly detail: string;
}

export interface DropletSpec {
  readonly n: number;
  readonly id: string;
  readonly name: string;
  readonly userData: string;
  readonly ipv6: boolean;
  readonly tags: readonly string[];
  /** OpenSSH public keys from the droplet's sshKeys (those the lab knows). */
  readonly publicKeys: readonly string[];
  /** Lines for the droplet's /etc/hosts (the lab's upstream names). */
  readonly hosts: string;
}

/** meta-data of the NoCloud seed: what DigitalOcean's metadata service would tell cloud-init. */
export function renderMetaData(spec: Pick<DropletSpec, "id" | "name" | "publicKeys">): string {
  return stringify({
    "instance-id": `lab-${spec.id}`,
    "local-hostname": spec.name,
    "public-keys": [...spec.publicKeys],
  });
}

/** Parses cloud-init's log for per-module results ("finish: <stage>/config-<module>: ..."). */
export function parseModuleResults(log: string): ModuleResult[] {
  const out: ModuleResult[] = [];
  const re = /finish: ([\w-]+)\/config-([\w-]+): (SUCCESS|FAIL): (.*)$/gm;
  for (const m of log.matchAll(re)) {
    out.push({
      stage: m[1] as string,
      module: m[2] as string,
      result: m[3] as "SUCCESS" | "FAIL",
      detail: (m[4] as string).trim(),
    });
  }
  return out;
}

/**
 * A lab droplet: a network namespace linked to the edge, and a private mount/PID/UTS namespace
 * in which a copy-on-write Debian root boots with real cloud-init (lab/guest/droplet-init.sh).
 */
export class Droplet {
  readonly ns: string;
  readonly dir: string;
  readonly upper: string;
  readonly edgeIf: string;
  readonly primary: string;
  readonly anchor: string;
  readonly primary6: string | null;
  readonly stages: BootStage[] = [];
  readonly bootLog: string[] = [];
  /** Resolves when the boot finished (READY) or failed; never rejects. */
  readonly booted: Promise<{ ok: boolean; why?: string; seconds: number }>;
  private child?: ChildProcess;
  /** When the droplet was created (ms since epoch): the start of its boot. */
  readonly t0 = Date.now();
  private resolveBoot!: (v: { ok: boolean; why?: string; seconds: number }) => void;

  constructor(
    readonly spec: DropletSpec,
    prefix: string,
    runDir: string,
  ) {
    this.ns = `${prefix}-d${spec.n}`;
    this.dir = join(runDir, `d${spec.n}`);
    this.upper = join(this.dir, "upper");
    this.edgeIf = `d${spec.n}`;
    this.primary = ADDR.dropletPrimary(spec.n);
    this.anchor = ADDR.anchor(spec.n);
    this.primary6 = spec.ipv6 ? ADDR.dropletPrimary6(spec.n) : null;
    this.booted = new Promise((r) => {
      this.resolveBoot = r;
    });
  }

  /** Network: eth0 with the primary address and the anchor, linked to the edge's `dN`. */
  async createNetwork(td: Teardown, edgeNs: string): Promise<void> {
    const n = this.spec.n;
    await addNamespace(td, this.ns);
    await ip(
      "-n",
      edgeNs,
      "link",
      "add",
      this.edgeIf,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      this.ns,
    );
    const edgeAddrs = [`${ADDR.dropletGw(n)}/24`, `${ADDR.anchorGw(n)}/24`];
    if (this.primary6) edgeAddrs.push(`${ADDR.dropletGw6(n)}/64`);
    for (const a of edgeAddrs)
      await ip("-n", edgeNs, "addr", "add", a, "dev", this.edgeIf, ...nodad(a));
    await ip("-n", edgeNs, "link", "set", this.edgeIf, "up");
    // Primary first: it is the source the kernel picks for traffic to the gateway.
    const addrs = [`${this.primary}/24`, `${this.anchor}/16`];
    if (this.primary6) addrs.push(`${this.primary6}/64`);
    for (const a of addrs) await ip("-n", this.ns, "addr", "add", a, "dev", "eth0", ...nodad(a));
    await ip("-n", this.ns, "link", "set", "eth0", "up");
    await ip("-n", this.ns, "route", "add", "default", "via", ADDR.dropletGw(n));
    if (this.primary6)
      await ip("-n", this.ns, "-6", "route", "add", "default", "via", ADDR.dropletGw6(n));
  }

  /** Seeds the overlay's upper layer: NoCloud user-data/meta-data, /etc/hosts, systemctl stand-in. */
  prepareRoot(guestDir: string): void {
    const seed = join(this.upper, "var/lib/cloud/seed/nocloud");
    mkdirSync(seed, { recursive: true });
    // The user-data exactly as the Droplet resource received it.
    writeFileSync(join(seed, "user-data"), this.spec.userData);
    writeFileSync(join(seed, "meta-data"), renderMetaData(this.spec));
    mkdirSync(join(this.upper, "etc"), { recursive: true });
    writeFileSync(
      join(this.upper, "etc/hosts"),
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${this.spec.hosts}`,
    );
    mkdirSync(join(this.upper, "usr/bin"), { recursive: true });
    copyFileSync(join(guestDir, "systemctl"), join(this.upper, "usr/bin/systemctl"));
    chmodSync(join(this.upper, "usr/bin/systemctl"), 0o755);
    mkdirSync(join(this.dir, "work"), { recursive: true });
    mkdirSync(join(this.dir, "root"), { recursive: true });
  }

  /** Starts the droplet's init; returns at once (DigitalOcean reports "active" before cloud-init ends). */
  boot(td: Teardown, image: Image, guestDir: string, env: Record<string, string>): void {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.ns,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--kill-child",
        "--uts",
        "capsh",
        "--drop=cap_sys_time",
        "--",
        join(guestDir, "droplet-init.sh"),
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          ...env,
          LAB_LOWER: image.root,
          LAB_UPPER: this.upper,
          LAB_WORK: join(this.dir, "work"),
          LAB_ROOT: join(this.dir, "root"),
          LAB_REPO: image.repo,
          LAB_GUEST_REPO: GUEST_REPO_DIR,
          LAB_HOSTNAME: this.spec.name,
        },
      },
    );
    td.addPid(child.pid);
    this.child = child;
    const finish = (ok: boolean, why?: string) =>
      this.resolveBoot({ ok, why, seconds: (Date.now() - this.t0) / 1000 });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      this.bootLog.push(line);
      const st = /^STAGE (\S+) (\d+) (\d+)$/.exec(line);
      if (st)
        this.stages.push({ name: st[1] as string, rc: Number(st[2]), seconds: Number(st[3]) });
      else if (line === "READY") finish(true);
      else if (line.startsWith("FAILED")) finish(false, line.slice(7));
    });
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      this.bootLog.push(`stderr: ${line}`);
    });
    child.on("exit", (code, signal) => finish(false, `droplet init exited (${code ?? signal})`));
  }

  /** Seconds from creation until ntpd inside reported leap 00 and a stratum below 16. */
  syncSeconds: number | null = null;
  private watching = false;

  /**
   * Watches ntpd's own view once a second from inside the droplet (ntpq on 127.0.0.1 is exempt
   * from `restrict ... limited`, so this costs the member's rate limits nothing).
   */
  watchSync(limitMs: number): void {
    if (this.watching) return;
    this.watching = true;
    const until = Date.now() + limitMs;
    const tick = async (): Promise<void> => {
      while (this.watching && this.syncSeconds === null && Date.now() < until) {
        if (this.initPid() !== undefined) {
          const r = await run(this.enterArgv(["ntpq", "-c", "rv 0 leap,stratum"]), {
            timeoutMs: 5000,
          }).catch(() => undefined);
          const leap = /leap=(\d\d)/.exec(r?.stdout ?? "")?.[1];
          const stratum = Number(/stratum=(\d+)/.exec(r?.stdout ?? "")?.[1] ?? 16);
          if (leap === "00" && stratum < 16) this.syncSeconds = (Date.now() - this.t0) / 1000;
        }
        await sleep(1000);
      }
    };
    void tick();
  }

  stopWatching(): void {
    this.watching = false;
  }

  /** PID (on the host) of the droplet's init, to enter its namespaces. */
  initPid(): number | undefined {
    const pid = this.child?.pid;
    if (pid === undefined) return undefined;
    try {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
      return kids[0] ? Number(kids[0]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** argv that runs a command inside the droplet's root (its mount, PID, UTS and network namespaces). */
  enterArgv(argv: readonly string[]): string[] {
    const pid = this.initPid();
    if (pid === undefined) throw new Error(`droplet ${this.spec.name}: not running`);
    return [
      "nsenter",
      "-t",
      String(pid),
      "-m",
      "-p",
      "-n",
      "-u",
      "chroot",
      join(this.dir, "root"),
      ...argv,
    ];
  }

  /** Copies the droplet's logs out of its overlay (which teardown removes); returns the dir. */
  saveLogs(dest: string): string {
    mkdirSync(dest, { recursive: true });
    const logDir = join(this.upper, "var/log");
    if (existsSync(logDir)) cpSync(logDir, dest, { recursive: true });
    writeFileSync(join(dest, "init-protocol.log"), `${this.bootLog.join("\n")}\n`);
    return dest;
  }

  /** A file of the droplet's root as the guest sees it (upper layer first, then the image). */
  readGuestFile(lowerRoot: string, path: string): string | undefined {
    for (const base of [this.upper, lowerRoot]) {
      const p = join(base, path);
      if (existsSync(p)) return readFileSync(p, "utf8");
    }
    return undefined;
  }
}
