import { mkdirSync, writeFileSync } from "node:fs";
import { mustRun, type RunOptions, type RunResult, run } from "./exec";
import type { Teardown } from "./teardown";

/**
 * Lab addressing. Only documentation/benchmark ranges, and only ever configured inside the
 * run's own namespaces (RFC 2544 198.18.0.0/15, RFC 3849 2001:db8::/32).
 */
export const ADDR = {
  /** The "internet" segment: a bridge in the switch namespace. */
  wanEdge: "198.18.0.1",
  wanEdge6: "2001:db8:ffff::1",
  internet: "198.18.0.100",
  internet6: "2001:db8:ffff::100",
  upstream: (k: number): string => `198.18.0.${10 + k}`,
  /** Droplet N: its own point-to-point link to the edge (the "hypervisor"). */
  dropletGw: (n: number): string => `198.19.${n}.1`,
  dropletPrimary: (n: number): string => `198.19.${n}.2`,
  anchorGw: (n: number): string => `10.10.${n}.1`,
  /** DigitalOcean's anchor: a private 10.x address on eth0 with no gateway of its own. */
  anchor: (n: number): string => `10.10.${n}.2`,
  dropletGw6: (n: number): string => `2001:db8:1:${n.toString(16)}::1`,
  dropletPrimary6: (n: number): string => `2001:db8:1:${n.toString(16)}::2`,
  reservedIpv4: (k: number): string => `198.18.64.${10 + k}`,
  reservedIpv6: (k: number): string => `2001:db8:2::${(0x10 + k).toString(16)}`,
} as const;

/** Runs `ip` with arguments; throws on failure. */
export const ip = (...args: string[]): Promise<RunResult> => mustRun(["ip", ...args]);

/** Runs argv inside namespace `ns` (`ip netns exec`, which also applies /etc/netns/<ns>). */
export function nsRun(
  ns: string,
  argv: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return run(["ip", "netns", "exec", ns, ...argv], opts);
}

/** Creates a namespace (registered for teardown first) with loopback up. */
export async function addNamespace(td: Teardown, ns: string): Promise<void> {
  td.addNamespace(ns);
  await ip("netns", "add", ns);
  await ip("-n", ns, "link", "set", "lo", "up");
}

/** /etc/netns/<ns>/hosts: name resolution inside the lab only (ip netns exec bind-mounts it). */
export function writeNetnsHosts(td: Teardown, ns: string, hosts: string): void {
  const dir = `/etc/netns/${ns}`;
  td.addPath(dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/hosts`, hosts);
}

/** Attaches `ns` to the bridge `br` in switch namespace `sw` with a veth named eth0 inside `ns`. */
export async function attachToBridge(
  sw: string,
  br: string,
  ns: string,
  port: string,
  addrs: readonly string[],
): Promise<void> {
  await ip("-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
  await ip("-n", sw, "link", "set", port, "master", br, "up");
  for (const a of addrs) await ip("-n", ns, "addr", "add", a, "dev", "eth0", ...nodad(a));
  await ip("-n", ns, "link", "set", "eth0", "up");
}

/** IPv6 addresses skip duplicate address detection: the lab assigns them uniquely. */
export const nodad = (a: string): string[] => (a.includes(":") ? ["nodad"] : []);
