import { join } from "node:path";
import { portRangeCovers } from "../ntp/portRange";
import { ntpConfOf, upstreamNames } from "../ntp/userData";
import type { Deployer } from "./deployer";
import type {
  DropletNetwork,
  DropletPort,
  DropletSpec,
  FirewallSpec,
  Realiser,
} from "./do/realiser";
import { Droplet } from "./droplet";
import type { EdgeDroplet } from "./edge";
import { METADATA_ADDRESS, metadataPort } from "./edgeRules";
import { sleep } from "./exec";
import type { Faults } from "./faults";
import { EDGE_FIREWALL_TABLE, type LabFirewall, labFirewall } from "./firewall";
import { startForwarder } from "./forwarder";
import type { Image } from "./image";
import { imageMustRun, imageRun } from "./imageExec";
import { ADDR } from "./net";
import type { Region } from "./region";
import { killQuietly } from "./teardown";
import type { UpstreamFarm } from "./upstreamFarm";

const GUEST_DIR = join(__dirname, "guest");

/** A realised droplet's addresses, as the API lists them and the metadata serves them. */
function dropletNetwork(d: Droplet): DropletNetwork {
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

/** A droplet as the edge sees it. */
const edgeDroplet = (d: Droplet): EdgeDroplet => ({
  ifname: d.edgeIf,
  id: d.spec.id,
  tags: d.spec.tags,
  metadataPort: metadataPort(d.spec.n),
  primary: d.primary,
  anchor: d.anchor,
  primary6: d.primary6,
});

/**
 * What the emulated API's resources become (lab/do/realiser.ts): droplets booted in the
 * region, reserved IPs and firewalls on its edge. The API calls it; nothing else changes them.
 */
export class LabRealiser implements Realiser {
  private readonly droplets = new Map<string, Droplet>();
  /** The metadata forwarder (in the edge) of each droplet. */
  private readonly metadataPids = new Map<string, number | undefined>();
  private readonly faultsLogged = new Set<string>();
  private firewallNames: readonly string[] = [];
  private reservedV4 = 0;
  private reservedV6 = 0;
  private dropletCount = 0;

  constructor(
    private readonly region: Region,
    private readonly image: Image,
    private readonly upstreams: UpstreamFarm,
    private readonly deployer: Deployer,
    private readonly faults: Faults,
    /** Where each droplet's logs are copied when it goes. */
    private readonly reportDir: string,
    private readonly log: (msg: string) => void,
  ) {}

  /** Every droplet that exists now. */
  list(): readonly Droplet[] {
    return [...this.droplets.values()];
  }

  droplet(id: unknown, field: string): Droplet {
    const d = this.droplets.get(String(id));
    if (!d) throw new Error(`${field}: no lab droplet with id ${String(id)}`);
    return d;
  }

  /** The droplet behind an address the outside sees (reserved IPv4/IPv6 or primary). */
  dropletByAddress(host: string): Droplet | undefined {
    const anchor = this.region.edge.natAnchor(host);
    for (const d of this.droplets.values()) {
      if (anchor !== undefined && d.anchor === anchor) return d;
      if (d.primary === host || d.primary6 === host) return d;
    }
    return undefined;
  }

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
    await this.upstreams.ensure(upstreamNames(ntpConfOf(spec.userData) ?? ""));
    const d = new Droplet(
      {
        n,
        id,
        name: spec.name,
        userData: spec.userData,
        ipv6: spec.ipv6,
        tags: [...spec.tags],
        publicKeys: spec.publicKeys.map((k) => k.trim()),
        hosts: this.upstreams.dropletHosts(),
      },
      this.region.prefix,
      this.region.runDir,
    );
    this.droplets.set(id, d);
    const edge = this.region.edge;
    await d.createNetwork(this.region.td, edge.ns);
    this.metadataPids.set(
      id,
      await startForwarder(
        this.region.td,
        edge.ns,
        METADATA_ADDRESS,
        metadataPort(n),
        spec.metadataSocket,
      ),
    );
    await edge.addDroplet(edgeDroplet(d));
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
      await imageMustRun(["nft", "flush", "ruleset"], this.region.tool(d.ns));
      await imageRun(["conntrack", "-F"], this.region.tool(d.ns));
    }
    d.boot(this.region.td, this.image, GUEST_DIR, this.region.env);
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
    d.saveLogs(join(this.reportDir, d.spec.name));
    const fwd = this.metadataPids.get(String(id));
    if (fwd !== undefined) killQuietly(fwd);
    await d.destroy();
    this.droplets.delete(String(id));
    await this.region.edge.removeDroplet(String(id));
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
    if (dropletId !== null) {
      const d = this.droplet(dropletId, `reserved IP ${ip} droplet_id`);
      this.log(`reserved IP ${ip} → anchor ${d.anchor} of ${d.spec.name} (1:1 NAT on the edge)`);
      await this.region.edge.setNat(ip, d.anchor);
    } else {
      this.log(`reserved IP ${ip} unassigned`);
      await this.region.edge.setNat(ip, null);
    }
  }

  /**
   * Routes a reserved IPv6 to a droplet (not configured in it: the guest must add it, as on
   * DigitalOcean, where droplet-agent does), or nowhere (null).
   */
  async setReservedIpv6(address: string, dropletId: number | null): Promise<void> {
    if (dropletId === null) {
      await this.region.edge.setRoute6(address, null);
      this.log(`reserved IPv6 ${address} unassigned`);
      return;
    }
    const d = this.droplet(dropletId, `reserved IPv6 ${address} droplet_id`);
    if (!d.primary6)
      throw new Error(`reserved IPv6 ${address}: droplet ${d.spec.name} has ipv6 off`);
    await this.region.edge.setRoute6(address, edgeDroplet(d));
    this.log(`reserved IPv6 ${address} routed to ${d.spec.name}`);
  }

  /**
   * The account's firewalls and droplets as the API holds them, realised on the edge (only
   * what changed). The deployer moves inside the SSH sources.
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
      await this.deployer.place(fw);
    }
    const added = realised.filter((f) => !this.firewallNames.includes(f.name));
    this.firewallNames = realised.map((f) => f.name);
    await this.region.edge.setFirewalls(
      realised,
      new Map(droplets.map((d) => [String(d.id), [...d.tags]])),
    );
    for (const fw of added)
      this.log(
        `firewall ${fw.name}: ${fw.inboundRules.length} inbound, ${fw.outboundRules.length} outbound rules (nftables table ${EDGE_FIREWALL_TABLE} on the edge)`,
      );
  }
}
