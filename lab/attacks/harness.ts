/**
 * Runs the attack CLI inside a namespace from a test (or the lab) and decodes its result.
 * Also the address plumbing: a block of extra source addresses for a namespace without
 * adding 1,000 addresses one by one (Linux "AnyIP": a `local` route makes every address of
 * the prefix bindable; the far side routes the prefix back to it).
 */
import { readlinkSync } from "node:fs";
import { resolve } from "node:path";
import { run } from "../exec";
import type { AttackSpec } from "./spec";

const ROOT = resolve(__dirname, "..", "..");
const TSX_CLI = resolve(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const ATTACK_CLI = resolve(__dirname, "cli.ts");

/** Runs one attack in `ns`; throws with its stderr when it fails. `timeoutMs` kills it. */
export async function runAttack<T>(ns: string, spec: AttackSpec, timeoutMs = 240_000): Promise<T> {
  const r = await run(
    ["ip", "netns", "exec", ns, process.execPath, TSX_CLI, ATTACK_CLI, JSON.stringify(spec)],
    { timeoutMs, env: { NTP_ATTACK_LAUNCH_NETNS: readlinkSync("/proc/self/ns/net") } },
  );
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.code !== 0 || (!line.startsWith("{") && !line.startsWith("["))) {
    throw new Error(
      `attack ${spec.kind} in ${ns} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ""}): ${r.stderr.trim()}`,
    );
  }
  return JSON.parse(line) as T;
}

/** The first `count` host addresses of an IPv4 prefix ("10.78.0.0/16"), skipping .0 and .255. */
export function addressBlock(cidr: string, count: number): string[] {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`addressBlock: not an IPv4 CIDR: ${cidr}`);
  const bits = Number(m[5]);
  const base =
    ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const size = 2 ** (32 - bits);
  const out: string[] = [];
  for (let i = 1; i < size - 1 && out.length < count; i++) {
    const a = (base + i) >>> 0;
    const last = a & 0xff;
    if (last === 0 || last === 255) continue;
    out.push([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, last].join("."));
  }
  if (out.length < count) {
    throw new Error(
      `addressBlock: ${cidr} has only ${out.length} usable addresses, ${count} asked`,
    );
  }
  return out;
}

/**
 * `ip` argv lists that make every address of `cidr` usable as a source in `clientNs`, and
 * route the replies from `serverNs` (whose next hop towards the client is `via`).
 */
export function anyIpRoutes(
  clientNs: string,
  cidr: string,
  back: { ns: string; via: string }[],
): string[][] {
  return [
    ["ip", "-n", clientNs, "route", "add", "local", cidr, "dev", "lo"],
    ...back.map((b) => ["ip", "-n", b.ns, "route", "add", cidr, "via", b.via]),
  ];
}
