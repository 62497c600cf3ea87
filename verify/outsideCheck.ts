/**
 * The outside check: what the pool's monitors will see, judged from the deployer's machine.
 * It runs twice per deployment (docs/verification.md): first against the new droplet's own
 * public addresses, before either reserved IP is moved to it (`waitSeconds` > 0: the droplet
 * may still be booting), then against the reserved addresses after the assignments.
 *
 * 0. With `waitSeconds`, poll the address (one packet per 2 s: NTPsec's `limited` never
 *    trips at that rate, test/real/verify-outside.test.ts) until it answers synchronised.
 * 1. `samples` NTP queries (mode 3), at most one packet per 2 s per address, each 3 s
 *    timeout — the pool monitor's own pattern (3 samples, 2 s apart, 3 s timeout). Each
 *    member query is paired with one to a reference upstream sent at the same moment, so the
 *    member's offset is judged relative to that upstream: the deployer's clock may be wrong,
 *    but it drops out of (member − deployer) − (upstream − deployer). The sample with the
 *    lowest delay counts (RFC 5905 §10: lowest delay = least asymmetry error).
 * 2. Verdict: the pool's, from ntp/poolRules.ts judgeCheck over the synchronised samples
 *    (answer received, leap synchronised, stratum 1–5 as the add form accepts, |offset|
 *    ≤ 100 ms so the score settles at 10 or above, a warning above 25 ms where the full +1
 *    step ends). Unsynchronised answers are retried first: the member may be finishing its
 *    first sync.
 * 3. Mode 6 probe: a READVAR request must get no answer. An answer means `noquery` is
 *    missing and the member is a reflection amplifier.
 *
 * IPv4 and IPv6 are checked at the same time, and the mode-6 probes run beside the samples
 * (paced on their own): the pool's 2 s spacing holds per address and per kind of packet.
 * A deployer without an IPv6 route (GitHub's hosted runners, many home networks) skips the
 * IPv6 address with a warning unless `requireIpv6`.
 *
 * Failures throw {@link CheckFailure} whose message names what is wrong.
 */
import * as dgram from "node:dgram";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP, Socket } from "node:net";
import {
  type Mode6Probe,
  type NtpSample,
  NtpTimeoutError,
  Pacer,
  probeMode6,
  type QueryOptions,
  queryNtp,
} from "../ntp/client";
import { judgeCheck, POOL_RULES } from "../ntp/poolRules";
import type { AddressResult, OutsideResult } from "./summary";

/** Limits of the outside check; every default of it lives here. */
export const OUTSIDE_DEFAULTS = {
  /** Good samples wanted per address: the pool monitor's. */
  samples: POOL_RULES.samples,
  /** Extra queries allowed for lost or not-yet-synchronised answers. */
  retries: 3,
  /** Milliseconds to wait for one reply: the pool monitor's. */
  timeoutMs: POOL_RULES.timeoutMs,
  /** Minimum milliseconds between two packets to the same address: the monitor's headway. */
  gapMs: POOL_RULES.sampleGapMs,
  /** Mode-6 probes; two, so one lost reply cannot make a reflector look safe. */
  mode6Probes: 2,
  /** Seconds to wait for a first synchronised answer; 0 = the member must already serve. */
  waitSeconds: 0,
  /** Milliseconds a TCP connect to the SSH port may take before it counts as filtered. */
  sshConnectTimeoutMs: 5000,
  port: 123,
} as const;

/** The limits with numbers widened (OUTSIDE_DEFAULTS has literal types). */
type Limits = { readonly [K in keyof typeof OUTSIDE_DEFAULTS]: number };

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
  /** Seconds to wait for the first synchronised answer (the droplet may be booting). */
  readonly waitSeconds?: number;
  /**
   * The SSH port {@link waitForReach} probes; `sources` are the firewall's SSH sources
   * (`sshSourceCidrs`), named in the message when the port is filtered.
   */
  readonly ssh?: { readonly port: number; readonly sources: readonly string[] };
  /** Fail instead of skipping the IPv6 address when this machine has no IPv6 route. */
  readonly requireIpv6?: boolean;
}

/** What {@link waitForReach} found. */
export interface ReachResult {
  readonly check: "reach";
  readonly address: string;
  /** The first answer's verdict ("ok", "unsynchronised": ntpd runs, not synced yet). */
  readonly ntp: string;
  /** "open", or "not probed" without ssh. */
  readonly ssh: string;
  /** Seconds until both held. */
  readonly seconds: number;
}

/** Outcome of one TCP connect attempt. */
export type TcpProbe = "open" | "refused" | "timeout";

/** I/O the check needs; tests may replace it. */
export interface OutsideDeps {
  readonly query: (o: QueryOptions) => Promise<NtpSample>;
  readonly probe: (o: QueryOptions) => Promise<Mode6Probe>;
  readonly resolve: (host: string) => Promise<string[]>;
  /** TCP connect to address:port within timeoutMs. */
  readonly tcp: (address: string, port: number, timeoutMs: number) => Promise<TcpProbe>;
  /** Whether this machine has a route to an IPv6 address. */
  readonly routes6: (address: string) => Promise<boolean>;
  readonly pacer: Pacer;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: (line: string) => void;
}

function defaultDeps(gapMs: number = OUTSIDE_DEFAULTS.gapMs): OutsideDeps {
  return {
    query: queryNtp,
    probe: probeMode6,
    resolve: async (host) =>
      isIP(host) ? [host] : (await dnsLookup(host, { all: true })).map((a) => a.address),
    tcp: tcpProbe,
    routes6: hasRouteTo6,
    pacer: new Pacer(gapMs),
    now: () => performance.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    log: (line) => process.stderr.write(`outside check: ${line}\n`),
  };
}

/** One TCP connect: "refused" is an RST (nothing listens), "timeout" a silent drop. */
function tcpProbe(address: string, port: number, timeoutMs: number): Promise<TcpProbe> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (r: TcpProbe) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done("timeout"));
    sock.once("connect", () => done("open"));
    sock.once("error", (e: NodeJS.ErrnoException) =>
      done(e.code === "ECONNREFUSED" ? "refused" : "timeout"),
    );
    sock.connect(port, address);
  });
}

/**
 * connect(2) on a UDP socket sends nothing; it fails with ENETUNREACH when the kernel has
 * no route to the address — the cheapest honest test of "this machine has IPv6".
 */
function hasRouteTo6(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket("udp6");
    const done = (r: boolean) => {
      sock.close();
      resolve(r);
    };
    sock.once("error", () => done(false));
    sock.connect(OUTSIDE_DEFAULTS.port, address, () => done(true));
  });
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
  const ctx: Ctx = { opts, deps, warnings, reference: undefined };
  let ipv6Skipped: string | undefined;
  let v6: string | undefined = opts.ipv6;
  if (v6 !== undefined && !(await deps.routes6(v6))) {
    if (opts.requireIpv6) {
      throw new CheckFailure(
        `${v6}: this machine has no IPv6 route, and the IPv6 outside check is required (requireIpv6OutsideCheck): run pulumi up from a machine with IPv6, or set requireIpv6OutsideCheck to false`,
      );
    }
    ipv6Skipped = `this machine has no IPv6 route: ${v6} was not checked from outside (the on-droplet check still proves it is configured; set requireIpv6OutsideCheck to make this an error)`;
    warnings.push(`IPv6 outside check skipped: ${ipv6Skipped}`);
    v6 = undefined;
  }
  const [ipv4, ipv6] = await Promise.all([
    checkAddress(opts.ipv4, ctx),
    v6 !== undefined ? checkAddress(v6, ctx) : Promise.resolve(undefined),
  ]);
  return {
    check: "outside",
    ipv4,
    ...(ipv6 ? { ipv6 } : {}),
    ...(ipv6Skipped !== undefined ? { ipv6Skipped } : {}),
    warnings,
  };
}

interface Ctx {
  readonly opts: OutsideOptions;
  readonly deps: OutsideDeps;
  readonly warnings: string[];
  /** undefined = not chosen yet; resolves to null when no upstream answered. */
  reference: Promise<Reference | null> | undefined;
  /** The reference query in flight, which every address sampling at that moment shares. */
  referenceSample?: Promise<NtpSample | undefined>;
  /** The reference's last answer: samples taken within FRESH_MS of it pair with it. */
  referenceLast?: { readonly sample: NtpSample; readonly at: number };
}

/**
 * How old a reference answer may be to pair with a member sample: the deployer's clock,
 * which cancels out of the pair, drifts at most ~0.25 ms in that time even at 500 ppm.
 */
const FRESH_MS = 500;

/**
 * One reference query per pacing slot, shared by the IPv4 and IPv6 samples taken at that
 * moment: the reference is usually a public server, which sees no more from this check than
 * one packet per 2 s (the same courtesy as the member gets), whatever the number of
 * addresses.
 */
function referenceSample(ctx: Ctx, ref: Reference): Promise<NtpSample | undefined> {
  const last = ctx.referenceLast;
  if (last !== undefined && ctx.deps.now() - last.at < FRESH_MS)
    return Promise.resolve(last.sample);
  if (ctx.referenceSample === undefined) {
    const p = ask(ctx, ref.address)
      .catch(() => undefined)
      .then((s) => {
        if (s?.verdict === "ok") ctx.referenceLast = { sample: s, at: ctx.deps.now() };
        return s;
      });
    ctx.referenceSample = p;
    void p.finally(() => {
      if (ctx.referenceSample === p) ctx.referenceSample = undefined;
    });
  }
  return ctx.referenceSample;
}

async function ask(ctx: Ctx, address: string): Promise<NtpSample | undefined> {
  await ctx.deps.pacer.wait(address);
  return queryNow(ctx, address);
}

/** One query at once (the caller has booked its slot with the pacer). */
async function queryNow(ctx: Ctx, address: string): Promise<NtpSample | undefined> {
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

/**
 * The reference: every upstream address is asked once, at the same moment, and the one
 * nearest the median of those that answer synchronised is chosen — so a falseticker among
 * them (an upstream seconds off, RFC 5905 §11.2.1) can neither be the reference nor fail a
 * member that rightly ignores it. Offsets here are all relative to this machine's clock, so
 * their differences do not depend on it. Those farther from the median than the offset the
 * pool still keeps (POOL_RULES.inPoolMs) are named in a warning. Resolves null when none answers.
 */
async function chooseReference(ctx: Ctx): Promise<Reference | null> {
  const far = POOL_RULES.inPoolMs;
  const candidates = (
    await Promise.all(
      ctx.opts.upstreams.map(async (host) => {
        try {
          return (await ctx.deps.resolve(host)).map((address) => ({ host, address }));
        } catch (e) {
          ctx.deps.log(`upstream ${host}: lookup failed (${String(e)})`);
          return [];
        }
      }),
    )
  ).flat();
  const askAll = () =>
    Promise.all(
      candidates.map(async (c) => {
        const s = await ask(ctx, c.address).catch((e: unknown) => {
          ctx.deps.log(`upstream ${c.host} (${c.address}): ${String(e)}`);
          return undefined;
        });
        if (s?.verdict !== "ok") {
          ctx.deps.log(
            `upstream ${c.host} (${c.address}): ${s ? `not usable (${s.verdict}, stratum ${s.header.stratum})` : "no answer"}`,
          );
          return undefined;
        }
        return { ...c, sample: s };
      }),
    );
  // One lost packet must not make a lonely reference vanish (1 % loss is a normal path):
  // a second round when nothing answered the first.
  let answers = await askAll();
  if (answers.every((a) => a === undefined) && candidates.length > 0) answers = await askAll();
  const ok = answers.filter((a) => a !== undefined);
  if (ok.length === 0) {
    ctx.warnings.push(
      "no upstream answered from this machine: offsets are judged against the local clock",
    );
    return null;
  }
  const sorted = ok.map((a) => a.sample.offsetMs).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  const distance = (a: (typeof ok)[number]) => Math.abs(a.sample.offsetMs - median);
  const best = ok.reduce((a, b) => (distance(b) < distance(a) ? b : a));
  if (ok.length >= 3) {
    for (const a of ok) {
      if (distance(a) > far) {
        ctx.warnings.push(
          `upstream ${a.host} (${a.address}) is ${(a.sample.offsetMs - median).toFixed(1)} ms from the median of the ${ok.length} upstreams that answered: a falseticker (not used as the reference)`,
        );
      }
    }
  } else if (ok.length === 2 && Math.abs(sorted[1] - sorted[0]) > far) {
    ctx.warnings.push(
      `only 2 upstreams answered from this machine and they disagree by ${(sorted[1] - sorted[0]).toFixed(1)} ms: the reference ${best.host} may be the wrong one`,
    );
  }
  ctx.referenceLast = { sample: best.sample, at: ctx.deps.now() };
  return { host: best.host, address: best.address };
}

/** Throws at once on a kiss-o'-death that no waiting will cure (RATE, DENY, RSTR). */
function refuseKod(address: string, s: NtpSample): void {
  if (s.verdict === "rate-limited" || s.verdict === "denied") {
    throw new CheckFailure(`${address} ${judgeCheck([s]).reason}`);
  }
}

/**
 * Step 0: polls until `address` answers synchronised (the first sample of step 1 follows
 * 2 s later). No-op when waitSeconds is 0.
 */
async function waitUntilSynchronised(address: string, ctx: Ctx): Promise<void> {
  const o: Limits = { ...OUTSIDE_DEFAULTS, ...definedOnly(ctx.opts) };
  const { deps } = ctx;
  const deadline = deps.now() + o.waitSeconds * 1000;
  let last: NtpSample | undefined;
  let queries = 0;
  while (deps.now() < deadline) {
    const s = await ask(ctx, address);
    queries++;
    if (s === undefined) continue;
    refuseKod(address, s);
    last = s;
    if (s.verdict === "ok") {
      deps.log(`${address}: serving time after ${queries} queries`);
      return;
    }
  }
  if (last === undefined) {
    throw new CheckFailure(
      `no NTP answer from ${address} within ${o.waitSeconds} s (${queries} queries) — is inbound UDP 123 allowed, did the droplet boot, and is ntpd answering from the address it was asked on?`,
    );
  }
  const h = last.header;
  throw new CheckFailure(
    `${address} answers but did not synchronise within ${o.waitSeconds} s (leap=${h.leap}, stratum=${h.stratum}, refid=${h.refid})`,
  );
}

/**
 * The gate before the SSH check (Verification's `-reach` command): waits until the IPv4
 * address accepts a TCP connection on the SSH port. A port that times out (no answer, not
 * even a refusal) while NTP answers — the droplet is up — is filtered by the cloud
 * firewall, which admits SSH only from `sshSourceCidrs`: that fails at once, naming them,
 * instead of letting the SSH check dial for `verifyTimeoutSeconds`.
 */
export async function waitForReach(
  opts: OutsideOptions,
  deps: OutsideDeps = defaultDeps(opts.gapMs),
): Promise<ReachResult> {
  if (isIP(opts.ipv4) !== 4)
    throw new CheckFailure(`--ipv4: ${JSON.stringify(opts.ipv4)} is not an IPv4 address`);
  const o: Limits = { ...OUTSIDE_DEFAULTS, ...definedOnly(opts) };
  const ssh = opts.ssh ?? { port: 22, sources: [] };
  const ctx: Ctx = { opts, deps, warnings: [], reference: undefined };
  const t0 = deps.now();
  const deadline = t0 + o.waitSeconds * 1000;
  let ntp: NtpSample | undefined;
  let sshState: TcpProbe = "timeout";
  let queries = 0;
  while (true) {
    if (ntp === undefined) {
      ntp = await ask(ctx, opts.ipv4);
      queries++;
    }
    sshState = await deps.tcp(opts.ipv4, ssh.port, o.sshConnectTimeoutMs);
    if (sshState === "open") {
      return {
        check: "reach",
        address: opts.ipv4,
        ntp: ntp?.verdict ?? "no answer yet",
        ssh: "open",
        seconds: round3((deps.now() - t0) / 1000),
      };
    }
    // The droplet is up (ntpd answers), yet SSH gets no answer at all, not even a refusal:
    // something between drops it, and the cloud firewall admits SSH only from its sources.
    if (sshState === "timeout" && ntp !== undefined) {
      throw new CheckFailure(
        `SSH to ${opts.ipv4} port ${ssh.port} is filtered from this machine while NTP answers: the cloud firewall admits SSH only from sshSourceCidrs (${ssh.sources.join(", ")}), and this machine's public address is not in it — add it (e.g. "$(curl -4s https://ifconfig.me)/32") and run pulumi up again`,
      );
    }
    if (deps.now() >= deadline) break;
    // Without an NTP answer, ask() paces the loop; after one, wait the same gap.
    if (ntp !== undefined) await deps.sleep(o.gapMs);
  }
  if (sshState === "refused") {
    throw new CheckFailure(
      `nothing accepts SSH on ${opts.ipv4} port ${ssh.port} (connection refused for ${o.waitSeconds} s): sshd is not running on the droplet`,
    );
  }
  throw new CheckFailure(
    `neither NTP nor SSH answers from ${opts.ipv4} within ${o.waitSeconds} s (${queries} NTP queries, SSH timing out): did the droplet boot, and does the cloud firewall admit this machine?`,
  );
}

async function checkAddress(address: string, ctx: Ctx): Promise<AddressResult> {
  const o: Limits = { ...OUTSIDE_DEFAULTS, ...definedOnly(ctx.opts) };
  if (o.waitSeconds > 0) await waitUntilSynchronised(address, ctx);
  ctx.reference ??= chooseReference(ctx);
  const ref = await ctx.reference;

  // Mode-6 probes go beside the samples, paced on their own key so they keep the 2 s gap
  // between themselves without delaying the samples.
  const mode6 = probeMode6Twice(address, ctx, o);
  // Judged after the samples; until then a refusal must not count as unhandled.
  mode6.catch(() => undefined);

  const good: { member: NtpSample; offsetMs: number; relative: boolean }[] = [];
  let last: NtpSample | undefined;
  let answered = 0;
  for (let attempt = 0; attempt < o.samples + o.retries && good.length < o.samples; attempt++) {
    // The member's slot first; the reference is asked at that same moment.
    await ctx.deps.pacer.wait(address);
    const [member, r] = await Promise.all([
      queryNow(ctx, address),
      ref ? referenceSample(ctx, ref) : Promise.resolve(undefined),
    ]);
    if (!member) {
      ctx.deps.log(`${address}: no answer (attempt ${attempt + 1})`);
      continue;
    }
    answered++;
    last = member;
    refuseKod(address, member);
    if (member.verdict !== "ok") continue;
    if (ref && r?.verdict === "ok") {
      good.push({ member, offsetMs: member.offsetMs - r.offsetMs, relative: true });
    } else {
      if (ref)
        ctx.deps.log(`reference ${ref.host}: ${r ? r.verdict : "no answer"} for this sample`);
      good.push({ member, offsetMs: member.offsetMs, relative: false });
    }
  }
  const mode6Refused = await mode6;

  if (good.length === 0) {
    if (answered === 0) {
      throw new CheckFailure(
        `no NTP answer from ${address} to ${o.samples + o.retries} queries (${o.timeoutMs} ms timeout each) — is inbound UDP 123 allowed, is the reserved IP assigned, and is ntpd answering from the address it was asked on?`,
      );
    }
    // Every answer was unsynchronised (or an unknown kiss): the judge says which.
    throw new CheckFailure(`${address} ${judgeCheck([last]).reason}`);
  }
  if (good.length < o.samples)
    ctx.warnings.push(`${address}: only ${good.length} of ${o.samples} samples usable`);
  // Judged against the reference whenever it answered at the same moment; against the
  // local clock only when it never did.
  const paired = good.filter((g) => g.relative);
  const judged = paired.length > 0 ? paired : good;
  if (ref && paired.length === 0) {
    ctx.warnings.push(
      `${address}: the reference upstream ${ref.host} (${ref.address}) did not answer during the samples: offsets are judged against the local clock`,
    );
  }
  const relativeTo =
    ref && paired.length > 0 ? `upstream ${ref.host} (${ref.address})` : "local clock";
  const j = judgeCheck(
    judged.map((g) => ({ ...g.member, offsetMs: g.offsetMs })),
    relativeTo,
  );
  if (j.verdict === "fail" || j.best === undefined)
    throw new CheckFailure(`${address} ${j.reason}`);
  if (j.verdict === "warn") ctx.warnings.push(`${address} ${j.reason}`);
  const best = j.best;
  const h = best.header;
  const offsetText = `${best.offsetMs.toFixed(3)} ms relative to ${relativeTo}`;
  ctx.deps.log(`${address}: stratum ${h.stratum}, offset ${offsetText}, mode 6 refused`);
  return {
    address,
    stratum: h.stratum,
    leap: h.leap,
    refid: h.refid,
    offsetMs: round3(best.offsetMs),
    delayMs: round3(best.delayMs),
    relativeTo,
    mode6Refused,
    samples: good.length,
  };
}

/** Resolves true when every mode-6 probe went unanswered; throws on an answer. */
async function probeMode6Twice(address: string, ctx: Ctx, o: Limits): Promise<true> {
  for (let i = 0; i < o.mode6Probes; i++) {
    await ctx.deps.pacer.wait(`mode6:${address}`);
    const p = await ctx.deps.probe({
      address,
      port: o.port,
      timeoutMs: Math.min(o.timeoutMs, 2000),
    });
    if (p.answered) {
      throw new CheckFailure(
        `${address} answers NTP control (mode 6, ntpq) queries from outside: ${p.replyBytes} bytes back for a 12-byte request — a reflection amplifier; add 'noquery' to 'restrict default' in ntp.conf`,
      );
    }
  }
  return true;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function definedOnly(o: OutsideOptions): Partial<Limits> {
  const out: Record<string, number> = {};
  for (const k of ["samples", "retries", "timeoutMs", "gapMs", "port", "waitSeconds"] as const) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
