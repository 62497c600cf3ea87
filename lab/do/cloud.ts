import { randomUUID } from "node:crypto";
import type { Timings } from "./defaults";
import type { DropletNetwork, DropletSpec, FirewallRuleSpec, Realiser } from "./realiser";

/**
 * The emulated account's state, shared by the resource modules. Each module renders its own
 * API objects from these records; nothing here is sent to a client as is.
 */

type ActionStatus = "in-progress" | "completed" | "errored";

export interface ActionRecord {
  readonly id: number;
  status: ActionStatus;
  readonly type: string;
  readonly startedAt: string;
  completedAt: string | null;
  /** godo action.go: `resource_id` is an int; for reserved IPs see reservedIps.ts. */
  readonly resourceId: number | null;
  readonly resourceType: string;
  /** The address of a reserved IP action (its `resource_id` cannot carry an IPv6 address). */
  readonly resourceKey?: string;
  readonly region: string;
  /** The droplet whose action list shows it (`/v2/droplets/{id}/actions`), if any. */
  readonly dropletId?: number;
  readonly projectId?: string;
}

/**
 * `new`/`active`/`off` are DigitalOcean's (OAS droplet.yml status enum). `errored` is the
 * lab's own, set only when the realisation fails: a status outside the clients' wait sets
 * makes TF fail at its next poll (retry/state.go) instead of waiting its 60 min timeout.
 */
type DropletStatus = "new" | "active" | "off" | "errored";

export interface DropletRecord {
  readonly id: number;
  name: string;
  spec: DropletSpec;
  status: DropletStatus;
  size: string;
  readonly createdAt: string;
  tags: string[];
  features: string[];
  network?: DropletNetwork;
  /** Set once DELETE was accepted: GET keeps answering until the realisation is gone. */
  deleting: boolean;
  /** The project this droplet is listed in (`do:droplet:<id>`). */
  projectId: string;
}

export interface ReservedIpRecord {
  readonly ip: string;
  readonly region: string;
  dropletId: number | null;
  locked: boolean;
  /** Project of an unassigned IP; an assigned one is listed in its droplet's project. */
  projectId: string;
  readonly reservedAt: string;
}

export interface FirewallRecord {
  readonly id: string;
  name: string;
  inboundRules: FirewallRuleSpec[];
  outboundRules: FirewallRuleSpec[];
  dropletIds: number[];
  tags: string[];
  readonly createdAt: string;
  status: "waiting" | "succeeded" | "failed";
}

export interface TagRecord {
  /** First capitalisation is canonical; lookups are case-insensitive (OAS tags.yml). */
  readonly name: string;
}

export interface KeyRecord {
  readonly id: number;
  name: string;
  readonly publicKey: string;
  readonly fingerprint: string;
}

export interface ProjectRecord {
  readonly id: string;
  name: string;
  description: string;
  purpose: string;
  environment: string;
  isDefault: boolean;
  readonly createdAt: string;
  updatedAt: string;
  /** URNs assigned other than droplets and reserved IPs (which carry their own projectId). */
  readonly others: Map<string, string>;
}

export interface AccountSettings {
  readonly reservedIpLimit: number;
  readonly dropletLimit: number;
  readonly volumeLimit: number;
  readonly email: string;
  readonly uuid: string;
}

/** Where a background task failed (a realisation error), for the lab's report. */
export interface BackgroundFailure {
  readonly what: string;
  readonly error: string;
}

export class Cloud {
  readonly droplets = new Map<number, DropletRecord>();
  readonly actions = new Map<number, ActionRecord>();
  readonly reservedIps = new Map<string, ReservedIpRecord>();
  readonly reservedIpv6 = new Map<string, ReservedIpRecord>();
  readonly firewalls = new Map<string, FirewallRecord>();
  /** Keyed by the lower-cased name. */
  readonly tags = new Map<string, TagRecord>();
  readonly keys = new Map<number, KeyRecord>();
  readonly projects = new Map<string, ProjectRecord>();
  /** Droplet id → the action holding its one pending event (docs/digitalocean-api.md#one-pending-event-per-droplet). */
  readonly pendingEvent = new Map<number, number>();
  readonly failures: BackgroundFailure[] = [];
  private readonly background = new Set<Promise<unknown>>();
  private nextDropletId = 470_000_001;
  private nextActionId = 2_100_000_001;
  private nextKeyId = 41_000_001;
  defaultProjectId: string;
  readonly ownerId = 258_992;
  private firewallQueue: Promise<void> = Promise.resolve();

  constructor(
    readonly realiser: Realiser,
    readonly timings: Timings,
    readonly account: AccountSettings,
    readonly metadataSocket: (dropletId: number) => Promise<string>,
    readonly now: () => number = Date.now,
  ) {
    this.defaultProjectId = randomUUID();
    const at = this.iso();
    this.projects.set(this.defaultProjectId, {
      id: this.defaultProjectId,
      name: "first-project",
      description: "",
      purpose: "Just trying out DigitalOcean",
      environment: "Development",
      isDefault: true,
      createdAt: at,
      updatedAt: at,
      others: new Map(),
    });
  }

  /** RFC 3339 without fractions, as DigitalOcean writes timestamps. */
  iso(): string {
    return new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  dropletId(): number {
    return this.nextDropletId++;
  }
  actionId(): number {
    return this.nextActionId++;
  }
  keyId(): number {
    return this.nextKeyId++;
  }

  /** Runs `task` after the HTTP answer; failures are kept (never an unhandled rejection). */
  spawn(what: string, task: () => Promise<void>): void {
    const p = task().catch((e: unknown) => {
      this.failures.push({ what, error: e instanceof Error ? e.message : String(e) });
    });
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Resolves when no background task is running (tests; close()). */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /**
   * Hands the realiser the complete firewall state after every change, one call at a time
   * (each sees the state after the previous); firewalls go `waiting` → `succeeded`.
   */
  applyFirewalls(): Promise<void> {
    for (const fw of this.firewalls.values()) fw.status = "waiting";
    const run = this.firewallQueue.then(async () => {
      const snapshot = [...this.firewalls.values()];
      try {
        await this.realiser.applyFirewalls(
          snapshot.map((f) => ({
            id: f.id,
            name: f.name,
            inboundRules: f.inboundRules,
            outboundRules: f.outboundRules,
            dropletIds: f.dropletIds,
            tags: f.tags,
          })),
          [...this.droplets.values()]
            .filter((d) => d.network !== undefined)
            .map((d) => ({ id: d.id, tags: [...d.tags] })),
        );
        for (const f of snapshot) if (f.status === "waiting") f.status = "succeeded";
      } catch (e) {
        for (const f of snapshot) f.status = "failed";
        throw e;
      }
    });
    this.firewallQueue = run.catch(() => undefined);
    return run;
  }

  /** Firewall application in the background (answers do not wait for it). */
  refreshFirewalls(): void {
    this.spawn("applyFirewalls", () => this.applyFirewalls());
  }

  /** Creates a tag if missing (droplet create accepts new tags: OAS droplet_create.yml tags). */
  ensureTag(name: string): TagRecord {
    const key = name.toLowerCase();
    let t = this.tags.get(key);
    if (!t) {
      t = { name };
      this.tags.set(key, t);
    }
    return t;
  }
}
