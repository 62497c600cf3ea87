/**
 * The network side of the outside check (verify/outsideCheck.ts): the real I/O behind
 * {@link OutsideDeps} (NTP over UDP, DNS, TCP connect, the IPv6 route test), and the paced
 * queries built on it — one query, the reference query shared by the addresses, choosing the
 * reference, waiting for a first synchronised answer (step 0) and the mode-6 probes (step 3).
 */
import * as dgram from "node:dgram";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP, Socket } from "node:net";
import { type NtpSample, NtpTimeoutError, Pacer, probeMode6, queryNtp } from "../ntp/client";
import { pickReference, type Reference, refuseKod } from "./outsideJudge";
import {
  CheckFailure,
  definedOnly,
  type Limits,
  OUTSIDE_DEFAULTS,
  type OutsideDeps,
  type OutsideOptions,
  type TcpProbe,
} from "./outsideOptions";

export function defaultDeps(gapMs: number = OUTSIDE_DEFAULTS.gapMs): OutsideDeps {
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

export interface Ctx {
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
export function referenceSample(ctx: Ctx, ref: Reference): Promise<NtpSample | undefined> {
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

export async function ask(ctx: Ctx, address: string): Promise<NtpSample | undefined> {
  await ctx.deps.pacer.wait(address);
  return queryNow(ctx, address);
}

/** One query at once (the caller has booked its slot with the pacer). */
export async function queryNow(ctx: Ctx, address: string): Promise<NtpSample | undefined> {
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
 * The reference: every upstream address is asked once, at the same moment, and
 * {@link pickReference} chooses among those that answer synchronised (the one nearest their
 * median; falsetickers named in a warning). Resolves null when none answers.
 */
export async function chooseReference(ctx: Ctx): Promise<Reference | null> {
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
  const best = pickReference(ok, ctx.warnings);
  ctx.referenceLast = { sample: best.sample, at: ctx.deps.now() };
  return { host: best.host, address: best.address };
}

/**
 * Step 0: polls until `address` answers synchronised (the first sample of step 1 follows
 * 2 s later). No-op when waitSeconds is 0.
 */
export async function waitUntilSynchronised(address: string, ctx: Ctx): Promise<void> {
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

/** Resolves true when every mode-6 probe went unanswered; throws on an answer. */
export async function probeMode6Twice(address: string, ctx: Ctx, o: Limits): Promise<true> {
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
