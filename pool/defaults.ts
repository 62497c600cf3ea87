/**
 * Every default of the pool CLI (`npm run pool -- ...`), in one place. Stack defaults live
 * in components/defaults.ts; these only shape how this machine talks to members and the pool.
 */
export const POOL_DEFAULTS = {
  /**
   * Milliseconds between two queries to the same address. NTPsec's `limited` (average 1 s,
   * 20-packet burst) KoDs a 1/s poller after ~75 s (LAB-NOTES §7); every 2 s never builds up.
   */
  probeIntervalMs: 2000,
  /** Queries per address before giving up; a lost UDP packet is not a dead server. */
  probeAttempts: 3,
  /** Milliseconds to wait for one reply: the pool monitors' own timeout (DESIGN.md). */
  probeTimeoutMs: 3000,
  /** Stratum range the pool's add form accepts (DESIGN.md "Pool rules"). */
  minStratum: 1,
  maxStratum: 5,
  /** The public score API; `/scores/<ip>/json` answers 301 to `/api/data/server/...`. */
  apiBase: "https://www.ntppool.org",
  /** History entries per request (the API's `limit`); ~1 day of checks from a few monitors. */
  historyLimit: 200,
  /** A member is in the pool at score >= 10 (DESIGN.md "Scoring"). */
  threshold: 10,
  /**
   * Seconds between polls in `status --watch`, and the floor for `--interval`: the API
   * caches for ~2 minutes, so polling faster only re-reads the same answer.
   */
  watchIntervalSeconds: 120,
  /** Milliseconds before an HTTP request to the score API is abandoned. */
  httpTimeoutMs: 15_000,
  /** Samples per `monitor` check: the pool monitor's default (ntppool/monitor client/monitor/monitor.go CheckHost, `cfg.Samples = 3`). */
  monitorSamples: 3,
  /** Milliseconds between the samples of one check (same file: "minimum headway time is 2 seconds"). */
  monitorSampleGapMs: 2000,
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
  monitorStartScore: 0,
  /** Terminal chart size in character cells. */
  chartWidth: 60,
  chartHeight: 10,
} as const;

/** The pool's management site: registration is web-only (DESIGN.md "Pool rules"). */
export const MANAGE_URL = "https://manage.ntppool.org/manage/servers";
