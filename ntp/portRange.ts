/**
 * A DigitalOcean firewall rule's port range, read one way by everything that reads one: the
 * policy pack (policy/rules.ts), the lab's edge firewall (lab/firewall.ts, lab/lab.ts) and the
 * emulated API (lab/do/firewalls.ts). Pure: no I/O, no Pulumi.
 *
 * The forms: one port ("123"), a range ("8000-9000"), "all", and "0", which the API
 * documents as all ports (digitalocean/openapi
 * specification/resources/firewalls/models/firewall_rule.yml: `"0"` when all ports are open;
 * terraform-provider-digitalocean digitalocean/firewall/firewalls.go reads it back as "all").
 * Missing or empty is all ports too: the provider's `portRange` is optional for tcp and udp
 * and means every port when unset. Ports are 1-65535; anything else is not a range.
 */

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

export const ALL_PORTS: PortRange = { from: 1, to: 65535 };

/** The range `text` denotes, or undefined when it is not one DigitalOcean accepts. */
export function parsePortRange(text: string | undefined): PortRange | undefined {
  const v = (text ?? "").trim();
  if (v === "" || v === "all" || v === "0") return ALL_PORTS;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
  if (m === null) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < ALL_PORTS.from || to > ALL_PORTS.to || from > to) return undefined;
  return { from, to };
}

/** Whether a rule with port range `text` admits `port`; an invalid range admits nothing. */
export function portRangeCovers(text: string | undefined, port: number): boolean {
  const r = parsePortRange(text);
  return r !== undefined && port >= r.from && port <= r.to;
}

/** True for the range of every port, however it was written. */
export function isAllPorts(r: PortRange): boolean {
  return r.from === ALL_PORTS.from && r.to === ALL_PORTS.to;
}
