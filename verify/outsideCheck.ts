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
 *
 * This file runs the check (both addresses, each address's samples); its parts are in
 * verify/outsideOptions.ts (limits, options, I/O interface), verify/outsideQueries.ts (the
 * queries: steps 0, 1's reference and 3), verify/outsideJudge.ts (the reference's choice and
 * step 2, no I/O) and verify/outsideReach.ts (the reach gate before the SSH check).
 */
import { isIP } from "node:net";
import type { NtpSample } from "../ntp/client";
import { type GoodSample, judgeAddress, refuseKod } from "./outsideJudge";
import {
  CheckFailure,
  definedOnly,
  type Limits,
  OUTSIDE_DEFAULTS,
  type OutsideDeps,
  type OutsideOptions,
} from "./outsideOptions";
import {
  type Ctx,
  chooseReference,
  defaultDeps,
  probeMode6Twice,
  queryNow,
  referenceSample,
  waitUntilSynchronised,
} from "./outsideQueries";
import type { AddressResult, OutsideResult } from "./summary";

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

  const good: GoodSample[] = [];
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

  return judgeAddress(
    { address, good, answered, last, mode6Refused },
    ref,
    o,
    ctx.warnings,
    ctx.deps.log,
  );
}
