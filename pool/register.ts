/**
 * `pool register`: check each member address answers NTP with a stratum the pool accepts,
 * then print what to enter at manage.ntppool.org (there is no registration API).
 */

import { type NtpSample, NtpTimeoutError, type QueryOptions, queryNtp } from "../ntp/client";
import { judgeCheck } from "../ntp/poolRules";
import { MANAGE_URL, POOL_DEFAULTS } from "./defaults";
import type { MemberOutput, StackOutputs } from "./outputs";

export interface ProbeOutcome {
  address: string;
  family: "IPv4" | "IPv6";
  ok: boolean;
  /** Present when a reply arrived. */
  stratum?: number;
  leap?: number;
  /** Seconds. */
  offset?: number;
  refId?: string;
  /** Queries sent to this address. */
  queries: number;
  /** Why the address is not ready (empty when ok). */
  reason: string;
  /** Ready, but the pool would score it less than full points (its offset). */
  warning?: string;
}

export interface ProbeOptions {
  port?: number;
  attempts?: number;
  intervalMs?: number;
  timeoutMs?: number;
  /** Injected in tests; waits between two queries to the same address. */
  sleep?: (ms: number) => Promise<void>;
  query?: (opts: QueryOptions) => Promise<NtpSample>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Queries `address` politely and judges the first reply as the pool does (ntp/poolRules.ts
 * judgeCheck over one sample: the add form's stratum range, synchronised, and an offset to
 * this machine's clock whose score settles at 10 or above). Politely: at most one query per
 * `intervalMs` (the first one at once), at most `attempts` queries, retrying only when no
 * reply arrived. A kiss-o'-death ends the attempts at once: retrying a rate-limiting server
 * is exactly what it asks us not to do.
 */
export async function probeAddress(
  address: string,
  family: "IPv4" | "IPv6",
  options: ProbeOptions = {},
): Promise<ProbeOutcome> {
  const attempts = options.attempts ?? POOL_DEFAULTS.probeAttempts;
  const intervalMs = Math.max(options.intervalMs ?? POOL_DEFAULTS.probeIntervalMs, 0);
  const sleep = options.sleep ?? realSleep;
  const query = options.query ?? queryNtp;
  const timeoutMs = options.timeoutMs ?? POOL_DEFAULTS.probeTimeoutMs;
  let lastReason = "no query sent";
  let queries = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) {
      await sleep(intervalMs);
    }
    queries++;
    try {
      const sample = await query({ address, port: options.port, timeoutMs });
      const j = judgeCheck([sample], "this machine's clock");
      const reason = j.verdict === "fail" ? j.reason : "";
      return {
        address,
        family,
        ok: reason === "",
        ...(j.verdict === "warn" ? { warning: j.reason } : {}),
        stratum: sample.header.stratum,
        leap: sample.header.leap,
        offset: sample.offsetMs / 1000,
        refId: sample.header.refid,
        queries,
        reason,
      };
    } catch (err) {
      if (err instanceof NtpTimeoutError) {
        lastReason = `no NTP reply after ${queries} ${queries === 1 ? "query" : "queries"} (${timeoutMs} ms timeout each): is UDP 123 open in the firewall and ntpd running?`;
        continue;
      }
      return { address, family, ok: false, queries, reason: (err as Error).message };
    }
  }
  return { address, family, ok: false, queries, reason: lastReason };
}

/** Probes every registration address of every member, one address after another. */
export async function probeMembers(
  outputs: StackOutputs,
  options: ProbeOptions = {},
): Promise<Map<string, ProbeOutcome>> {
  const results = new Map<string, ProbeOutcome>();
  for (const member of Object.values(outputs.members)) {
    for (const { address, family } of member.registration.addresses) {
      results.set(address, await probeAddress(address, family, options));
    }
  }
  return results;
}

/** On-the-wire size of one NTP reply: 48-byte payload + UDP 8 + IP header (20 or 40). */
const NTP_REPLY_BYTES = { IPv4: 48 + 8 + 20, IPv6: 48 + 8 + 40 } as const;

/** Outbound gigabytes per 30-day month for a steady `qps` of replies (DigitalOcean bills egress). */
export function monthlyEgressGB(qps: number, family: "IPv4" | "IPv6"): number {
  return (qps * NTP_REPLY_BYTES[family] * 30 * 24 * 3600) / 1e9;
}

function fmtOffset(seconds: number | undefined): string {
  return seconds === undefined ? "?" : `${(seconds * 1000).toFixed(2)} ms`;
}

function renderMember(
  member: MemberOutput,
  probes: ReadonlyMap<string, ProbeOutcome>,
  step: { n: number },
): string[] {
  const lines: string[] = [];
  lines.push(`Member "${member.name}" (region ${member.region}, droplet ${member.dropletId})`);
  for (const { address, family } of member.registration.addresses) {
    const probe = probes.get(address);
    if (probe === undefined) {
      lines.push(`  ${family} ${address}: not checked`);
      continue;
    }
    const state = probe.ok
      ? `OK: stratum ${probe.stratum}, offset ${fmtOffset(probe.offset)} (${probe.queries} ${probe.queries === 1 ? "query" : "queries"})${probe.warning === undefined ? "" : `; warning: ${probe.warning}`}`
      : `NOT READY: ${probe.reason}`;
    lines.push(`  ${family} ${address}: ${state}`);
  }
  for (const { address, family } of member.registration.addresses) {
    const probe = probes.get(address);
    if (probe?.ok !== true) {
      lines.push(
        `  skip ${address} for now: the add form checks it live and would refuse it. Re-run this command when it answers.`,
      );
      continue;
    }
    const verifyHost = family === "IPv4" ? "validate4.ntppool.dev" : "validate6.ntppool.dev";
    lines.push("");
    lines.push(`  Step ${step.n++}: add ${family} server ${address}`);
    lines.push(`    a. ${MANAGE_URL} → "Add a server" → hostname or IP: ${address} → Next`);
    lines.push(
      `    b. Check the zones it detects from the address (DigitalOcean region ${member.region}) and confirm "Add server".`,
    );
    lines.push(
      "    c. Verify you operate it: the server page asks for a token fetched FROM this address.",
    );
    if (family === "IPv4") {
      lines.push(
        "       Traffic leaves a droplet from its own public IP, not the reserved IP, unless it is",
        "       sent through the anchor gateway (DigitalOcean: outbound via reserved IP). On the droplet:",
        "         AIP=$(curl -s http://169.254.169.254/metadata/v1/interfaces/public/0/anchor_ipv4/address)",
        "         AGW=$(curl -s http://169.254.169.254/metadata/v1/interfaces/public/0/anchor_ipv4/gateway)",
        `         V=$(getent ahostsv4 ${verifyHost} | awk 'NR==1{print $1}')`,
        '         ip route add "$V/32" via "$AGW" src "$AIP"',
        `         curl --interface "$AIP" https://${verifyHost}/p/`,
        '         ip route del "$V/32"',
      );
    } else {
      lines.push(
        `       On the droplet (the reserved IPv6 is on lo): curl --interface ${address} https://${verifyHost}/p/`,
      );
    }
    lines.push(
      "       It prints a manage.ntppool.org/manage/server/verify/... URL: open it while logged in.",
    );
    lines.push(
      `    d. Net speed: pick the LOWEST setting offered. Raise it one step at a time while the score stays ≥ ${POOL_DEFAULTS.threshold}`,
      "       and droplet CPU and bandwidth graphs stay flat: real load in underserved zones reaches",
      `       tens of thousands of queries/s; 10,000 qps alone is ~${monthlyEgressGB(10_000, family).toFixed(0)} GB/month of ${family} egress.`,
    );
  }
  if (member.registration.notes.length > 0) {
    lines.push("", "  Notes from the stack:");
    for (const note of member.registration.notes) {
      lines.push(`    - ${note}`);
    }
  }
  return lines;
}

/** The full registration sheet: pure, so it is tested as text. */
export function renderRegistration(
  outputs: StackOutputs,
  probes: ReadonlyMap<string, ProbeOutcome>,
): string {
  const lines: string[] = [
    "NTP Pool registration (web only: there is no API)",
    `Log in at ${MANAGE_URL}. IPv4 and IPv6 are separate pool servers: add each address on its own.`,
    "",
  ];
  const step = { n: 1 };
  for (const member of Object.values(outputs.members)) {
    lines.push(...renderMember(member, probes, step), "");
  }
  const all = [...probes.values()];
  const ready = all.filter((p) => p.ok).length;
  lines.push(
    `${ready} of ${all.length} addresses ready. Afterwards: npm run pool -- status --watch (score ≥ ${POOL_DEFAULTS.threshold} = in the pool; it takes hours to climb).`,
  );
  return `${lines.join("\n")}\n`;
}

/** True when every address answered acceptably. */
export function allReady(probes: ReadonlyMap<string, ProbeOutcome>): boolean {
  return probes.size > 0 && [...probes.values()].every((p) => p.ok);
}
