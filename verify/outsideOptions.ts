/**
 * What the outside check (verify/outsideCheck.ts) is given: its limits and their defaults,
 * its options, the I/O it needs (replaceable by tests), and the error its failures throw.
 * Declarations only: no I/O.
 */
import type { Mode6Probe, NtpSample, Pacer, QueryOptions } from "../ntp/client";
import { POOL_RULES } from "../ntp/poolRules";

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
export type Limits = { readonly [K in keyof typeof OUTSIDE_DEFAULTS]: number };

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
   * The SSH port waitForReach (verify/outsideReach.ts) probes; `sources` are the firewall's
   * SSH sources (`sshSourceCidrs`), named in the message when the port is filtered.
   */
  readonly ssh?: { readonly port: number; readonly sources: readonly string[] };
  /** Fail instead of skipping the IPv6 address when this machine has no IPv6 route. */
  readonly requireIpv6?: boolean;
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

export function definedOnly(o: OutsideOptions): Partial<Limits> {
  const out: Record<string, number> = {};
  for (const k of ["samples", "retries", "timeoutMs", "gapMs", "port", "waitSeconds"] as const) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
