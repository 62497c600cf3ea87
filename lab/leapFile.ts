/**
 * IERS leap-seconds.list files for lab daemons: the real list with a new expiry and, for a
 * leap-announcing upstream, one fake leap second. The `#h` hash is recomputed so ntpd logs
 * "good hash signature" and loads the file: SHA-1 over the digits of the `#$`, `#@` and data
 * lines (the IERS file's header; NTPsec ntpd/ntp_leapsec.c).
 */
import { createHash } from "node:crypto";

/** Seconds from 1900 (NTP) to 1970 (Unix), RFC 5905 §6. */
const NTP_UNIX = 2_208_988_800;

export interface LeapFileEdit {
  /** New expiry (`#@`), Unix seconds. */
  readonly expiresUnix: number;
  /**
   * A leap second to add: the Unix second at which it takes effect (00:00 UTC on the 1st
   * of a month: the file lists the first second after the inserted one). TAI−UTC becomes the last entry's + 1.
   */
  readonly extraLeapUnix?: number;
}

/**
 * 00:00 UTC on the first day of the month after `nowUnix`, in Unix seconds: NTPsec loads
 * leap seconds only on the first of a month (ntpd/ntp_leapsec.c: otherwise "bad transition
 * time", measured). It arms one from 28 days before it, but sets the leap indicator only in
 * the last day (ntpd/ntp_timer.c: LSPROX_ANNOUNCE; measured: LI 00 and "leap_armed" 27 days
 * before, LI 01 12 hours before).
 */
export function nextMonthStart(nowUnix: number): number {
  const d = new Date(nowUnix * 1000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
}

/** `source` (a leap-seconds.list) edited as `edit` says, with a correct `#h` line. */
export function renderLeapFile(source: string, edit: LeapFileEdit): string {
  const out: string[] = [];
  let digits = "";
  let lastTaiUtc = 0;
  const data = (line: string) => {
    digits += (line.split("#")[0] ?? "").replace(/[^0-9]/g, "");
    out.push(line);
  };
  for (let line of source.split("\n")) {
    if (line.startsWith("#h")) continue;
    if (line.startsWith("#@")) line = `#@\t${edit.expiresUnix + NTP_UNIX}`;
    if (line.startsWith("#$") || line.startsWith("#@")) {
      digits += line.slice(2).replace(/[^0-9]/g, "");
      out.push(line);
    } else if (line !== "" && !line.startsWith("#")) {
      const [, tai] = line.split(/\s+/);
      lastTaiUtc = Math.max(lastTaiUtc, Number(tai));
      data(line);
    } else {
      out.push(line);
    }
  }
  while (out.at(-1) === "") out.pop();
  if (edit.extraLeapUnix !== undefined) {
    const day = new Date(edit.extraLeapUnix * 1000).toISOString().slice(0, 10);
    data(`${edit.extraLeapUnix + NTP_UNIX}\t${lastTaiUtc + 1}\t# ${day} (ntp-pool lab: fake)`);
  }
  const h = createHash("sha1").update(digits).digest("hex");
  out.push(`#h\t${h.match(/.{8}/g)?.join(" ")}`);
  return `${out.join("\n")}\n`;
}

/** The expiry (`#@` line, NTP seconds) of a leap-seconds.list, in Unix seconds. */
export function leapFileExpiry(text: string): number {
  const m = /^#@\s+(\d+)\s*$/m.exec(text);
  if (!m) throw new Error("leap-seconds.list: no #@ expiry line");
  return Number(m[1]) - NTP_UNIX;
}

/**
 * How far ahead a member's leap file must be valid: the on-droplet check warns inside this
 * window (cloud-init/scripts/ntppool-verify.sh), and the lab's image must be outside it.
 */
const LEAP_FILE_MARGIN_DAYS = 30;

/**
 * Why a leap file expiring at `expiresUnix` is not good enough at `nowUnix` (expired, or
 * within LEAP_FILE_MARGIN_DAYS), naming `what` holds it; undefined when it is.
 */
export function leapFileProblem(
  what: string,
  expiresUnix: number,
  nowUnix: number,
): string | undefined {
  const days = (expiresUnix - nowUnix) / 86_400;
  if (days >= LEAP_FILE_MARGIN_DAYS) return undefined;
  const when = new Date(expiresUnix * 1000).toISOString().slice(0, 10);
  const today = new Date(nowUnix * 1000).toISOString().slice(0, 10);
  return days < 0
    ? `${what}: leap-seconds.list expired on ${when} (today is ${today})`
    : `${what}: leap-seconds.list expires on ${when}, ${days.toFixed(1)} days after ${today} (under ${LEAP_FILE_MARGIN_DAYS})`;
}
