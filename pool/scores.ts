/**
 * The pool's public score history (docs/decisions.md#score-history): fetch, validate, summarise.
 * `GET <base>/scores/<ip>/json?limit=N&monitor=*` answers 301 to
 * `/api/data/server/scores/<ip>/json`; fetch follows it.
 */
import net from "node:net";
import { z } from "zod";
import { POOL_DEFAULTS } from "./defaults";

const historySchema = z.object({
  ts: z.number(),
  /** Seconds; null when the monitor got no answer. */
  offset: z.number().nullable().optional(),
  step: z.number(),
  score: z.number(),
  monitor_id: z.number().nullable(),
  /** Milliseconds. */
  rtt: z.number().nullable().optional(),
});

const monitorSchema = z.object({
  id: z.number(),
  name: z.string(),
  type: z.string(),
  ts: z.string().nullable().optional(),
  score: z.number(),
  status: z.string(),
  avg_rtt: z.number().nullable().optional(),
});

const scoresSchema = z.object({
  history: z.array(historySchema),
  monitors: z.array(monitorSchema),
  server: z.object({ ip: z.string() }),
});

type ScoreHistoryEntry = z.infer<typeof historySchema>;
export type ScoreResponse = z.infer<typeof scoresSchema>;

/** Why a fetch failed: each kind gets its own message and exit path in the CLI. */
export type ScoreErrorKind = "unknown-ip" | "http" | "timeout" | "network" | "shape";

export class ScoreFetchError extends Error {
  constructor(
    readonly kind: ScoreErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "ScoreFetchError";
  }
}

/** The documented entry URL (the 301 source), so operators see the URL they know. */
export function scoresUrl(apiBase: string, ip: string, limit: number): string {
  const base = apiBase.replace(/\/+$/, "");
  return `${base}/scores/${encodeURIComponent(ip)}/json?limit=${limit}&monitor=*`;
}

export function parseScores(raw: unknown, ip: string): ScoreResponse {
  const result = scoresSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ScoreFetchError(
      "shape",
      `${ip}: score API answer has an unexpected shape (${problems.join("; ")})`,
    );
  }
  return result.data;
}

export interface FetchScoresOptions {
  apiBase?: string;
  limit?: number;
  timeoutMs?: number;
}

export async function fetchScores(
  ip: string,
  options: FetchScoresOptions = {},
): Promise<ScoreResponse> {
  if (net.isIP(ip) === 0) {
    throw new ScoreFetchError("unknown-ip", `"${ip}" is not an IP address`);
  }
  const timeoutMs = options.timeoutMs ?? POOL_DEFAULTS.httpTimeoutMs;
  const url = scoresUrl(
    options.apiBase ?? POOL_DEFAULTS.apiBase,
    ip,
    options.limit ?? POOL_DEFAULTS.historyLimit,
  );
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: "follow",
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: "application/json" },
    });
  } catch (err) {
    const e = err as Error;
    if (e.name === "TimeoutError" || e.name === "AbortError") {
      throw new ScoreFetchError(
        "timeout",
        `${ip}: no answer from ${url} within ${timeoutMs / 1000} s`,
      );
    }
    const cause = (e as { cause?: Error }).cause;
    throw new ScoreFetchError(
      "network",
      `${ip}: cannot reach ${url}: ${cause?.message ?? e.message}`,
    );
  }
  let body: string;
  try {
    body = await response.text();
  } catch (err) {
    const e = err as Error;
    const kind = e.name === "TimeoutError" || e.name === "AbortError" ? "timeout" : "network";
    throw new ScoreFetchError(kind, `${ip}: reading the answer from ${url} failed: ${e.message}`);
  }
  if (response.status === 404) {
    throw new ScoreFetchError(
      "unknown-ip",
      `${ip}: the pool does not know this address (HTTP 404). Add it at manage.ntppool.org first (npm run pool -- register).`,
    );
  }
  if (!response.ok) {
    const snippet = body.replace(/\s+/g, " ").trim().slice(0, 120);
    throw new ScoreFetchError(
      "http",
      `${ip}: score API answered HTTP ${response.status} ${response.statusText} from ${response.url}${snippet ? `: ${snippet}` : ""}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new ScoreFetchError(
      "shape",
      `${ip}: score API answer from ${response.url} is not JSON (starts "${body.slice(0, 40)}")`,
    );
  }
  return parseScores(raw, ip);
}

interface MonitorSummary {
  id: number;
  name: string;
  status: string;
  score: number;
  /** Seconds, from the monitor's newest history entry; null when it got no answer. */
  offset: number | null;
  /** Milliseconds. */
  avgRtt: number | null;
}

export interface ScoreSummary {
  ip: string;
  /** null when the pool has no score for the address yet. */
  score: number | null;
  inPool: boolean;
  /** Where `score` came from, shown to the operator. */
  scoreSource: string;
  monitors: MonitorSummary[];
  /** The overall score over time, oldest first: what the charts draw. */
  series: { ts: number; score: number }[];
  /** What `series` holds, for chart titles. */
  seriesLabel: string;
}

/**
 * The overall score is the pool's own aggregate, published as a monitor of type "score"
 * (the "recentmedian" one when there are several). Its history entries carry that
 * monitor's id, or a null monitor_id in older answers. Individual monitors (type
 * "monitor") are shown separately.
 */
export function summariseScores(data: ScoreResponse, threshold: number): ScoreSummary {
  const scoreMonitors = data.monitors.filter((m) => m.type === "score");
  const overall = scoreMonitors.find((m) => m.name === "recentmedian") ?? scoreMonitors[0];
  const overallIds = new Set<number | null>([null]);
  if (overall !== undefined) {
    overallIds.add(overall.id);
  }
  const overallHistory = data.history.filter((h) => overallIds.has(h.monitor_id));
  // Without aggregate entries, chart every monitor's checks rather than nothing.
  const charted = overallHistory.length > 0 ? overallHistory : data.history;
  const seriesLabel =
    overallHistory.length > 0 ? "overall score" : "score of each monitor check (no aggregate yet)";
  const series = charted.map((h) => ({ ts: h.ts, score: h.score })).sort((a, b) => a.ts - b.ts);

  let score: number | null = null;
  let scoreSource = "no score yet";
  if (overall !== undefined) {
    score = overall.score;
    scoreSource = `pool aggregate "${overall.name}"`;
  } else if (overallHistory.length > 0) {
    score = series[series.length - 1]?.score ?? null;
    scoreSource = "newest overall history entry";
  }

  const newestByMonitor = new Map<number, ScoreHistoryEntry>();
  for (const h of data.history) {
    if (h.monitor_id === null) continue;
    const seen = newestByMonitor.get(h.monitor_id);
    if (seen === undefined || h.ts > seen.ts) {
      newestByMonitor.set(h.monitor_id, h);
    }
  }
  const monitors = data.monitors
    .filter((m) => m.type !== "score")
    .map((m) => ({
      id: m.id,
      name: m.name,
      status: m.status,
      score: m.score,
      offset: newestByMonitor.get(m.id)?.offset ?? null,
      avgRtt: m.avg_rtt ?? null,
    }))
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));

  return {
    ip: data.server.ip,
    score,
    inPool: score !== null && score >= threshold,
    scoreSource,
    monitors,
    series,
    seriesLabel,
  };
}
