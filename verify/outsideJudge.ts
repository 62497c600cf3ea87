/**
 * The outside check's judgements (verify/outsideCheck.ts), apart from the queries that feed
 * them: which upstream is the reference and which are falsetickers, what a kiss-o'-death
 * means, and one address's samples judged into its result (AddressResult of
 * verify/summary.ts). No I/O: warnings and progress lines go where the caller says.
 */
import type { NtpSample } from "../ntp/client";
import { judgeCheck, POOL_RULES } from "../ntp/poolRules";
import { CheckFailure, type Limits } from "./outsideOptions";
import type { AddressResult } from "./summary";

/** The upstream address the member's offsets are judged against. */
export interface Reference {
  readonly host: string;
  readonly address: string;
}

/** An upstream address that answered synchronised. */
export interface UpstreamAnswer extends Reference {
  readonly sample: NtpSample;
}

/**
 * The one nearest the median of the upstreams that answered synchronised (at least one) —
 * so a falseticker among them (an upstream seconds off, RFC 5905 §11.2.1) can neither be the
 * reference nor fail a member that rightly ignores it. Offsets here are all relative to this
 * machine's clock, so their differences do not depend on it. Those farther from the median
 * than the offset the pool still keeps (POOL_RULES.inPoolMs) are named in a warning.
 */
export function pickReference(ok: readonly UpstreamAnswer[], warnings: string[]): UpstreamAnswer {
  const far = POOL_RULES.inPoolMs;
  const sorted = ok.map((a) => a.sample.offsetMs).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  const distance = (a: UpstreamAnswer) => Math.abs(a.sample.offsetMs - median);
  const best = ok.reduce((a, b) => (distance(b) < distance(a) ? b : a));
  if (ok.length >= 3) {
    for (const a of ok) {
      if (distance(a) > far) {
        warnings.push(
          `upstream ${a.host} (${a.address}) is ${(a.sample.offsetMs - median).toFixed(1)} ms from the median of the ${ok.length} upstreams that answered: a falseticker (not used as the reference)`,
        );
      }
    }
  } else if (ok.length === 2 && Math.abs(sorted[1] - sorted[0]) > far) {
    warnings.push(
      `only 2 upstreams answered from this machine and they disagree by ${(sorted[1] - sorted[0]).toFixed(1)} ms: the reference ${best.host} may be the wrong one`,
    );
  }
  return best;
}

/** Throws at once on a kiss-o'-death that no waiting will cure (RATE, DENY, RSTR). */
export function refuseKod(address: string, s: NtpSample): void {
  if (s.verdict === "rate-limited" || s.verdict === "denied") {
    throw new CheckFailure(`${address} ${judgeCheck([s]).reason}`);
  }
}

/** A synchronised answer of the member; `offsetMs` is relative to the reference if `relative`. */
export interface GoodSample {
  readonly member: NtpSample;
  readonly offsetMs: number;
  readonly relative: boolean;
}

/** What sampling one address gathered. */
export interface Sampled {
  readonly address: string;
  readonly good: readonly GoodSample[];
  /** Queries that got an answer, synchronised or not. */
  readonly answered: number;
  /** The last answer received. */
  readonly last: NtpSample | undefined;
  readonly mode6Refused: boolean;
}

/**
 * Step 2 of the outside check, the verdict on one address: throws {@link CheckFailure} when
 * it fails, pushes its warnings, and returns its result.
 */
export function judgeAddress(
  s: Sampled,
  ref: Reference | null,
  o: Limits,
  warnings: string[],
  log: (line: string) => void,
): AddressResult {
  const { address, good } = s;
  if (good.length === 0) {
    if (s.answered === 0) {
      throw new CheckFailure(
        `no NTP answer from ${address} to ${o.samples + o.retries} queries (${o.timeoutMs} ms timeout each) — is inbound UDP 123 allowed, is the reserved IP assigned, and is ntpd answering from the address it was asked on?`,
      );
    }
    // Every answer was unsynchronised (or an unknown kiss): the judge says which.
    throw new CheckFailure(`${address} ${judgeCheck([s.last]).reason}`);
  }
  if (good.length < o.samples)
    warnings.push(`${address}: only ${good.length} of ${o.samples} samples usable`);
  // Judged against the reference whenever it answered at the same moment; against the
  // local clock only when it never did.
  const paired = good.filter((g) => g.relative);
  const judged = paired.length > 0 ? paired : good;
  if (ref && paired.length === 0) {
    warnings.push(
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
  if (j.verdict === "warn") warnings.push(`${address} ${j.reason}`);
  const best = j.best;
  const h = best.header;
  const offsetText = `${best.offsetMs.toFixed(3)} ms relative to ${relativeTo}`;
  log(`${address}: stratum ${h.stratum}, offset ${offsetText}, mode 6 refused`);
  return {
    address,
    stratum: h.stratum,
    leap: h.leap,
    refid: h.refid,
    offsetMs: round3(best.offsetMs),
    delayMs: round3(best.delayMs),
    relativeTo,
    mode6Refused: s.mode6Refused,
    samples: good.length,
  };
}

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
