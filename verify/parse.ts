/**
 * Pure parsers for the text NTPsec 1.2.2's tools print: `ntpq -p`/`ntpq -pn` (peer table),
 * `ntpq -c rv` (system variables) and `ntpdig` / `ntpdate -q` (one-shot client). Fixtures
 * captured from real daemons live in test/fixtures/ntpsec-1.2.2/.
 *
 * ntpq exits 0 when the daemon does not answer, so callers must judge its OUTPUT; these
 * parsers turn the two failure banners into typed results instead of empty tables.
 */

/** Why ntpq produced no data. */
type NtpqFailure =
  /** "***Request timed out": nothing answered (remote `noquery`, or packets dropped). */
  | "timeout"
  /** "***Socket error; probably ntpd is not running": local port 123 refused the query. */
  | "not-running";

export type NtpqResult<T> = { ok: true; value: T } | { ok: false; failure: NtpqFailure };

/** One row of `ntpq -p`. */
export interface PeerRow {
  /**
   * Tally code (first column): "*" system peer, "o" PPS system peer, "+" candidate,
   * "-" outlier, "x" falseticker, "#" backup, "." excess, " " rejected (ntpq(1) "Peers").
   */
  readonly tally: string;
  readonly remote: string;
  readonly refid: string;
  /** 16 means unsynchronised/unreachable (RFC 5905 §7.3). */
  readonly stratum: number;
  readonly type: string;
  /** Reach register, printed in octal; 0 = no reply among the last 8 polls. */
  readonly reach: number;
  /** Milliseconds. */
  readonly delayMs: number;
  /** Milliseconds. */
  readonly offsetMs: number;
  /** Milliseconds. */
  readonly jitterMs: number;
}

function detectFailure(text: string): NtpqFailure | undefined {
  if (/^\*\*\*Request timed out/m.test(text)) return "timeout";
  if (/^\*\*\*Socket error/m.test(text)) return "not-running";
  return undefined;
}

/**
 * Parses `ntpq -p` / `ntpq -pn`. The table starts after the `=====` rule; long host names
 * are truncated by ntpq, so match peers by row, not by name.
 */
export function parseNtpqPeers(text: string): NtpqResult<PeerRow[]> {
  const failure = detectFailure(text);
  if (failure) return { ok: false, failure };
  const lines = text.split("\n");
  const rule = lines.findIndex((l) => /^=+$/.test(l.trim()));
  if (rule < 0)
    throw new Error(`ntpq -p output: no "=====" header rule in ${JSON.stringify(text)}`);
  const rows: PeerRow[] = [];
  for (const line of lines.slice(rule + 1)) {
    if (line.trim() === "") continue;
    const tally = line.charAt(0);
    const fields = line.slice(1).trim().split(/\s+/);
    if (fields.length !== 10) {
      throw new Error(
        `ntpq -p row: expected 10 fields, got ${fields.length} in ${JSON.stringify(line)}`,
      );
    }
    const [remote, refid, st, type, , , reach, delay, offset, jitter] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!/^[0-7]+$/.test(reach))
      throw new Error(`ntpq -p row: reach ${JSON.stringify(reach)} is not octal`);
    rows.push({
      tally,
      remote,
      refid,
      stratum: toNumber("st", st),
      type,
      reach: Number.parseInt(reach, 8),
      delayMs: toNumber("delay", delay),
      offsetMs: toNumber("offset", offset),
      jitterMs: toNumber("jitter", jitter),
    });
  }
  return { ok: true, value: rows };
}

/** Interpreted `ntpq -c rv` (association 0 = the system). */
export interface SystemVars {
  /** 0 none, 1 insert, 2 delete, 3 alarm = unsynchronised (RFC 5905 §7.3 "LI"). */
  readonly leap: number;
  readonly stratum: number;
  readonly refid: string;
  /** Combined offset of the system clock, milliseconds. */
  readonly offsetMs: number;
  /** Milliseconds. */
  readonly rootDelayMs: number;
  /** Milliseconds. */
  readonly rootDispMs: number;
  /** Association id of the system peer; 0 = none. */
  readonly peer: number;
  /** "2026-06-28T00:00Z": when the loaded leap-second file expires; absent = no file loaded. */
  readonly leapFileExpires?: string;
  /** Last leap second in the loaded file, same format. */
  readonly lastLeapSecond?: string;
  readonly raw: Readonly<Record<string, string>>;
}

/**
 * Splits ntpq's `name=value, name="quoted, value", ...` list (values may span lines). The
 * first line (`associd=0 status=...`) is space separated and is skipped.
 */
export function parseVarList(text: string): Record<string, string> {
  const body = text
    .split("\n")
    .filter((l) => !/^associd=/.test(l))
    .join(" ");
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/g;
  for (const m of body.matchAll(re)) {
    const [, name, value] = m as unknown as [string, string, string];
    const v = value.trim();
    out[name] = v.startsWith('"') ? v.slice(1, -1) : v;
  }
  return out;
}

/** Parses `ntpq -c rv`. NTPsec exposes the leap file as `leapsec=` and `expire=`. */
export function parseNtpqRv(text: string): NtpqResult<SystemVars> {
  const failure = detectFailure(text);
  if (failure) return { ok: false, failure };
  const raw = parseVarList(text);
  const need = (name: string): string => {
    const v = raw[name];
    if (v === undefined)
      throw new Error(`ntpq -c rv output: variable ${name} missing in ${JSON.stringify(text)}`);
    return v;
  };
  const value: SystemVars = {
    leap: Number.parseInt(need("leap"), 2),
    stratum: toNumber("stratum", need("stratum")),
    refid: need("refid"),
    offsetMs: toNumber("offset", need("offset")),
    rootDelayMs: toNumber("rootdelay", need("rootdelay")),
    rootDispMs: toNumber("rootdisp", need("rootdisp")),
    peer: toNumber("peer", need("peer")),
    ...(raw.expire !== undefined ? { leapFileExpires: raw.expire } : {}),
    ...(raw.leapsec !== undefined ? { lastLeapSecond: raw.leapsec } : {}),
    raw,
  };
  return { ok: true, value };
}

/** One `ntpdig` / `ntpdate -q` query result. */
export type NtpdigResult =
  | {
      readonly kind: "answer";
      readonly host: string;
      /** Seconds: the server's clock minus ours. */
      readonly offsetSeconds: number;
      /** Seconds: ntpdig's error bound (half the round trip plus dispersion). */
      readonly errorSeconds: number;
      readonly stratum: number;
      /** "no-leap", "add-leap", "del-leap" or "unsync". */
      readonly leap: string;
    }
  /**
   * "Response dropped: stratum 0, probable KOD packet": ntpdig prints the same line for a
   * rate-limit/deny kiss-o'-death and for an unsynchronised server (stratum 16 goes on the
   * wire as 0 with kiss code INIT, RFC 5905 §7.4), so the two cannot be told apart here.
   */
  | { readonly kind: "kod-or-unsynchronised"; readonly host: string }
  | { readonly kind: "no-answer" }
  | { readonly kind: "lookup-failed"; readonly host: string; readonly detail: string };

/** Parses the text of one `ntpdig HOST` / `ntpdate -q HOST` run (stdout + stderr). */
export function parseNtpdig(text: string): NtpdigResult {
  const answer =
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \([+-]\d{4}\) ([+-]\d+(?:\.\d+)?) \+\/- (\d+(?:\.\d+)?) (\S+) s(\d+) (\S+)$/m.exec(
      text,
    );
  if (answer) {
    const [, offset, error, host, stratum, leap] = answer as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    return {
      kind: "answer",
      host,
      offsetSeconds: Number(offset),
      errorSeconds: Number(error),
      stratum: Number(stratum),
      leap,
    };
  }
  const kod = /^ntpdig: (\S+): Response dropped: stratum 0, probable KOD packet$/m.exec(text);
  if (kod) return { kind: "kod-or-unsynchronised", host: kod[1] as string };
  const lookup = /^ntpdig: lookup of (\S+) failed, (.*)$/m.exec(text);
  if (lookup)
    return { kind: "lookup-failed", host: lookup[1] as string, detail: lookup[2] as string };
  if (/^ntpdig: no eligible servers$/m.test(text)) return { kind: "no-answer" };
  throw new Error(`ntpdig output not recognised: ${JSON.stringify(text)}`);
}

function toNumber(field: string, s: string): number {
  const n = Number(s);
  if (s.trim() === "" || !Number.isFinite(n))
    throw new Error(`ntpq field ${field}: ${JSON.stringify(s)} is not a number`);
  return n;
}
