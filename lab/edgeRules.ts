import {
  covers,
  EDGE_FIREWALL_TABLE,
  type LabFirewall,
  type LabPort,
  translateRule,
} from "./firewall";

/**
 * The edge router's nftables state, as data, and the nft script that turns one state into
 * another touching only what differs. Pure: no I/O (lab/edge.ts loads the scripts).
 *
 * The three tables are laid down once with their base chains; everything per droplet or per
 * address lives in map elements and per-droplet chains, so moving one reserved IP is two
 * element changes per map and leaves every other droplet's rules as they were (issue 18:
 * the edge used to be re-rendered whole for every change).
 */

const EDGE_NAT_TABLE = "ntplab_nat";
const EDGE_METADATA_TABLE = "ntplab_md";

/** DigitalOcean's metadata service address, on-link from every droplet (docs/digitalocean-api.md#metadata-service). */
export const METADATA_ADDRESS = "169.254.169.254";

/** The edge-local port behind which droplet N's metadata forwarder listens. */
export const metadataPort = (n: number): number => 9000 + n;

/** One named nftables map: its table and the nft text of its key and value types. */
interface MapDef {
  readonly family: "inet" | "ip";
  readonly table: string;
  readonly name: string;
  /** ifname keys are strings and must be quoted in element syntax. */
  readonly quoteKey: boolean;
}

const MAPS = {
  fwIn: { family: "inet", table: EDGE_FIREWALL_TABLE, name: "fw_in", quoteKey: true },
  fwOut: { family: "inet", table: EDGE_FIREWALL_TABLE, name: "fw_out", quoteKey: true },
  dnat4: { family: "ip", table: EDGE_NAT_TABLE, name: "dnat4", quoteKey: false },
  snat4: { family: "ip", table: EDGE_NAT_TABLE, name: "snat4", quoteKey: false },
  metadata: { family: "ip", table: EDGE_METADATA_TABLE, name: "ports", quoteKey: true },
} as const satisfies Record<string, MapDef>;

type MapName = keyof typeof MAPS;

/** Everything the edge holds beyond its fixed skeleton (renderEdgeTables). */
export interface EdgeRules {
  /** Per-droplet firewall chain → its rule lines, in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Each map's elements: key → value, in nft element syntax. */
  readonly maps: Readonly<Record<MapName, ReadonlyMap<string, string>>>;
}

export const NO_EDGE_RULES: EdgeRules = {
  chains: new Map(),
  maps: {
    fwIn: new Map(),
    fwOut: new Map(),
    dnat4: new Map(),
    snat4: new Map(),
    metadata: new Map(),
  },
};

/** A droplet as the edge sees it: its link, its tags, and its metadata forwarder's port. */
export interface EdgePort extends LabPort {
  readonly metadataPort: number;
}

/**
 * The edge's rules for the current droplets, firewalls and reserved IPv4 mappings.
 *
 * Firewall (DigitalOcean semantics, lab/firewall.ts): a droplet covered by at least one
 * firewall gets two chains, `<if>_in` (traffic to it) and `<if>_out` (from it), holding every
 * rule of every covering firewall and a final drop; the forward chain jumps there by
 * interface through the verdict maps. A droplet covered by none has no element: open.
 *
 * NAT: reserved IPv4 addresses reach a droplet through its anchor address: inbound packets are
 * translated to the anchor, and only traffic that leaves from the anchor is translated back.
 * A reply sent from the droplet's primary address is not, exactly as on DigitalOcean. When two
 * reserved addresses name one anchor the first keeps the source translation (as the first of
 * two snat rules did).
 *
 * Metadata: 169.254.169.254:80 arriving from droplet N's link is translated to that droplet's
 * own forwarder port, so a droplet is told apart by the interface its request came in on,
 * never by its source address.
 */
export function edgeRules(
  ports: readonly EdgePort[],
  firewalls: readonly LabFirewall[],
  nat: ReadonlyMap<string, string>,
): EdgeRules {
  const chains = new Map<string, readonly string[]>();
  const fwIn = new Map<string, string>();
  const fwOut = new Map<string, string>();
  for (const port of ports) {
    const fws = firewalls.filter((fw) => covers(fw, port));
    if (fws.length === 0) continue;
    const c = port.ifname;
    chains.set(`${c}_in`, [
      ...fws.flatMap((fw) => fw.inboundRules.flatMap((r, i) => translateRule("inbound", i, r))),
      `counter drop comment "default deny inbound (droplet ${port.dropletId})"`,
    ]);
    chains.set(`${c}_out`, [
      ...fws.flatMap((fw) => fw.outboundRules.flatMap((r, i) => translateRule("outbound", i, r))),
      `counter drop comment "default deny outbound (droplet ${port.dropletId})"`,
    ]);
    fwIn.set(c, `jump ${c}_in`);
    fwOut.set(c, `jump ${c}_out`);
  }
  const snat4 = new Map<string, string>();
  for (const [reserved, anchor] of nat) if (!snat4.has(anchor)) snat4.set(anchor, reserved);
  return {
    chains,
    maps: {
      fwIn,
      fwOut,
      dnat4: new Map(nat),
      snat4,
      metadata: new Map(ports.map((p) => [p.ifname, `${METADATA_ADDRESS} . ${p.metadataPort}`])),
    },
  };
}

/**
 * The edge's fixed skeleton: the three tables, their maps (empty) and base chains. Loaded
 * once, when the edge comes up; every later change is a renderEdgeChange script.
 */
export function renderEdgeTables(): string {
  const m = MAPS;
  return [
    `table inet ${EDGE_FIREWALL_TABLE} {`,
    `  map ${m.fwIn.name} { type ifname : verdict; }`,
    `  map ${m.fwOut.name} { type ifname : verdict; }`,
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    "    ct state established,related accept",
    `    oifname vmap @${m.fwIn.name}`,
    `    iifname vmap @${m.fwOut.name}`,
    "  }",
    "}",
    `table ip ${EDGE_NAT_TABLE} {`,
    `  map ${m.dnat4.name} { type ipv4_addr : ipv4_addr; }`,
    `  map ${m.snat4.name} { type ipv4_addr : ipv4_addr; }`,
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    `    dnat to ip daddr map @${m.dnat4.name}`,
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    snat to ip saddr map @${m.snat4.name}`,
    "  }",
    "}",
    `table ip ${EDGE_METADATA_TABLE} {`,
    `  map ${m.metadata.name} { type ifname : ipv4_addr . inet_service; }`,
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    `    ip daddr ${METADATA_ADDRESS} tcp dport 80 dnat ip to iifname map @${m.metadata.name}`,
    "  }",
    // The per-droplet ports accept nothing that was not translated so (no droplet reads another's).
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    ip daddr ${METADATA_ADDRESS} ct status dnat accept`,
    `    ip daddr ${METADATA_ADDRESS} drop`,
    "  }",
    "}",
    "",
  ].join("\n");
}

const sameLines = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  a !== undefined && b !== undefined && a.length === b.length && a.every((l, i) => l === b[i]);

/** What renderEdgeChange touched: the chains rewritten and the map keys changed. */
export interface EdgeChange {
  /** The nft script (one transaction); "" when nothing differs. */
  readonly script: string;
  readonly chains: readonly string[];
  readonly keys: Readonly<Record<MapName, readonly string[]>>;
}

/**
 * The nft script from `before` to `after`, changing only the chains whose rules differ and
 * the map elements whose value differs. One `nft -f` transaction, ordered so that no element
 * ever names a missing chain: chains are created or refilled first, then elements deleted and
 * added, then chains no element names any more are deleted.
 */
export function renderEdgeChange(before: EdgeRules, after: EdgeRules): EdgeChange {
  const fw = `inet ${EDGE_FIREWALL_TABLE}`;
  const fill: string[] = [];
  const drop: string[] = [];
  const chains: string[] = [];
  for (const [name, lines] of after.chains) {
    const old = before.chains.get(name);
    if (sameLines(old, lines)) continue;
    chains.push(name);
    fill.push(old === undefined ? `add chain ${fw} ${name}` : `flush chain ${fw} ${name}`);
    for (const l of lines) fill.push(`add rule ${fw} ${name} ${l}`);
  }
  for (const name of before.chains.keys()) {
    if (after.chains.has(name)) continue;
    chains.push(name);
    drop.push(`flush chain ${fw} ${name}`, `delete chain ${fw} ${name}`);
  }
  const removeElements: string[] = [];
  const addElements: string[] = [];
  const keys = {} as Record<MapName, string[]>;
  for (const name of Object.keys(MAPS) as MapName[]) {
    const m: MapDef = MAPS[name];
    const at = `${m.family} ${m.table} ${m.name}`;
    const key = (k: string) => (m.quoteKey ? `"${k}"` : k);
    const was = before.maps[name];
    const now = after.maps[name];
    keys[name] = [];
    for (const [k, v] of was) {
      if (now.get(k) === v) continue;
      keys[name].push(k);
      removeElements.push(`delete element ${at} { ${key(k)} }`);
    }
    for (const [k, v] of now) {
      if (was.get(k) === v) continue;
      if (!was.has(k)) keys[name].push(k);
      addElements.push(`add element ${at} { ${key(k)} : ${v} }`);
    }
  }
  const lines = [...fill, ...removeElements, ...addElements, ...drop];
  return { script: lines.length > 0 ? `${lines.join("\n")}\n` : "", chains, keys };
}
