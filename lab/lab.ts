import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ipaddr from "ipaddr.js";
import { portRangeCovers } from "../ntp/portRange";
import { ntpConfOf, upstreamNames } from "../ntp/userData";
import type {
  DropletNetwork,
  DropletPort,
  DropletSpec,
  FirewallSpec,
  Realiser,
} from "./do/realiser";
import { Droplet } from "./droplet";
import { type RunResult, run, sleep } from "./exec";
import {
  EDGE_FIREWALL_TABLE,
  type LabFirewall,
  type LabPort,
  labFirewall,
  type NatMapping,
  renderEdgeFirewall,
  renderEdgeNat,
} from "./firewall";
import { METADATA_ADDRESS, metadataPort, renderEdgeMetadata, startForwarder } from "./forward";
import { ensureSharedObject, type Image } from "./image";
import { type ImageExecOptions, imageMustRun, imageRun } from "./imageExec";
import { generateEd25519 } from "./keys";
import { ADDR, addNamespace, attachToBridge, ip, nsRun, writeNetnsHosts } from "./net";
import { killQuietly, Teardown } from "./teardown";
import {
  describeUpstreamKind,
  GOOD_UPSTREAM,
  startUpstream,
  type Upstream,
  type UpstreamKind,
} from "./upstreams";

export const GUEST_DIR = join(__dirname, "guest");

/** Deliberate faults, for tests; each is announced in the output and the report. */
export interface Faults {
  /** Remove every outbound UDP rule that opens port 123 from Firewall inputs before realising them. */
  readonly dropOutboundNtp?: boolean;
  /** Keep this many upstreams down (their names resolve, nothing answers). */
  readonly upstreamsDown?: number;
  /** Upstream k+1 behaves as `upstreamKinds[k]` (lab/upstreams.ts: falseticker, leap, ...). */
  readonly upstreamKinds?: readonly UpstreamKind[];
}

/** A realised droplet's addresses, as the API lists them and the metadata serves them. */
export function dropletNetwork(d: Droplet): DropletNetwork {
  const n = d.spec.n;
  return {
    publicIpv4: { address: d.primary, netmask: "255.255.255.0", gateway: ADDR.dropletGw(n) },
    anchorIpv4: { address: d.anchor, netmask: "255.255.0.0", gateway: ADDR.anchorGw(n) },
    ...(d.primary6
      ? { publicIpv6: { address: d.primary6, cidr: 64, gateway: ADDR.dropletGw6(n) } }
      : {}),
    publicMac: d.mac,
  };
}

const ip6route = (edge: string, op: "add" | "replace" | "del", address: string, d: Droplet) =>
  ip("-n", edge, "-6", "route", op, `${address}/128`, "via", d.primary6 ?? "", "dev", d.edgeIf);

/** A fresh run prefix: short (namespace names stay short) and unique per run. */
export function newPrefix(): string {
  return `ntpl-${randomBytes(3).toString("hex")}`;
}

/** The lab's emulated DigitalOcean region: namespaces, edge router, firewall, upstreams. */
export class Lab implements Realiser {
  readonly td: Teardown;
  readonly runDir: string;
  readonly sw: string;
  readonly edge: string;
  readonly inet: string;
  readonly env: Record<string, string>;
  readonly droplets = new Map<string, Droplet>();
  readonly upstreams = new Map<string, Upstream>();
  readonly firewalls: LabFirewall[] = [];
  readonly nat: NatMapping[] = [];
  /** Reserved IPv6 → the droplet it is routed to. */
  readonly routes6 = new Map<string, Droplet>();
  private readonly faultsLogged = new Set<string>();
  /** Each droplet's tags as the API last reported them (firewalls match on them). */
  private dropletTags = new Map<string, string[]>();
  /** The metadata forwarder (in the edge) of each droplet. */
  private readonly metadataPids = new Map<string, number | undefined>();
  readonly notes: string[] = [];
  private reservedV4 = 0;
  private reservedV6 = 0;
  private dropletCount = 0;
  /** The internet namespace's source address for everything it sends. */
  deployer?: string;
  private upstreamLock: Promise<void> = Promise.resolve();

  constructor(
    readonly prefix: string,
    readonly cacheDir: string,
    readonly image: Image,
    readonly faults: Faults,
    readonly log: (msg: string) => void,
  ) {
    this.td = new Teardown(prefix);
    this.runDir = join(cacheDir, "runs", prefix);
    this.sw = `${prefix}-sw`;
    this.edge = `${prefix}-edge`;
    this.inet = `${prefix}-inet`;
    this.env = { NTP_LAB_RUN: prefix };
  }

  /** Switch (wan bridge), edge router and "internet" namespace. */
  async up(): Promise<void> {
    this.td.addPath(this.runDir);
    mkdirSync(this.runDir, { recursive: true });
    await addNamespace(this.td, this.sw);
    await ip("-n", this.sw, "link", "add", "wan", "type", "bridge");
    await ip("-n", this.sw, "link", "set", "wan", "up");
    await addNamespace(this.td, this.edge);
    await attachToBridge(this.sw, "wan", this.edge, "edge", [
      `${ADDR.wanEdge}/24`,
      `${ADDR.wanEdge6}/64`,
    ]);
    // sysctl from the tools image like every other tool (procps is not on every host).
    await imageMustRun(
      ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
      this.tool(this.edge),
    );
    // The metadata service's address, local to the edge (lab/forward.ts renderEdgeMetadata).
    await ip("-n", this.edge, "addr", "add", `${METADATA_ADDRESS}/32`, "dev", "lo");
    await addNamespace(this.td, this.inet);
    await attachToBridge(this.sw, "wan", this.inet, "inet", [
      `${ADDR.internet}/24`,
      `${ADDR.internet6}/64`,
    ]);
    await ip("-n", this.inet, "route", "add", "default", "via", ADDR.wanEdge);
    await ip("-n", this.inet, "-6", "route", "add", "default", "via", ADDR.wanEdge6);
    writeNetnsHosts(this.td, this.inet, this.hostsLines());
    await this.applyEdge();
  }

  hostsLines(): string {
    return (
      "127.0.0.1\tlocalhost\n" +
      [...this.upstreams.values()].map((u) => `${u.address}\t${u.hostname}\n`).join("")
    );
  }

  /** Starts (once each) the upstreams named by a droplet's ntp.conf. Serialised. */
  ensureUpstreams(names: readonly string[]): Promise<void> {
    const next = this.upstreamLock.then(async () => {
      for (const hostname of names) {
        if (this.upstreams.has(hostname)) continue;
        if (/^[\d.]+$/.test(hostname) || hostname.includes(":")) {
          throw new Error(
            `upstream "${hostname}": IP-literal upstreams are not emulated by the lab`,
          );
        }
        const k = this.upstreams.size + 1;
        const down = k <= (this.faults.upstreamsDown ?? 0);
        if (down) this.log(`FAULT INJECTION: upstream ${hostname} is kept down`);
        const u = await startUpstream({
          td: this.td,
          ns: `${this.prefix}-u${k}`,
          sw: this.sw,
          index: k,
          hostname,
          dir: join(this.runDir, `u${k}`),
          env: this.env,
          down,
          tools: this.image.tools,
          ...(await this.upstreamKind(k)),
        });
        this.upstreams.set(hostname, u);
        this.log(
          `upstream ${hostname} → ${u.address} (${down ? "down" : describeUpstreamKind(this.faults.upstreamKinds?.[k - 1] ?? GOOD_UPSTREAM)})`,
        );
      }
      writeNetnsHosts(this.td, this.inet, this.hostsLines());
    });
    this.upstreamLock = next.catch(() => undefined);
    return next;
  }

  /** startUpstream's kind options for upstream `k` (1-based), announced as fault injection. */
  private async upstreamKind(k: number) {
    const kind = this.faults.upstreamKinds?.[k - 1];
    if (kind === undefined || kind.kind === "good") return {};
    this.log(`FAULT INJECTION: upstream ${k} is ${describeUpstreamKind(kind)}`);
    return {
      kind,
      clockShift: await ensureSharedObject(this.cacheDir, "clockshift"),
      leapSource: join(this.image.tools, "usr/share/zoneinfo/leap-seconds.list"),
    };
  }

  /** Reloads the edge's firewall and NAT tables from the current state. */
  async applyEdge(): Promise<void> {
    const ports: LabPort[] = [...this.droplets.values()].map((d) => ({
      ifname: d.edgeIf,
      dropletId: d.spec.id,
      tags: this.dropletTags.get(d.spec.id) ?? d.spec.tags,
    }));
    await imageMustRun(["nft", "-f", "-"], this.tool(this.edge), {
      input:
        renderEdgeFirewall(ports, this.firewalls) +
        renderEdgeNat(this.nat) +
        renderEdgeMetadata(
          [...this.droplets.values()].map((d) => ({
            ifname: d.edgeIf,
            port: metadataPort(d.spec.n),
          })),
        ),
    });
    // Flows admitted before a firewall covered a droplet must not survive it (on DigitalOcean
    // the firewall is outside the droplet from the moment it applies).
    await imageRun(["conntrack", "-F"], this.tool(this.edge));
  }

  /** How a client tool (nft, conntrack, ssh, ntpdig) runs in `ns`: from the tools image. */
  tool(ns: string, binds: readonly string[] = []): ImageExecOptions {
    return {
      root: this.image.tools,
      netns: ns,
      binds: binds.map((host) => ({ host })),
      env: this.env,
    };
  }

  droplet(id: unknown, field: string): Droplet {
    const d = this.droplets.get(String(id));
    if (!d) throw new Error(`${field}: no lab droplet with id ${String(id)}`);
    return d;
  }

  // ---- realisation (the Realiser the emulated API calls, lab/do/realiser.ts) -------------

  /**
   * A droplet the API created: its network namespace linked to the edge (eth0 with the
   * primary and anchor addresses) and the path from 169.254.169.254 inside it to the API's
   * metadata socket for this droplet. Not started yet.
   */
  async createDroplet(spec: DropletSpec): Promise<DropletNetwork> {
    // Numbered before the first await: droplets are realised in parallel.
    this.dropletCount += 1;
    const n = this.dropletCount;
    const id = String(spec.id);
    const names = upstreamNames(ntpConfOf(spec.userData) ?? "");
    await this.ensureUpstreams(names);
    const d = new Droplet(
      {
        n,
        id,
        name: spec.name,
        userData: spec.userData,
        ipv6: spec.ipv6,
        tags: [...spec.tags],
        publicKeys: spec.publicKeys.map((k) => k.trim()),
        hosts: [...this.upstreams.values()].map((u) => `${u.address}\t${u.hostname}\n`).join(""),
      },
      this.prefix,
      this.runDir,
    );
    this.droplets.set(id, d);
    await d.createNetwork(this.td, this.edge);
    this.metadataPids.set(
      id,
      await startForwarder(
        this.td,
        this.edge,
        METADATA_ADDRESS,
        metadataPort(n),
        spec.metadataSocket,
      ),
    );
    await this.applyEdge();
    return dropletNetwork(d);
  }

  /** Boots the droplet; resolves once its init runs (DigitalOcean's "active" comes before cloud-init ends). */
  async startDroplet(id: number): Promise<void> {
    const d = this.droplet(id, "startDroplet");
    if (!d.prepared) d.prepareRoot(GUEST_DIR, this.image.root);
    else {
      // A later boot of the same disk (reboot, power_on): the kernel state the guest made in
      // its network namespace is gone, as after a real reboot (Droplet.resetNetwork).
      await d.resetNetwork();
      await imageMustRun(["nft", "flush", "ruleset"], this.tool(d.ns));
      await imageRun(["conntrack", "-F"], this.tool(d.ns));
    }
    d.boot(this.td, this.image, GUEST_DIR, this.env);
    d.watchSync(30 * 60 * 1000);
    this.log(
      `droplet ${d.spec.name} (id ${id}): ${d.boots > 1 ? `boot ${d.boots} (same disk and instance)` : "booting"}, primary ${d.primary}, anchor ${d.anchor}${d.primary6 ? `, ${d.primary6}` : ""}`,
    );
    const t = Date.now();
    while (d.initPid() === undefined && Date.now() - t < 10_000) await sleep(50);
  }

  /** A droplet the API deleted: its processes end, its namespace and overlay go. */
  async deleteDroplet(id: number): Promise<void> {
    const d = this.droplets.get(String(id));
    if (!d) return;
    d.stopWatching();
    d.saveLogs(join(this.cacheDir, "reports", this.prefix, d.spec.name));
    const fwd = this.metadataPids.get(String(id));
    if (fwd !== undefined) killQuietly(fwd);
    await d.destroy();
    this.droplets.delete(String(id));
    await this.applyEdge();
    this.log(`droplet ${d.spec.name} (id ${id}) destroyed`);
  }

  /** power_off: the machine stops at once (its PID namespace ends; the overlay stays). */
  async powerOff(id: number): Promise<void> {
    await this.droplet(id, "powerOff").stop();
  }

  /** shutdown: the lab has no ACPI; the guest is stopped as by power_off (lab/README.md). */
  async shutdown(id: number): Promise<void> {
    await this.droplet(id, "shutdown").stop();
  }

  async powerOn(id: number): Promise<void> {
    await this.startDroplet(id);
  }

  async reboot(id: number): Promise<void> {
    await this.droplet(id, "reboot").stop();
    await this.startDroplet(id);
  }

  /** A fresh reserved IPv4 address of the lab's region. */
  async allocateReservedIpv4(_region: string): Promise<string> {
    this.reservedV4 += 1;
    return ADDR.reservedIpv4(this.reservedV4);
  }

  /** Nothing routes to an unassigned address; its number is not reused within a run. */
  async releaseReservedIpv4(_ip: string): Promise<void> {}

  async allocateReservedIpv6(_region: string): Promise<string> {
    this.reservedV6 += 1;
    return ADDR.reservedIpv6(this.reservedV6);
  }

  async releaseReservedIpv6(_ip: string): Promise<void> {}

  /**
   * Points a reserved IPv4 at a droplet's anchor (1:1 NAT on the edge), or nowhere (null).
   * Re-pointing replaces the previous mapping, as a reassignment does on DigitalOcean.
   */
  async setReservedIpv4(ip: string, dropletId: number | null): Promise<void> {
    for (let i = this.nat.length - 1; i >= 0; i--)
      if (this.nat[i]?.reserved === ip) this.nat.splice(i, 1);
    if (dropletId !== null) {
      const d = this.droplet(dropletId, `reserved IP ${ip} droplet_id`);
      this.nat.push({ reserved: ip, anchor: d.anchor });
      this.log(`reserved IP ${ip} → anchor ${d.anchor} of ${d.spec.name} (1:1 NAT on the edge)`);
    } else this.log(`reserved IP ${ip} unassigned`);
    await this.applyEdge();
  }

  /**
   * Routes a reserved IPv6 to a droplet (not configured in it: the guest must add it, as on
   * DigitalOcean, where droplet-agent does), or nowhere (null).
   */
  async setReservedIpv6(address: string, dropletId: number | null): Promise<void> {
    const before = this.routes6.get(address);
    if (dropletId === null) {
      if (before) await ip6route(this.edge, "del", address, before).catch(() => undefined);
      this.routes6.delete(address);
      this.log(`reserved IPv6 ${address} unassigned`);
      return;
    }
    const d = this.droplet(dropletId, `reserved IPv6 ${address} droplet_id`);
    if (!d.primary6)
      throw new Error(`reserved IPv6 ${address}: droplet ${d.spec.name} has ipv6 off`);
    // Re-pointing is one route change (`ip route replace`), as the IPv4 NAT rule is replaced
    // in one nft transaction: a delete then an add left the address unrouted between the
    // two commands, and a probe sent then went unanswered (a lab artefact, not DigitalOcean's).
    await ip6route(this.edge, before ? "replace" : "add", address, d);
    this.routes6.set(address, d);
    this.log(`reserved IPv6 ${address} routed to ${d.spec.name}`);
  }

  /**
   * The account's firewalls and droplets as the API holds them, realised as the edge's
   * nftables table (replacing the previous one). The deployer moves inside the SSH sources.
   */
  async applyFirewalls(
    firewalls: readonly FirewallSpec[],
    droplets: readonly DropletPort[],
  ): Promise<void> {
    const realised: LabFirewall[] = [];
    for (const spec of firewalls) {
      let fw = labFirewall(spec);
      if (this.faults.dropOutboundNtp) {
        const outbound = fw.outboundRules.filter(
          (r) => !(r.protocol === "udp" && portRangeCovers(r.portRange, 123)),
        );
        if (!this.faultsLogged.has(spec.id))
          this.log(
            `FAULT INJECTION: removed ${fw.outboundRules.length - outbound.length} outbound UDP 123 rule(s) from ${fw.name}`,
          );
        this.faultsLogged.add(spec.id);
        fw = { ...fw, outboundRules: outbound };
      }
      realised.push(fw);
      await this.placeDeployer(fw);
    }
    const added = realised.filter((f) => !this.firewalls.some((o) => o.name === f.name));
    this.firewalls.splice(0, this.firewalls.length, ...realised);
    this.dropletTags = new Map(droplets.map((d) => [String(d.id), [...d.tags]]));
    await this.applyEdge();
    for (const fw of added)
      this.log(
        `firewall ${fw.name}: ${fw.inboundRules.length} inbound, ${fw.outboundRules.length} outbound rules (nftables table ${EDGE_FIREWALL_TABLE} on the edge)`,
      );
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
   * The internet namespace is also "the machine running pulumi up". A firewall opens SSH only
   * to sshSourceCidrs, so the deployer gets an address inside the first IPv4 source of the
   * rule opening TCP 22, as the user's own address would be, and uses it as its source.
   */
  private async placeDeployer(fw: LabFirewall): Promise<void> {
    const rule = fw.inboundRules.find(
      (r) => r.protocol === "tcp" && portRangeCovers(r.portRange, 22),
    );
    const v4 = (rule?.sourceAddresses ?? []).find((a) => !a.includes(":"));
    if (!v4 || this.deployer) return;
    const [net, bits] = ipaddr.parseCIDR(v4.includes("/") ? v4 : `${v4}/32`);
    if (ipaddr.parse(ADDR.internet).match(net, bits)) {
      this.deployer = ADDR.internet;
      return;
    }
    const bytes = net.toByteArray();
    if (bits < 32) bytes[3] = (bytes[3] ?? 0) + 1;
    const address = bytes.join(".");
    this.deployer = address;
    await ip("-n", this.inet, "addr", "add", `${address}/32`, "dev", "eth0");
    await ip("-n", this.inet, "route", "replace", "default", "via", ADDR.wanEdge, "src", address);
    await ip("-n", this.edge, "route", "add", `${address}/32`, "via", ADDR.internet);
    this.log(
      `deployer (internet namespace) uses ${address}, inside the firewall's SSH sources ${v4}`,
    );
  }

  private probeSources?: { ipv4: string[]; ipv6: string[] };

  /**
   * Source addresses of the internet namespace for the outside prober (lab/prober.ts): one
   * probe a second, taken in turn from these, keeps each source under NTPsec's `limited`
   * rate as the pool's many monitors are. In the internet segment's own prefixes, above the
   * upstreams and the deployer, so the edge reaches them without a route.
   */
  async addProbeSources(count = 4): Promise<{ ipv4: string[]; ipv6: string[] }> {
    if (this.probeSources) return this.probeSources;
    const ipv4 = Array.from({ length: count }, (_, i) => `198.18.0.${200 + i}`);
    const ipv6 = Array.from(
      { length: count },
      (_, i) => `2001:db8:ffff::${(0x200 + i).toString(16)}`,
    );
    for (const a of ipv4) await ip("-n", this.inet, "addr", "add", `${a}/24`, "dev", "eth0");
    for (const a of ipv6)
      await ip("-n", this.inet, "-6", "addr", "add", `${a}/64`, "dev", "eth0", "nodad");
    this.probeSources = { ipv4, ipv6 };
    return this.probeSources;
  }

  // ---- commands --------------------------------------------------------------------------

  /** The droplet behind an address the outside sees (reserved IPv4/IPv6 or primary). */
  dropletByAddress(host: string): Droplet | undefined {
    const nat = this.nat.find((m) => m.reserved === host);
    for (const d of this.droplets.values()) {
      if (nat && d.anchor === nat.anchor) return d;
      if (d.primary === host || d.primary6 === host) return d;
    }
    return undefined;
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
    const keyDir = join(this.runDir, "ssh");
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
      const hostKey = d.readGuestFile(this.image.root, "etc/ssh/ssh_host_ed25519_key.pub");
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
          this.tool(this.inet, [keyDir]),
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
    return {
      ...inputs,
      stdout: chomp(last.stdout),
      stderr: chomp(last.stderr),
      __id: `${name}-${Date.now()}`,
    };
  }

  /** command:local:Command: run `create` from the internet namespace. */
  async runLocal(name: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
    const interpreter = (inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"];
    const r = await nsRun(this.inet, [...interpreter, String(inputs.create ?? "")], {
      input: typeof inputs.stdin === "string" ? inputs.stdin : undefined,
      env: { ...this.env, ...((inputs.environment ?? {}) as Record<string, string>) },
      cwd: typeof inputs.dir === "string" ? inputs.dir : undefined,
    });
    if (r.code !== 0) {
      throw new Error(
        `${name}: local command failed (exit ${r.code})\n${tail(r.stderr)}\n${tail(r.stdout)}`,
      );
    }
    return {
      ...inputs,
      stdout: chomp(r.stdout),
      stderr: chomp(r.stderr),
      __id: `${name}-${Date.now()}`,
    };
  }

  // ---- checks ----------------------------------------------------------------------------

  /** One ntpdig query from the internet namespace (a client of the pool). */
  async queryFromOutside(
    address: string,
  ): Promise<{ stratum: number; offset: number; leap: string } | undefined> {
    const r = await imageRun(["ntpdig", "-j", "-t", "1", address], this.tool(this.inet), {
      timeoutMs: 5000,
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    if (!line) return undefined;
    try {
      const j = JSON.parse(line) as { stratum: number; offset: number; leap: string };
      return j;
    } catch {
      return undefined;
    }
  }

  /** ntpq's peer table inside the droplet (ntpq's output, never its exit code). */
  async peersInside(d: Droplet): Promise<string> {
    try {
      const r = await run(d.enterArgv(["ntpq", "-n", "-c", "peers"]), { timeoutMs: 15000 });
      return r.stdout + r.stderr;
    } catch (e) {
      return (e as Error).message;
    }
  }
}

const chomp = (s: string): string => s.replace(/\n$/, "");
const tail = (s: string): string => s.trim().split("\n").slice(-12).join("\n");
