import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ROOT_PATH } from "./debian";
import { renderDmi, renderDropletCloudCfg } from "./dropletFiles";
import { run, sleep } from "./exec";
import type { Image } from "./image";
import { GUEST_REPO_DIR, IMAGE_CLOUD_CFG } from "./imageRecipe";
import { ADDR, addNamespace, ip, nodad } from "./net";
import type { Teardown } from "./teardown";

/** One cloud-init stage or unit start as the droplet's init reported it. */
export interface BootStage {
  readonly name: string;
  readonly rc: number;
  readonly seconds: number;
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

/** A locally administered unicast MAC per droplet number (lower case, as sysfs shows it). */
const dropletMac = (n: number): string =>
  `02:d0:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, "0")}:${(n & 0xff).toString(16).padStart(2, "0")}`;

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
  /** eth0's MAC, lower case (cloud-init matches the metadata's `mac` against sysfs exactly). */
  readonly mac: string;
  private readonly bootStages: BootStage[] = [];
  private readonly bootLog: string[] = [];
  /** Resolves when the boot finished (READY) or failed; never rejects. */
  readonly booted: Promise<{ ok: boolean; why?: string; seconds: number }>;
  /** The boot's cloud-init stages and unit starts, as its init reported them. */
  get stages(): readonly BootStage[] {
    return this.bootStages;
  }
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
    this.mac = dropletMac(spec.n);
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
      "address",
      this.mac,
      "netns",
      this.ns,
    );
    const edgeAddrs = [`${ADDR.dropletGw(n)}/24`, `${ADDR.anchorGw(n)}/24`];
    if (this.primary6) edgeAddrs.push(`${ADDR.dropletGw6(n)}/64`);
    for (const a of edgeAddrs)
      await ip("-n", edgeNs, "addr", "add", a, "dev", this.edgeIf, ...nodad(a));
    await ip("-n", edgeNs, "link", "set", this.edgeIf, "up");
    await this.configureEth0();
  }

  /** eth0 as the lab configures it before every boot (the metadata's addresses and routes). */
  private async configureEth0(): Promise<void> {
    const n = this.spec.n;
    // Primary first: it is the source the kernel picks for traffic to the gateway.
    const addrs = [`${this.primary}/24`, `${this.anchor}/16`];
    if (this.primary6) addrs.push(`${this.primary6}/64`);
    for (const a of addrs) await ip("-n", this.ns, "addr", "add", a, "dev", "eth0", ...nodad(a));
    await ip("-n", this.ns, "link", "set", "eth0", "up");
    await ip("-n", this.ns, "route", "replace", "default", "via", ADDR.dropletGw(n));
    if (this.primary6)
      await ip("-n", this.ns, "-6", "route", "replace", "default", "via", ADDR.dropletGw6(n));
  }

  /**
   * Before a later boot of the same droplet (reboot, power_on): the network namespace outlives
   * the guest's processes, but a rebooted machine's kernel keeps nothing the guest set, so
   * the addresses it added (the reserved IPv6 on lo, from ntppool-reserved-ipv6.service) go
   * and eth0 gets the lab's own configuration again; the boot's per-boot units must add the
   * rest back. (The guest's nftables tables and conntrack go too: LabRealiser.startDroplet.)
   */
  async resetNetwork(): Promise<void> {
    for (const dev of ["lo", "eth0"])
      await ip("-n", this.ns, "addr", "flush", "dev", dev, "scope", "global");
    await this.configureEth0();
  }

  private bootCount = 0;
  private seeded = false;
  private synced: number | null = null;

  /** How many times this droplet's init was started (a reboot or power_on adds one). */
  get boots(): number {
    return this.bootCount;
  }

  /** Whether the overlay's upper layer was seeded (a power-on after power-off reuses it). */
  get prepared(): boolean {
    return this.seeded;
  }

  /**
   * Seeds the overlay's upper layer: the DigitalOcean datasource setting, /etc/hosts, the
   * systemctl stand-in; and the DMI files the droplet's init shows in its /sys.
   */
  prepareRoot(guestDir: string, lowerRoot: string): void {
    const cfgDir = join(this.upper, "etc/cloud/cloud.cfg.d");
    mkdirSync(cfgDir, { recursive: true });
    // Same name as the image's file (lab/imageRecipe.ts), so the droplet's copy replaces it.
    writeFileSync(join(cfgDir, IMAGE_CLOUD_CFG), renderDropletCloudCfg());
    mkdirSync(join(this.dir, "dmi"), { recursive: true });
    for (const [f, text] of Object.entries(renderDmi(this.spec.id)))
      writeFileSync(join(this.dir, "dmi", f), text);
    writeFileSync(
      join(this.upper, "etc/hosts"),
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${this.spec.hosts}`,
    );
    // DigitalOcean's vendor-data sets manage_etc_hosts: true, so cloud-init rewrites
    // /etc/hosts from this template; the lab's upstream names (its stand-in for DNS) go in it.
    const tmpl = "etc/cloud/templates/hosts.debian.tmpl";
    const original = readFileSync(join(lowerRoot, tmpl), "utf8");
    mkdirSync(join(this.upper, "etc/cloud/templates"), { recursive: true });
    writeFileSync(join(this.upper, tmpl), `${original}${this.spec.hosts}`);
    mkdirSync(join(this.upper, "usr/bin"), { recursive: true });
    copyFileSync(join(guestDir, "systemctl"), join(this.upper, "usr/bin/systemctl"));
    chmodSync(join(this.upper, "usr/bin/systemctl"), 0o755);
    mkdirSync(join(this.dir, "work"), { recursive: true });
    mkdirSync(join(this.dir, "root"), { recursive: true });
    this.seeded = true;
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
          LAB_DMI: join(this.dir, "dmi"),
        },
      },
    );
    td.addPid(child.pid);
    this.child = child;
    this.bootCount += 1;
    if (this.bootCount > 1) this.bootLog.push(`--- boot ${this.bootCount} ---`);
    const finish = (ok: boolean, why?: string) =>
      this.resolveBoot({ ok, why, seconds: (Date.now() - this.t0) / 1000 });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      this.bootLog.push(line);
      const st = /^STAGE (\S+) (\d+) (\d+)$/.exec(line);
      if (st)
        this.bootStages.push({ name: st[1] as string, rc: Number(st[2]), seconds: Number(st[3]) });
      else if (line === "READY") finish(true);
      else if (line.startsWith("FAILED")) finish(false, line.slice(7));
    });
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      this.bootLog.push(`stderr: ${line}`);
    });
    child.on("exit", (code, signal) => finish(false, `droplet init exited (${code ?? signal})`));
  }

  /** Stops the machine: its init (PID 1 of its PID namespace) and with it every process. */
  async stop(): Promise<void> {
    const child = this.child;
    const init = this.initPid();
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await Promise.race([gone, sleep(10_000)]);
    }
    // unshare exits first; its child, the guest's PID 1, dies with it (--kill-child) and
    // exits only once the kernel has killed every process of its PID namespace. A next boot
    // must wait for that: the old mount namespace holds the overlay's upper and work dirs
    // (a second overlay mount on them fails while the first exists).
    const t = Date.now();
    while (init !== undefined && Date.now() - t < 10_000) {
      let state = "";
      try {
        state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${init}/stat`, "utf8"))?.[1] ?? "";
      } catch {
        break;
      }
      if (state === "Z" || state === "X") break;
      await sleep(50);
    }
  }

  /**
   * Ends the droplet (DELETE /v2/droplets/{id}): its PID namespace dies with its init, its
   * namespace and overlay are removed.
   */
  async destroy(): Promise<void> {
    await this.stop();
    await run(["ip", "netns", "del", this.ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Seconds from creation until ntpd inside reported leap 00 and a stratum below 16. */
  get syncSeconds(): number | null {
    return this.synced;
  }
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
      while (this.watching && this.synced === null && Date.now() < until) {
        if (this.initPid() !== undefined) {
          const r = await run(this.enterArgv(["ntpq", "-c", "rv 0 leap,stratum"]), {
            timeoutMs: 5000,
          }).catch(() => undefined);
          const leap = /leap=(\d\d)/.exec(r?.stdout ?? "")?.[1];
          const stratum = Number(/stratum=(\d+)/.exec(r?.stdout ?? "")?.[1] ?? 16);
          if (leap === "00" && stratum < 16) this.synced = (Date.now() - this.t0) / 1000;
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
      // The droplet's own PATH, not the caller's (the tests narrow theirs to host tools).
      "/usr/bin/env",
      `PATH=${ROOT_PATH}`,
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
