import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ipaddr from "ipaddr.js";
import { portRangeCovers } from "../ntp/portRange";
import type { Droplet } from "./droplet";
import { type RunResult, sleep } from "./exec";
import type { LabFirewall } from "./firewall";
import { imageRun } from "./imageExec";
import { generateEd25519 } from "./keys";
import { ADDR, ip, nsRun } from "./net";
import type { Region } from "./region";

/** Source addresses the outside prober takes in turn (lab/prober.ts). */
export interface ProbeSources {
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
}

/**
 * The user's machine, the one running `pulumi up`: the region's internet namespace. It stands
 * in for the tls and command providers (which run there on a real deployment), takes an
 * address the firewall's SSH rule admits, and is where the outside NTP checks come from.
 */
export class Deployer {
  /** The internet namespace's source address for SSH, once a firewall named one. */
  private address?: string;
  private probeSources?: ProbeSources;

  constructor(
    private readonly region: Region,
    /** The droplet image root (a droplet's files are read through its overlay). */
    private readonly imageRoot: string,
    /** The droplet behind an address the outside sees (reserved or primary). */
    private readonly dropletByAddress: (host: string) => Droplet | undefined,
    private readonly log: (msg: string) => void,
  ) {}

  /**
   * A firewall opens SSH only to sshSourceCidrs, so the deployer gets an address inside the
   * first IPv4 source of the rule opening TCP 22, as the user's own address would be, and
   * uses it as its source. The first firewall that names one decides.
   */
  async place(fw: LabFirewall): Promise<void> {
    const rule = fw.inboundRules.find(
      (r) => r.protocol === "tcp" && portRangeCovers(r.portRange, 22),
    );
    const v4 = (rule?.sourceAddresses ?? []).find((a) => !a.includes(":"));
    if (!v4 || this.address) return;
    const [net, bits] = ipaddr.parseCIDR(v4.includes("/") ? v4 : `${v4}/32`);
    if (ipaddr.parse(ADDR.internet).match(net, bits)) {
      this.address = ADDR.internet;
      return;
    }
    const bytes = net.toByteArray();
    if (bits < 32) bytes[3] = (bytes[3] ?? 0) + 1;
    const address = bytes.join(".");
    this.address = address;
    const { inet } = this.region;
    await ip("-n", inet, "addr", "add", `${address}/32`, "dev", "eth0");
    await ip("-n", inet, "route", "replace", "default", "via", ADDR.wanEdge, "src", address);
    await ip("-n", this.region.edge.ns, "route", "add", `${address}/32`, "via", ADDR.internet);
    this.log(
      `deployer (internet namespace) uses ${address}, inside the firewall's SSH sources ${v4}`,
    );
  }

  /**
   * Source addresses of the internet namespace for the outside prober (lab/prober.ts): one
   * probe a second, taken in turn from these, keeps each source under NTPsec's `limited`
   * rate as the pool's many monitors are. In the internet segment's own prefixes, above the
   * upstreams and the deployer, so the edge reaches them without a route.
   */
  async addProbeSources(count = 4): Promise<ProbeSources> {
    if (this.probeSources) return this.probeSources;
    const ipv4 = Array.from({ length: count }, (_, i) => `198.18.0.${200 + i}`);
    const ipv6 = Array.from(
      { length: count },
      (_, i) => `2001:db8:ffff::${(0x200 + i).toString(16)}`,
    );
    const { inet } = this.region;
    for (const a of ipv4) await ip("-n", inet, "addr", "add", `${a}/24`, "dev", "eth0");
    for (const a of ipv6)
      await ip("-n", inet, "-6", "addr", "add", `${a}/64`, "dev", "eth0", "nodad");
    this.probeSources = { ipv4, ipv6 };
    return this.probeSources;
  }

  /** tls PrivateKey: a real key (ED25519 only; the program uses nothing else). */
  createPrivateKey(inputs: Record<string, unknown>): Record<string, unknown> {
    if (String(inputs.algorithm).toUpperCase() !== "ED25519") {
      throw new Error(
        `PrivateKey.algorithm: the lab generates ED25519 keys only; got ${String(inputs.algorithm)}`,
      );
    }
    const key = generateEd25519();
    return { ...inputs, ...key, __id: key.publicKeyFingerprintSha256 };
  }

  /**
   * command:remote:Command: ssh from the internet namespace with the resource's key, the
   * droplet's real host key pinned. Dial failures are retried like the provider's
   * `dialErrorLimit` (default 10); the command's own failure fails the resource.
   */
  async runRemote(name: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
    const conn = (inputs.connection ?? {}) as Record<string, unknown>;
    const host = String(conn.host);
    const user = String(conn.user ?? "root");
    const port = String(conn.port ?? 22);
    const create = String(inputs.create ?? "");
    const d = this.dropletByAddress(host);
    if (!d) throw new Error(`${name}: connection.host ${host} is no lab droplet's address`);
    if (typeof conn.privateKey !== "string")
      throw new Error(`${name}: connection.privateKey is required in the lab`);
    const keyDir = join(this.region.runDir, "ssh");
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    const keyFile = join(keyDir, `${name}.key`);
    writeFileSync(
      keyFile,
      conn.privateKey.endsWith("\n") ? conn.privateKey : `${conn.privateKey}\n`,
      { mode: 0o600 },
    );
    const knownHosts = join(keyDir, `${name}.known_hosts`);
    // The provider's default is 10 dial errors; -1 means unlimited.
    const dialLimit = Number(conn.dialErrorLimit ?? 10);
    const limit = dialLimit < 0 ? Number.POSITIVE_INFINITY : dialLimit;
    const perDial = Number(conn.perDialTimeout ?? 15);
    const env = (inputs.environment ?? {}) as Record<string, string>;
    let last: RunResult | undefined;
    for (let attempt = 1; attempt <= limit; attempt++) {
      const hostKey = d.readGuestFile(this.imageRoot, "etc/ssh/ssh_host_ed25519_key.pub");
      if (hostKey) {
        writeFileSync(knownHosts, `${host} ${hostKey.trim().split(/\s+/).slice(0, 2).join(" ")}\n`);
        last = await imageRun(
          [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            keyFile,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            `UserKnownHostsFile=${knownHosts}`,
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "HostKeyAlgorithms=ssh-ed25519",
            "-o",
            `ConnectTimeout=${perDial}`,
            ...Object.entries(env).flatMap(([k, v]) => ["-o", `SetEnv=${k}=${v}`]),
            "-p",
            port,
            `${user}@${host}`,
            create,
          ],
          // ssh from the tools image; the run's key and known_hosts files bound in.
          this.region.tool(this.region.inet, [keyDir]),
          { input: typeof inputs.stdin === "string" ? inputs.stdin : undefined },
        );
        if (last.code !== 255) break;
      }
      // A droplet that is still booting does not answer at all, so on DigitalOcean each such
      // dial lasts perDialTimeout; waiting as long keeps the provider's overall patience.
      // A refused dial (sshd not listening yet) comes back at once: the provider backs off
      // between such attempts, so the wait grows (3, 6, 12 s, then perDialTimeout) — on a
      // loaded machine sshd can start well after cloud-init wrote the host key.
      if (attempt < limit)
        await sleep(hostKey ? Math.min(3000 * 2 ** (attempt - 1), perDial * 1000) : perDial * 1000);
    }
    if (!last)
      throw new Error(
        `${name}: ${host} never offered an SSH host key (sshd not started in the droplet)`,
      );
    if (last.code !== 0) {
      throw new Error(
        `${name}: remote command on ${host} failed (exit ${last.code})\n${tail(last.stderr)}\n${tail(last.stdout)}`,
      );
    }
    return commandOutputs(name, inputs, last);
  }

  /** command:local:Command: run `create` from the internet namespace. */
  async runLocal(name: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
    const interpreter = (inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"];
    const r = await nsRun(this.region.inet, [...interpreter, String(inputs.create ?? "")], {
      input: typeof inputs.stdin === "string" ? inputs.stdin : undefined,
      env: { ...this.region.env, ...((inputs.environment ?? {}) as Record<string, string>) },
      cwd: typeof inputs.dir === "string" ? inputs.dir : undefined,
    });
    if (r.code !== 0) {
      throw new Error(
        `${name}: local command failed (exit ${r.code})\n${tail(r.stderr)}\n${tail(r.stdout)}`,
      );
    }
    return commandOutputs(name, inputs, r);
  }

  /** One ntpdig query from the internet namespace (a client of the pool). */
  async queryFromOutside(
    address: string,
  ): Promise<{ stratum: number; offset: number; leap: string } | undefined> {
    const r = await imageRun(
      ["ntpdig", "-j", "-t", "1", address],
      this.region.tool(this.region.inet),
      { timeoutMs: 5000 },
    );
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    if (!line) return undefined;
    try {
      return JSON.parse(line) as { stratum: number; offset: number; leap: string };
    } catch {
      return undefined;
    }
  }
}

/** A finished command's outputs, as the command provider returns them. */
function commandOutputs(
  name: string,
  inputs: Record<string, unknown>,
  r: RunResult,
): Record<string, unknown> {
  return {
    ...inputs,
    stdout: chomp(r.stdout),
    stderr: chomp(r.stderr),
    __id: `${name}-${Date.now()}`,
  };
}

const chomp = (s: string): string => s.replace(/\n$/, "");
const tail = (s: string): string => s.trim().split("\n").slice(-12).join("\n");
