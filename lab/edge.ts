import {
  type EdgeChange,
  type EdgeRules,
  edgeRules,
  NO_EDGE_RULES,
  renderEdgeChange,
  renderEdgeTables,
} from "./edgeRules";
import type { LabFirewall } from "./firewall";
import { type ImageExecOptions, imageMustRun, imageRun } from "./imageExec";
import { ip } from "./net";

/** A droplet as the edge router sees it: its link, tags, metadata port and addresses. */
export interface EdgeDroplet {
  /** The edge-side interface of the droplet's link (`dN`). */
  readonly ifname: string;
  readonly id: string;
  /** The tags the droplet was created with (until the API reports others). */
  readonly tags: readonly string[];
  readonly metadataPort: number;
  readonly primary: string;
  readonly anchor: string;
  readonly primary6: string | null;
}

/**
 * The region's edge router (the droplets' "hypervisor" and the cloud firewall): the cloud
 * firewalls, the reserved IPv4 NAT, the metadata redirection and the reserved IPv6 routes,
 * each change applied alone (lab/edgeRules.ts renderEdgeChange), never the whole edge again.
 */
export class Edge {
  private readonly droplets = new Map<string, EdgeDroplet>();
  private firewalls: readonly LabFirewall[] = [];
  /** Each droplet's tags as the API last reported them (firewalls match on them). */
  private tags = new Map<string, readonly string[]>();
  /** Reserved IPv4 → the anchor it is translated to. */
  private readonly nat = new Map<string, string>();
  /** Reserved IPv6 → the droplet it is routed to. */
  private readonly routes6 = new Map<string, EdgeDroplet>();
  /** What the edge's tables hold now. */
  private applied: EdgeRules = NO_EDGE_RULES;

  constructor(
    readonly ns: string,
    private readonly tool: ImageExecOptions,
  ) {}

  /** The tables, their base chains and empty maps. */
  async up(): Promise<void> {
    await imageMustRun(["nft", "-f", "-"], this.tool, { input: renderEdgeTables() });
  }

  /** The anchor a reserved IPv4 is translated to, if it is assigned. */
  natAnchor(reserved: string): string | undefined {
    return this.nat.get(reserved);
  }

  /** A new droplet's metadata redirection (and firewall chains, if a firewall names its tags). */
  async addDroplet(d: EdgeDroplet): Promise<void> {
    this.droplets.set(d.id, d);
    await this.apply([]);
  }

  /** A deleted droplet: its elements and chains go, and so do its flows. */
  async removeDroplet(id: string): Promise<void> {
    const d = this.droplets.get(id);
    if (d === undefined) return;
    this.droplets.delete(id);
    await this.apply(this.addressesOf(d));
  }

  /** The account's firewalls and each droplet's tags, as the API holds them. */
  async setFirewalls(
    firewalls: readonly LabFirewall[],
    tags: ReadonlyMap<string, readonly string[]>,
  ): Promise<void> {
    this.firewalls = firewalls;
    this.tags = new Map(tags);
    await this.apply([]);
  }

  /**
   * Points a reserved IPv4 at an anchor (1:1 NAT), or nowhere (null). Re-pointing replaces
   * the previous mapping in the same transaction, as a reassignment does on DigitalOcean.
   */
  async setNat(reserved: string, anchor: string | null): Promise<void> {
    this.nat.delete(reserved);
    if (anchor !== null) this.nat.set(reserved, anchor);
    await this.apply([]);
  }

  /** Routes a reserved IPv6 to a droplet's primary address (/128), or nowhere (null). */
  async setRoute6(address: string, d: EdgeDroplet | null): Promise<void> {
    const before = this.routes6.get(address);
    if (d === null) {
      if (before) await this.route6("del", address, before).catch(() => undefined);
      this.routes6.delete(address);
      return;
    }
    // Re-pointing is one route change (`ip route replace`), as the IPv4 NAT entry is replaced
    // in one nft transaction: a delete then an add left the address unrouted between the
    // two commands, and a probe sent then went unanswered (a lab artefact, not DigitalOcean's).
    await this.route6(before ? "replace" : "add", address, d);
    this.routes6.set(address, d);
  }

  private route6(op: "add" | "replace" | "del", address: string, d: EdgeDroplet) {
    return ip(
      "-n",
      this.ns,
      "-6",
      "route",
      op,
      `${address}/128`,
      "via",
      d.primary6 ?? "",
      "dev",
      d.ifname,
    );
  }

  /**
   * Loads the difference between what the edge holds and the current state, then ends the
   * flows it concerns: flows admitted before a firewall covered a droplet must not survive it
   * (on DigitalOcean the firewall is outside the droplet from the moment it applies), and a
   * reserved address's flows must not keep reaching the droplet it left.
   */
  private async apply(alsoFlush: readonly string[]): Promise<void> {
    const next = edgeRules(
      [...this.droplets.values()].map((d) => ({
        ifname: d.ifname,
        dropletId: d.id,
        tags: this.tags.get(d.id) ?? d.tags,
        metadataPort: d.metadataPort,
      })),
      this.firewalls,
      this.nat,
    );
    const change = renderEdgeChange(this.applied, next);
    if (change.script !== "")
      await imageMustRun(["nft", "-f", "-"], this.tool, { input: change.script });
    this.applied = next;
    const flush = [...new Set([...alsoFlush, ...this.touched(change)])];
    if (flush.length === 0) return;
    // One tools-image start for every address; conntrack exits 1 when it deleted nothing.
    await imageRun(
      [
        "sh",
        "-c",
        'for a in "$@"; do for f in -s -d -r -q; do conntrack -D "$f" "$a"; done; done >/dev/null 2>&1; true',
        "sh",
        ...flush,
      ],
      this.tool,
    );
  }

  /** The addresses whose flows a change concerns: of the droplets whose chains changed, and the NAT's. */
  private touched(change: EdgeChange): string[] {
    const ifnames = new Set(change.chains.map((c) => c.replace(/_(in|out)$/, "")));
    return [
      ...[...this.droplets.values()]
        .filter((d) => ifnames.has(d.ifname))
        .flatMap((d) => this.addressesOf(d)),
      ...change.keys.dnat4,
      ...change.keys.snat4,
    ];
  }

  private addressesOf(d: EdgeDroplet): string[] {
    return [
      d.primary,
      d.anchor,
      ...(d.primary6 !== null ? [d.primary6] : []),
      ...[...this.routes6].filter(([, to]) => to.id === d.id).map(([address]) => address),
    ];
  }
}
