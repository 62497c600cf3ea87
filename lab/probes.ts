/**
 * What the replacing scenarios of `--engine pulumi` measure: the member's reserved addresses
 * probed once a second from outside while `pulumi up` replaces its droplet, as a pool
 * monitor would see them (lab/prober.ts sends the probes; this module judges them).
 */

/** One probe as lab/prober.ts prints it (one JSON line each). */
export interface Probe {
  /** Unix milliseconds when the request was sent. */
  readonly t: number;
  /** "ipv4" or "ipv6". */
  readonly family: string;
  readonly target: string;
  readonly source: string;
  readonly answered: boolean;
  /** ntp/client.ts classify(): "ok", "unsynchronised", "rate-limited", ... */
  readonly verdict?: string;
  readonly stratum?: number;
  readonly leap?: number;
}

/** The figures of one reserved address. */
export interface ProbeFigures {
  readonly target: string;
  readonly probes: number;
  readonly answered: number;
  /** Answered with a usable time: stratum 1–15, leap not 3, no kiss code. */
  readonly synchronised: number;
  /**
   * Longest time without a synchronised answer, seconds: between two synchronised answers,
   * or from the first probe or to the last one when the address was not serving then.
   */
  readonly longestGapSeconds: number;
  /** The first failed probes: seconds after the first probe, and what came back. */
  readonly failures?: readonly { readonly atSeconds: number; readonly verdict: string }[];
}

/** Parses the prober's output (non-JSON lines are ignored: warnings of the runtime). */
export function parseProbes(out: string): Probe[] {
  const probes: Probe[] = [];
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const p = JSON.parse(line) as Probe;
      if (typeof p.t === "number" && typeof p.family === "string") probes.push(p);
    } catch {
      // a partial last line when the prober was stopped
    }
  }
  return probes;
}

const good = (p: Probe): boolean => p.answered && p.verdict === "ok";

/** Figures per family, in the order the families first appear. */
export function probeFigures(probes: readonly Probe[]): Record<string, ProbeFigures> {
  const byFamily = new Map<string, Probe[]>();
  for (const p of probes) byFamily.set(p.family, [...(byFamily.get(p.family) ?? []), p]);
  const figures: Record<string, ProbeFigures> = {};
  for (const [family, list] of byFamily) {
    const sorted = [...list].sort((a, b) => a.t - b.t);
    let gap = 0;
    let since = sorted[0]?.t ?? 0;
    for (const p of sorted) {
      if (good(p)) {
        gap = Math.max(gap, (p.t - since) / 1000);
        since = p.t;
      }
    }
    const last = sorted[sorted.length - 1];
    if (last !== undefined && !good(last)) gap = Math.max(gap, (last.t - since) / 1000);
    const t0 = sorted[0]?.t ?? 0;
    const failures = sorted
      .filter((p) => !good(p))
      .slice(0, 10)
      .map((p) => ({
        atSeconds: Math.round((p.t - t0) / 100) / 10,
        verdict: p.answered ? (p.verdict ?? "?") : "unanswered",
      }));
    figures[family] = {
      target: sorted[0]?.target ?? "",
      probes: sorted.length,
      answered: sorted.filter((p) => p.answered).length,
      synchronised: sorted.filter(good).length,
      longestGapSeconds: Math.round(gap * 10) / 10,
      ...(failures.length > 0 ? { failures } : {}),
    };
  }
  return figures;
}

/**
 * Why a replacement failed the rehearsal, or undefined: every probe of every reserved
 * address must be answered with a synchronised time (the goal: 0 failed probes).
 */
export function probeFailures(figures: Readonly<Record<string, ProbeFigures>>): string | undefined {
  const bad = Object.entries(figures)
    .filter(([, f]) => f.probes === 0 || f.synchronised < f.probes)
    .map(
      ([family, f]) =>
        `${family} ${f.target}: ${f.probes - f.answered} of ${f.probes} probes unanswered, ${f.answered - f.synchronised} answered unsynchronised, longest gap ${f.longestGapSeconds} s${f.failures ? ` (at ${f.failures.map((x) => `${x.atSeconds} s ${x.verdict}`).join(", ")} after probing began)` : ""}`,
    );
  return bad.length > 0 ? bad.join("; ") : undefined;
}

/**
 * Why a member is not serving at the end of the probing, or undefined: the last `n` probes
 * of each reserved address must be answered synchronised (for a change that is allowed an
 * outage, such as the drift runbook, which starts from a deleted droplet).
 */
export function notServingAtEnd(probes: readonly Probe[], n = 3): string | undefined {
  const byTarget = new Map<string, Probe[]>();
  for (const p of probes) byTarget.set(p.target, [...(byTarget.get(p.target) ?? []), p]);
  if (byTarget.size === 0) return "no probe was sent";
  const bad: string[] = [];
  for (const [target, list] of byTarget) {
    const tailProbes = [...list].sort((a, b) => a.t - b.t).slice(-n);
    if (tailProbes.length < n || !tailProbes.every(good))
      bad.push(
        `${target}: last ${tailProbes.length} probes ${tailProbes.map((p) => (p.answered ? (p.verdict ?? "?") : "unanswered")).join(", ")}`,
      );
  }
  return bad.length > 0 ? `not serving at the end: ${bad.join("; ")}` : undefined;
}

/** One line of figures for the log and the note. */
export function describeFigures(figures: Readonly<Record<string, ProbeFigures>>): string {
  return Object.entries(figures)
    .map(
      ([family, f]) =>
        `${family} ${f.target}: ${f.answered}/${f.probes} answered, ${f.synchronised} synchronised, longest gap ${f.longestGapSeconds} s`,
    )
    .join("; ");
}
