import { ADDR } from "../net";

/**
 * The seam between the emulated DigitalOcean API (lab/do/) and whatever makes its resources
 * real (lab/labRealiser.ts: namespaces, NAT, nftables, the Debian root). The API server owns the
 * state clients see (ids, statuses, actions, links); a Realiser owns the machines and the
 * packets. The server calls it; it never calls the server back.
 *
 * When the API state changes relative to the realisation — the rule throughout is that the
 * API reports a change only after the realiser has made it, as DigitalOcean reports an
 * action `completed` only once the hypervisor/edge has done it:
 *
 * | Client call | Server, in order |
 * |---|---|
 * | `POST /v2/droplets` | answers 202 at once with status `new` and an `in-progress` `create` action; then `createDroplet` (addresses known, metadata served from then on), `applyFirewalls`, `startDroplet`; when `startDroplet` resolves (and the configured minimum time in `new` has passed) the droplet turns `active` and its `create` action `completed` in the same instant. A rejection turns the action `errored` and the droplet `errored` (a lab-only status: outside the provider's wait states, it fails at the next poll instead of after 60 min). |
 * | droplet actions `power_off`, `shutdown`, `power_on`, `reboot`, `power_cycle` | action `in-progress` at once; `powerOff`/`shutdown`/`powerOn`/`reboot` resolves → status changes (`off`/`active`) and the action completes. |
 * | `DELETE /v2/droplets/{id}` | 204 at once; once the droplet's pending action (if any) has finished, for each reserved IP on it `setReservedIpv4/6(ip, null)` (the IP stays on the account, `droplet: null`, docs/digitalocean-api.md#droplet-deletion); `deleteDroplet`; `applyFirewalls`; only then does `GET` answer 404. |
 * | `POST /v2/reserved_ips` / `reserved_ipv6` | `allocateReservedIpv4/6(region)` before answering (the address is in the response). With `droplet_id` also an assign, as below. |
 * | reserved IP `assign` (also re-pointing an assigned IP) / `unassign` | action `in-progress` at once, the droplet holds a pending event; `setReservedIpv4/6(ip, dropletId or null)` resolves (NAT/route moved) → `droplet` in the IP object changes → action `completed`. |
 * | `DELETE /v2/reserved_ips/{ip}` / `reserved_ipv6` | if assigned `setReservedIpv4/6(ip, null)`; then `releaseReservedIpv4/6(ip)`; then 204. |
 * | firewall create/update/delete, droplet/tag added to or removed from a firewall, tagging or untagging a droplet | state changes at once (the API echoes it, status `waiting`); `applyFirewalls` with the full desired state; when it resolves the firewall's status is `succeeded` and its `pending_changes` empty. Calls are serialised: each sees the state after the previous. |
 *
 * Calls for one droplet never overlap except `applyFirewalls` (which concerns all droplets):
 * the server's one-pending-event-per-droplet rule serialises them.
 */
export interface Realiser {
  /**
   * Builds the droplet's network (links, addresses) without starting it. Resolves with its
   * addresses, which the API then lists in `networks` and the metadata service serves.
   */
  createDroplet(spec: DropletSpec): Promise<DropletNetwork>;
  /** Starts the machine; resolves when it is running (DigitalOcean's `active`, before cloud-init finishes). */
  startDroplet(id: number): Promise<void>;
  /** Stops and removes the machine and its network. Reserved IPs were moved off it before. */
  deleteDroplet(id: number): Promise<void>;
  /** Hard power-off (`power_off`). Resolves when the machine is stopped. */
  powerOff(id: number): Promise<void>;
  /** Graceful `shutdown` (ACPI on DigitalOcean). Resolves when the machine is stopped. */
  shutdown(id: number): Promise<void>;
  /** `power_on`. Resolves when the machine is running again. */
  powerOn(id: number): Promise<void>;
  /** `reboot` / `power_cycle`. Resolves when the machine is running again. */
  reboot(id: number): Promise<void>;
  /** A free reserved IPv4 address of `region` (the lab's ranges, lab/net.ts `ADDR`). */
  allocateReservedIpv4(region: string): Promise<string>;
  releaseReservedIpv4(ip: string): Promise<void>;
  allocateReservedIpv6(region: string): Promise<string>;
  releaseReservedIpv6(ip: string): Promise<void>;
  /** Points `ip` at the droplet's anchor address (1:1 NAT), or nowhere with `null`. */
  setReservedIpv4(ip: string, dropletId: number | null): Promise<void>;
  /** Routes `ip`/128 to the droplet, or nowhere with `null` (the guest configures it itself). */
  setReservedIpv6(ip: string, dropletId: number | null): Promise<void>;
  /** The complete desired firewall state: every firewall and every droplet with its tags. */
  applyFirewalls(
    firewalls: readonly FirewallSpec[],
    droplets: readonly DropletPort[],
  ): Promise<void>;
}

/** What the server knows about a droplet being created (from the create request). */
export interface DropletSpec {
  readonly id: number;
  readonly name: string;
  readonly region: string;
  readonly size: string;
  /** The image slug (or its numeric id as a string when created from an id). */
  readonly image: string;
  /** The create request's `user_data`, verbatim (not base64-decoded: docs/digitalocean-api.md#user-data). */
  readonly userData: string;
  readonly ipv6: boolean;
  readonly privateNetworking: boolean;
  readonly tags: readonly string[];
  /** `public_key` strings of the keys named in `ssh_keys`, in request order. */
  readonly publicKeys: readonly string[];
  readonly vpcUuid: string;
  /**
   * A unix socket on which the server already answers this droplet's metadata service
   * (`GET /metadata/v1.json`, `/metadata/v1/...`, docs/digitalocean-api.md#metadata-service). The realiser makes it
   * reachable at http://169.254.169.254/ inside the droplet.
   */
  readonly metadataSocket: string;
}

export interface Ipv4Config {
  readonly address: string;
  readonly netmask: string;
  readonly gateway: string;
}

export interface Ipv6Config {
  readonly address: string;
  /** Prefix length (the API's v6 `netmask` and the metadata's `cidr` are this integer). */
  readonly cidr: number;
  readonly gateway: string;
}

/** A droplet's addresses as the realiser built them. */
export interface DropletNetwork {
  /** The first `networks.v4` entry of type `public` (TF's `ipv4_address`). */
  readonly publicIpv4: Ipv4Config;
  /** The anchor: a private 10.x address on eth0; reserved IPv4 is NATed to it. */
  readonly anchorIpv4: Ipv4Config;
  readonly publicIpv6?: Ipv6Config;
  readonly privateIpv4?: Ipv4Config;
  /** Lower-case MACs of eth0 (public) and eth1 (private): cloud-init matches them exactly. */
  readonly publicMac: string;
  readonly privateMac?: string;
}

/** One rule as the API stores it (DigitalOcean's request/response shape). */
export interface FirewallRuleSpec {
  readonly protocol: "tcp" | "udp" | "icmp";
  /** As the client sent it: "22", "8000-9000", "all", "0" or absent (icmp). */
  readonly ports?: string;
  readonly addresses: readonly string[];
  readonly dropletIds: readonly number[];
  readonly tags: readonly string[];
  readonly loadBalancerUids: readonly string[];
  readonly kubernetesIds: readonly string[];
}

export interface FirewallSpec {
  readonly id: string;
  readonly name: string;
  readonly inboundRules: readonly FirewallRuleSpec[];
  readonly outboundRules: readonly FirewallRuleSpec[];
  /** Only droplets attached by id; tag-matched droplets are resolved from `droplets`. */
  readonly dropletIds: readonly number[];
  readonly tags: readonly string[];
}

export interface DropletPort {
  readonly id: number;
  readonly tags: readonly string[];
}

/** One call the realiser received, as RecordingRealiser keeps it. */
export interface RealiserCall {
  readonly method: keyof Realiser;
  readonly args: readonly unknown[];
}

/**
 * A realiser with no machines: it hands out addresses from the lab's ranges and records
 * every call, for the API tests and for doctl checks that look at what would be realised.
 * `delayMs` makes every call take that long (to exercise in-progress states).
 */
export class RecordingRealiser implements Realiser {
  readonly calls: RealiserCall[] = [];
  private droplets = 0;
  private v4 = 0;
  private v6 = 0;
  private readonly ids = new Map<number, number>();
  /** Set to make the next call of that method reject (fault injection in tests). */
  readonly failNext = new Set<keyof Realiser>();

  constructor(readonly delayMs = 0) {}

  private async record(method: keyof Realiser, ...args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext.delete(method)) throw new Error(`RecordingRealiser: ${method} failed`);
  }

  /** The calls of one method, in order. */
  callsOf(method: keyof Realiser): readonly (readonly unknown[])[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  async createDroplet(spec: DropletSpec): Promise<DropletNetwork> {
    this.droplets += 1;
    const n = this.droplets;
    this.ids.set(spec.id, n);
    await this.record("createDroplet", spec);
    const mac = (k: number): string => `52:54:00:00:${n.toString(16).padStart(2, "0")}:0${k}`;
    return {
      publicIpv4: {
        address: ADDR.dropletPrimary(n),
        netmask: "255.255.255.0",
        gateway: ADDR.dropletGw(n),
      },
      anchorIpv4: { address: ADDR.anchor(n), netmask: "255.255.255.0", gateway: ADDR.anchorGw(n) },
      ...(spec.ipv6
        ? {
            publicIpv6: { address: ADDR.dropletPrimary6(n), cidr: 64, gateway: ADDR.dropletGw6(n) },
          }
        : {}),
      publicMac: mac(1),
    };
  }
  startDroplet(id: number): Promise<void> {
    return this.record("startDroplet", id);
  }
  deleteDroplet(id: number): Promise<void> {
    return this.record("deleteDroplet", id);
  }
  powerOff(id: number): Promise<void> {
    return this.record("powerOff", id);
  }
  shutdown(id: number): Promise<void> {
    return this.record("shutdown", id);
  }
  powerOn(id: number): Promise<void> {
    return this.record("powerOn", id);
  }
  reboot(id: number): Promise<void> {
    return this.record("reboot", id);
  }
  async allocateReservedIpv4(region: string): Promise<string> {
    await this.record("allocateReservedIpv4", region);
    this.v4 += 1;
    return ADDR.reservedIpv4(this.v4);
  }
  releaseReservedIpv4(ip: string): Promise<void> {
    return this.record("releaseReservedIpv4", ip);
  }
  async allocateReservedIpv6(region: string): Promise<string> {
    await this.record("allocateReservedIpv6", region);
    this.v6 += 1;
    return ADDR.reservedIpv6(this.v6);
  }
  releaseReservedIpv6(ip: string): Promise<void> {
    return this.record("releaseReservedIpv6", ip);
  }
  setReservedIpv4(ip: string, dropletId: number | null): Promise<void> {
    return this.record("setReservedIpv4", ip, dropletId);
  }
  setReservedIpv6(ip: string, dropletId: number | null): Promise<void> {
    return this.record("setReservedIpv6", ip, dropletId);
  }
  applyFirewalls(
    firewalls: readonly FirewallSpec[],
    droplets: readonly DropletPort[],
  ): Promise<void> {
    return this.record("applyFirewalls", structuredClone(firewalls), structuredClone(droplets));
  }
}
