import type { UpstreamKind } from "./upstreams";

/** Deliberate faults, for tests; each is announced in the output and the report. */
export interface Faults {
  /** Remove every outbound UDP rule that opens port 123 from Firewall inputs before realising them. */
  readonly dropOutboundNtp?: boolean;
  /** Keep this many upstreams down (their names resolve, nothing answers). */
  readonly upstreamsDown?: number;
  /** Upstream k+1 behaves as `upstreamKinds[k]` (lab/upstreams.ts: falseticker, leap, ...). */
  readonly upstreamKinds?: readonly UpstreamKind[];
}
