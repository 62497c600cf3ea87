import { POOL_RULES } from "../ntp/poolRules";

/**
 * Every default of the pool CLI (`npm run pool -- ...`), in one place. Stack defaults live
 * in components/defaults.ts; these only shape how this machine talks to members and the pool.
 * The pool's own numbers (samples, timeout, threshold, stratum range) are ntp/poolRules.ts's.
 */
export const POOL_DEFAULTS = {
  /**
   * Milliseconds between two queries to the same address: the monitor's own headway.
   * NTPsec's `limited` (average 1 s, 20-packet burst) KoDs a 1/s poller after ~75 s
   * (test/real/verify-outside.test.ts floods it); every 2 s never builds up.
   */
  probeIntervalMs: POOL_RULES.sampleGapMs,
  /** Queries per address before giving up; a lost UDP packet is not a dead server. */
  probeAttempts: 3,
  /** Milliseconds to wait for one reply: the pool monitors' own timeout. */
  probeTimeoutMs: POOL_RULES.timeoutMs,
  /** The public score API; `/scores/<ip>/json` answers 301 to `/api/data/server/...`. */
  apiBase: "https://www.ntppool.org",
  /** History entries per request (the API's `limit`); ~1 day of checks from a few monitors. */
  historyLimit: 200,
  /** A member is in the pool at score >= 10. */
  threshold: POOL_RULES.threshold,
  /**
   * Seconds between polls in `status --watch`, and the floor for `--interval`: the API
   * caches for ~2 minutes, so polling faster only re-reads the same answer.
   */
  watchIntervalSeconds: 120,
  /** Milliseconds before an HTTP request to the score API is abandoned. */
  httpTimeoutMs: 15_000,
  /** Samples per `monitor` check: the pool monitor's. */
  monitorSamples: POOL_RULES.samples,
  /** Milliseconds between the samples of one check: the pool monitor's headway. */
  monitorSampleGapMs: POOL_RULES.sampleGapMs,
  /**
   * Seconds between two `monitor` checks of one address: an active pool monitor's pace
   * (ntppool/monitor server/functions.go GetServers: `IntervalActive` defaults to 9 minutes).
   */
  monitorIntervalSeconds: 540,
  /**
   * Checks `monitor` runs: the fewest in which a perfect server climbs from 0 to the
   * threshold (20 × (1 − 0.95^14) = 10.25).
   */
  monitorChecks: 14,
  /** Score a `monitor` run starts from: a new server's score in the pool. */
  monitorStartScore: POOL_RULES.startScore,
  /** Terminal chart size in character cells. */
  chartWidth: 60,
  chartHeight: 10,
} as const;

/** The pool's management site: registration is web-only (ntppool.org/join: no API). */
export const MANAGE_URL = "https://manage.ntppool.org/manage/servers";
