/**
 * Part 1a: daemon start → synchronised (leap ≠ 11, stratum 2, a system peer) against 4
 * stratum-1 upstreams: NTPsec with OUR ntp.conf, chrony with the equivalent config, and
 * (reference) NTPsec with our config minus `tos minclock 4 minsane 3`, i.e. NTPsec's
 * defaults, to show what that line costs. Runs are interleaved (a, b, c, a, b, c, …) so
 * slow drifts of the machine's load hit every variant alike.
 */
import type { BenchNet, Daemon } from "./daemons";
import { timeToSync } from "./daemons";
import type { SyncResults, SyncRun, SyncVariant } from "./results";
import { summarize } from "./stats";

/** Bound for one daemon's first sync (docs/lab-mechanisms.md#time-to-sync: ~7.3 s NTPsec, ~5.0 s chrony). */
const SYNC_LIMIT_MS = 60_000;

/** Our ntp.conf without its `tos` line (NTPsec's defaults: minclock 3, minsane 1). */
export function withoutTos(conf: string): string {
  const out = conf.replace(/^tos .*\n/m, "");
  if (out === conf)
    throw new Error("ntp.conf: no `tos` line to remove (cloud-init/ntpConf.ts changed?)");
  return out;
}

export async function measureSync(
  bn: BenchNet,
  runs: number,
  variants: readonly SyncVariant[],
  log: (m: string) => void,
): Promise<SyncResults> {
  const out: SyncRun[] = [];
  for (let i = 1; i <= runs; i++) {
    for (const variant of variants) {
      const tag = `sync-${variant}-${i}`;
      const t0 = Date.now();
      const d: Daemon =
        variant === "chrony"
          ? bn.startChrony({ tag })
          : bn.startNtpsec({
              tag,
              ...(variant === "ntpsec-default-tos" ? { editConf: withoutTos } : {}),
            });
      try {
        const r = await timeToSync(d, t0, SYNC_LIMIT_MS);
        out.push({ variant, ...r });
        log(
          `sync ${variant} run ${i}/${runs}: ${r.seconds.toFixed(2)} s (poll ${r.pollSeconds.toFixed(2)} s)`,
        );
      } finally {
        await d.stop();
      }
    }
  }
  const summary: Partial<Record<SyncVariant, ReturnType<typeof summarize>>> = {};
  for (const v of variants)
    summary[v] = summarize(out.filter((r) => r.variant === v).map((r) => r.seconds));
  return { runs: out, summary };
}
