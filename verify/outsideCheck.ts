/**
 * The outside check: what the pool's monitors will see, judged before `pulumi up` reports
 * success. For each reserved address (IPv4, and IPv6 when on):
 *
 * 1. `samples` NTP queries (mode 3), at most one packet per 2 s per address, each 3 s
 *    timeout — the pool monitor's own pattern (3 samples, 2 s apart, 3 s timeout). Each
 *    member query is paired with one to a reference upstream, so the member's offset is
 *    judged relative to that upstream: the deployer's clock may be wrong, but it drops out
 *    of (member − deployer) − (upstream − deployer). The sample with the lowest delay counts
 *    (RFC 5905 §10: lowest delay = least asymmetry error).
 * 2. Verdict: answer received, leap synchronised, stratum 1–5 (the pool's add form accepts
 *    only 1–5), |offset| ≤ 100 ms (beyond that each check scores below +0.5 and the score
 *    settles under the pool's threshold of 10), warning above 25 ms (the full +1 step ends
 *    there).
 * 3. Mode 6 probe: a READVAR request must get no answer. An answer means `noquery` is
 *    missing and the member is a reflection amplifier.
 *
 * Failures throw {@link CheckFailure} whose message names what is wrong.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import {
  type Mode6Probe,
  type NtpSample,
  NtpTimeoutError,
  Pacer,
  probeMode6,
  type QueryOptions,
  queryNtp,
} from "./ntpClient";
import type { AddressResult, OutsideResult } from "./summary";

/** Limits of the outside check; every default of it lives here. */
export const OUTSIDE_DEFAULTS = {
  /** Good samples wanted per address (the pool monitor takes 3). */
  samples: 3,
  /** Extra queries allowed for lost or not-yet-synchronised answers. */
  retries: 3,
  /** Milliseconds to wait for one reply (the pool monitor's timeout). */
  timeoutMs: 3000,
  /** Minimum milliseconds between two packets to the same address (LAB-NOTES §7). */
  gapMs: 2000,
  /** Mode-6 probes; two, so one lost reply cannot make a reflector look safe. */
  mode6Probes: 2,
  /** |offset| above this fails, milliseconds (pool scoring: +0.5 at 100 ms, less beyond). */
  failOffsetMs: 100,
  /** |offset| above this warns, milliseconds (pool scoring: full +1 step up to 25 ms). */
  warnOffsetMs: 25,
  /** Highest stratum the pool's add form accepts. */
  maxStratum: 5,
  port: 123,
} as const;

export class CheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckFailure";
  }
}

export interface OutsideOptions {
  readonly ipv4: string;
  readonly ipv6?: string;
  /** Host names or IPs of the member's upstreams, tried in order as the reference. */
  readonly upstreams: readonly string[];
  readonly samples?: number;
  readonly retries?: number;
  readonly timeoutMs?: number;
  readonly gapMs?: number;
  readonly port?: number;
}

/** I/O the check needs; tests may replace it. */
export interface OutsideDeps {
  readonly query: (o: QueryOptions) => Promise<NtpSample>;
  readonly probe: (o: QueryOptions) => Promise<Mode6Probe>;
  readonly resolve: (host: string) => Promise<string[]>;
  readonly pacer: Pacer;
  readonly log: (line: string) => void;
}

export function defaultDeps(gapMs: number = OUTSIDE_DEFAULTS.gapMs): OutsideDeps {
  return {
    query: queryNtp,
    probe: probeMode6,
    resolve: async (host) =>
      isIP(host) ? [host] : (await dnsLookup(host, { all: true })).map((a) => a.address),
    pacer: new Pacer(gapMs),
    log: (line) => process.stderr.write(`outside check: ${line}\n`),
  };
}

interface Reference {
  readonly host: string;
  readonly address: string;
}

export async function runOutsideCheck(
  opts: OutsideOptions,
  deps: OutsideDeps = defaultDeps(opts.gapMs),
): Promise<OutsideResult> {
  for (const [field, value] of [
    ["ipv4", opts.ipv4],
    ["ipv6", opts.ipv6],
  ] as const) {
    if (value === undefined) continue;
    const want = field === "ipv4" ? 4 : 6;
    if (isIP(value) !== want)
      throw new CheckFailure(`--${field}: ${JSON.stringify(value)} is not an IPv${want} address`);
  }
  const warnings: string[] = [];
  const ctx = { opts, deps, warnings, reference: undefined as Reference | undefined | null };
  const ipv4 = await checkAddress(opts.ipv4, ctx);
  const ipv6 = opts.ipv6 !== undefined ? await checkAddress(opts.ipv6, ctx) : undefined;
  return { check: "outside", ipv4, ...(ipv6 ? { ipv6 } : {}), warnings };
}

interface Ctx {
  readonly opts: OutsideOptions;
  readonly deps: OutsideDeps;
  readonly warnings: string[];
  /** undefined = not chosen yet; null = no upstream answered. */
  reference: Reference | undefined | null;
}

async function ask(ctx: Ctx, address: string): Promise<NtpSample | undefined> {
  await ctx.deps.pacer.wait(address);
  try {
    return await ctx.deps.query({
      address,
      port: ctx.opts.port ?? OUTSIDE_DEFAULTS.port,
      timeoutMs: ctx.opts.timeoutMs ?? OUTSIDE_DEFAULTS.timeoutMs,
    });
  } catch (e) {
    if (e instanceof NtpTimeoutError) return undefined;
    throw e;
  }
}

/** First upstream address that answers synchronised, or null. Each address is asked once. */
async function chooseReference(ctx: Ctx): Promise<Reference | null> {
  for (const host of ctx.opts.upstreams) {
    let addresses: string[];
    try {
      addresses = await ctx.deps.resolve(host);
    } catch (e) {
      ctx.deps.log(`upstream ${host}: lookup failed (${String(e)})`);
      continue;
    }
    for (const address of addresses) {
      const s = await ask(ctx, address).catch((e: unknown) => {
        ctx.deps.log(`upstream ${host} (${address}): ${String(e)}`);
        return undefined;
      });
      if (s?.verdict === "ok") return { host, address };
      ctx.deps.log(
        `upstream ${host} (${address}): ${s ? `not usable (${s.verdict}, stratum ${s.header.stratum})` : "no answer"}`,
      );
    }
  }
  return null;
}

async function checkAddress(address: string, ctx: Ctx): Promise<AddressResult> {
  const o = { ...OUTSIDE_DEFAULTS, ...definedOnly(ctx.opts) };
  if (ctx.reference === undefined) {
    ctx.reference = await chooseReference(ctx);
    if (ctx.reference === null) {
      ctx.warnings.push(
        "no upstream answered from this machine: offsets are judged against the local clock",
      );
    }
  }
  const ref = ctx.reference;
  const relativeTo = ref ? `upstream ${ref.host} (${ref.address})` : "local clock";

  const good: { member: NtpSample; offsetMs: number }[] = [];
  let last: NtpSample | undefined;
  let answered = 0;
  for (let attempt = 0; attempt < o.samples + o.retries && good.length < o.samples; attempt++) {
    const member = await ask(ctx, address);
    if (!member) {
      ctx.deps.log(`${address}: no answer (attempt ${attempt + 1})`);
      continue;
    }
    answered++;
    last = member;
    if (member.verdict === "rate-limited") {
      throw new CheckFailure(
        `${address} sent a kiss-o'-death RATE: it rate-limited this check (is another poller on this address?)`,
      );
    }
    if (member.verdict === "denied") {
      throw new CheckFailure(
        `${address} sent a kiss-o'-death ${member.header.refid}: it refuses time service (the pool scores DENY/RSTR -10): check 'restrict default' in ntp.conf`,
      );
    }
    if (member.verdict !== "ok") continue;
    let offsetMs = member.offsetMs;
    if (ref) {
      const r = await ask(ctx, ref.address);
      if (r?.verdict !== "ok") {
        ctx.deps.log(`reference ${ref.host}: ${r ? r.verdict : "no answer"}; sample skipped`);
        continue;
      }
      offsetMs = member.offsetMs - r.offsetMs;
    }
    good.push({ member, offsetMs });
  }

  if (good.length === 0) {
    if (answered === 0) {
      throw new CheckFailure(
        `no NTP answer from ${address} to ${o.samples + o.retries} queries (${o.timeoutMs} ms timeout each) — is inbound UDP 123 allowed, is the reserved IP assigned, and is ntpd answering from the address it was asked on?`,
      );
    }
    const h = last?.header;
    throw new CheckFailure(
      `${address} answers but is not synchronised (leap=${h?.leap}, stratum=${h?.stratum}, refid=${h?.refid})`,
    );
  }
  if (good.length < o.samples)
    ctx.warnings.push(`${address}: only ${good.length} of ${o.samples} samples usable`);
  const best = good.reduce((a, b) => (b.member.delayMs < a.member.delayMs ? b : a));
  const h = best.member.header;
  if (h.stratum < 1 || h.stratum > o.maxStratum) {
    throw new CheckFailure(
      `${address} is at stratum ${h.stratum}; the pool accepts only 1-${o.maxStratum}`,
    );
  }
  const abs = Math.abs(best.offsetMs);
  const offsetText = `${best.offsetMs.toFixed(3)} ms relative to ${relativeTo}`;
  if (abs > o.failOffsetMs) {
    throw new CheckFailure(
      `${address} is off by ${offsetText}: above ${o.failOffsetMs} ms its pool score settles below 10`,
    );
  }
  if (abs > o.warnOffsetMs)
    ctx.warnings.push(
      `${address} is off by ${offsetText} (pool scores full points only up to ${o.warnOffsetMs} ms)`,
    );

  let mode6Refused = true;
  for (let i = 0; i < o.mode6Probes && mode6Refused; i++) {
    await ctx.deps.pacer.wait(address);
    const p = await ctx.deps.probe({
      address,
      port: o.port,
      timeoutMs: Math.min(o.timeoutMs, 2000),
    });
    if (p.answered) {
      mode6Refused = false;
      throw new CheckFailure(
        `${address} answers NTP control (mode 6, ntpq) queries from outside: ${p.replyBytes} bytes back for a 12-byte request — a reflection amplifier; add 'noquery' to 'restrict default' in ntp.conf`,
      );
    }
  }
  ctx.deps.log(`${address}: stratum ${h.stratum}, offset ${offsetText}, mode 6 refused`);
  return {
    address,
    stratum: h.stratum,
    leap: h.leap,
    refid: h.refid,
    offsetMs: round3(best.offsetMs),
    delayMs: round3(best.member.delayMs),
    relativeTo,
    mode6Refused,
    samples: good.length,
  };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function definedOnly(o: OutsideOptions): Partial<typeof OUTSIDE_DEFAULTS> {
  const out: Record<string, number> = {};
  for (const k of ["samples", "retries", "timeoutMs", "gapMs", "port"] as const) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out as Partial<typeof OUTSIDE_DEFAULTS>;
}
