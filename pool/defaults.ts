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
  /** Terminal chart size in character cells. */
  chartWidth: 60,
  chartHeight: 10,
} as const;

/** The pool's management site: registration is web-only (DESIGN.md "Pool rules"). */
export const MANAGE_URL = "https://manage.ntppool.org/manage/servers";
