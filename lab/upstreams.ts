import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { imageSpawn } from "./imageExec";
import { nextMonthStart, renderLeapFile } from "./leapFile";
import { ADDR, addNamespace, attachToBridge, ip } from "./net";
import type { Teardown } from "./teardown";

/**
 * How an upstream behaves. "good" is a correct stratum-1 server; the others are the ways a
 * real upstream goes wrong (issue 13), each a real NTPsec daemon:
 *
 * - falseticker: every timestamp it sends is off by `offsetSeconds` (lab/clockshift.c shifts
 *   its clock and its kernel receive timestamps alike, docs/lab-mechanisms.md#falsetickers);
 * - leap: its leapfile is the real list plus a fake leap second on the next 1st of a month,
 *   which NTPsec announces (leap indicator 01) from 28 days before it (lab/leapFile.ts);
 * - unsynchronised: no time source at all, so it answers stratum 16 / leap 11 (kiss INIT);
 * - kod: rate-limits hard (`limited kod` with a long `discard minimum`), so it answers the
 *   member's polls with KoD RATE.
 */
export type UpstreamKind =
  | { readonly kind: "good" }
  | { readonly kind: "falseticker"; readonly offsetSeconds: number }
  | { readonly kind: "leap" }
  | { readonly kind: "unsynchronised" }
  | { readonly kind: "kod" };

export const GOOD_UPSTREAM: UpstreamKind = { kind: "good" };

/** "good", "falseticker:+2", "falseticker:-0.5", "leap", "unsynchronised", "kod". */
export function parseUpstreamKind(spec: string): UpstreamKind {
  const m = /^falseticker:([+-]?\d+(\.\d+)?)$/.exec(spec);
  if (m) {
    const offsetSeconds = Number(m[1]);
    if (offsetSeconds === 0 || Math.abs(offsetSeconds) > 86400)
      throw new Error(
        `upstream kind "${spec}": a falseticker's offset must be non-zero seconds within ±86400`,
      );
    return { kind: "falseticker", offsetSeconds };
  }
  if (spec === "good" || spec === "leap" || spec === "unsynchronised" || spec === "kod")
    return { kind: spec };
  throw new Error(
    `upstream kind "${spec}": expected good, falseticker:<±seconds>, leap, unsynchronised or kod`,
  );
}

export function describeUpstreamKind(k: UpstreamKind): string {
  switch (k.kind) {
    case "good":
      return "stratum 1, orphan mode";
    case "falseticker":
      return `FALSETICKER ${k.offsetSeconds > 0 ? "+" : ""}${k.offsetSeconds} s`;
    case "leap":
      return "stratum 1, announcing a leap second not in the leap file";
    case "unsynchronised":
      return "unsynchronised (stratum 16)";
    case "kod":
      return "stratum 1, answering KoD RATE";
  }
}

/**
 * ntp.conf of an upstream. A time source is NTPsec in orphan mode with no servers
 * (`tos orphan 1 orphanwait 0`), which is stratum 1 with leap 00 ~1.5 s after start;
 * `refclock local` never synchronises in NTPsec 1.2.2 (docs/lab-mechanisms.md#upstreams). `leapfile` is the
 * path of the file {@link renderLeapFile} wrote (leap kind only).
 */
export function renderUpstreamConf(
  dir: string,
  kind: UpstreamKind = GOOD_UPSTREAM,
  leapfile?: string,
): string {
  const restrict =
    kind.kind === "kod"
      ? // NTPsec's `limit`: a per-address score (packets/s) that each packet bumps by
        // 1/burst and that decays over `burst` seconds; above `average` the packet is
        // limited, and answered with KoD RATE while the score is under `kod` x average
        // (docs/lab-mechanisms.md#rate-limiting). These values limit every packet after a client's first; measured:
        // ntpdig 2 s apart gets KoD RATE from its second query on.
        ["limit average 0.0001 burst 1000 kod 1000", "restrict default limited kod nomodify"]
      : // Members poll with iburst; no `limited` here so the lab's upstreams never KoD them.
        ["restrict default nomodify"];
  return [
    `# ntp-pool lab upstream (${describeUpstreamKind(kind)})`,
    ...(kind.kind === "unsynchronised" ? [] : ["tos orphan 1 orphanwait 0"]),
    ...(kind.kind === "leap" && leapfile !== undefined ? [`leapfile ${leapfile}`] : []),
    ...restrict,
    // ntpq asks ::1 first; NTPsec 1.2.2 answers mode 6 only to an explicit entry.
    "restrict 127.0.0.1",
    "restrict ::1",
    `statsdir ${dir}/`,
    "",
  ].join("\n");
}

export interface Upstream {
  readonly hostname: string;
  readonly address: string;
  readonly ns: string;
  /** False when the run was told to keep this one down (fault injection). */
  readonly running: boolean;
}

/** Starts one upstream in its own namespace on the wan bridge. */
export async function startUpstream(opts: {
  td: Teardown;
  ns: string;
  sw: string;
  index: number;
  hostname: string;
  dir: string;
  env: Record<string, string>;
  down: boolean;
  /** The tools image root ntpd runs from (lab/image.ts ensureImage().tools). */
  tools: string;
  /** How it behaves (default good); a falseticker needs `clockShift` (lab/clockshift.c). */
  kind?: UpstreamKind;
  clockShift?: string;
  /** The tools image's leap-seconds.list, for the leap kind. */
  leapSource?: string;
}): Promise<Upstream> {
  const address = ADDR.upstream(opts.index);
  await addNamespace(opts.td, opts.ns);
  await attachToBridge(opts.sw, "wan", opts.ns, `u${opts.index}`, [`${address}/24`]);
  await ip("-n", opts.ns, "route", "add", "default", "via", ADDR.wanEdge);
  if (opts.down) return { hostname: opts.hostname, address, ns: opts.ns, running: false };
  mkdirSync(opts.dir, { recursive: true });
  const conf = join(opts.dir, "ntp.conf");
  const kind = opts.kind ?? GOOD_UPSTREAM;
  const extra = upstreamLaunch(kind, opts);
  writeFileSync(conf, renderUpstreamConf(opts.dir, kind, extra.leapfile));
  // From the tools image, without CAP_SYS_TIME (imageExec's default): the kernel refuses
  // every clock change (docs/lab-mechanisms.md#shared-clock); no -u, so no shim.
  const child = imageSpawn(
    [
      "/usr/sbin/ntpd",
      "-n",
      "-c",
      conf,
      "-p",
      `${opts.dir}/ntpd.pid`,
      "-l",
      `${opts.dir}/ntpd.log`,
    ],
    {
      root: opts.tools,
      netns: opts.ns,
      binds: [{ host: opts.dir }, ...extra.binds],
      env: { ...opts.env, ...extra.env },
    },
    { stdio: "ignore" },
  );
  opts.td.addPid(child.pid);
  return { hostname: opts.hostname, address, ns: opts.ns, running: true };
}

/** Where the clock-shift shim is bound inside the tools root. */
const GUEST_CLOCKSHIFT = "/usr/local/lib/ntp-lab/clockshift.so";

/**
 * What an upstream of `kind` needs beyond the plain ntpd: the clock-shift shim preloaded
 * (falseticker) or a leap file with a fake leap second written into `dir` (leap).
 */
export function upstreamLaunch(
  kind: UpstreamKind,
  o: { dir: string; clockShift?: string; leapSource?: string },
): {
  binds: { host: string; guest: string; readOnly: boolean }[];
  env: Record<string, string>;
  leapfile?: string;
} {
  if (kind.kind === "falseticker") {
    if (o.clockShift === undefined) throw new Error("falseticker upstream: no clock-shift shim");
    return {
      binds: [{ host: o.clockShift, guest: GUEST_CLOCKSHIFT, readOnly: true }],
      env: { LD_PRELOAD: GUEST_CLOCKSHIFT, NTP_LAB_CLOCK_SHIFT: String(kind.offsetSeconds) },
    };
  }
  if (kind.kind === "leap") {
    if (o.leapSource === undefined) throw new Error("leap upstream: no leap-seconds.list");
    const now = Math.floor(Date.now() / 1000);
    const leapfile = join(o.dir, "leap-seconds.list");
    writeFileSync(
      leapfile,
      renderLeapFile(readFileSync(o.leapSource, "utf8"), {
        expiresUnix: now + 180 * 86_400,
        extraLeapUnix: nextMonthStart(now),
      }),
    );
    return { binds: [], env: {}, leapfile };
  }
  return { binds: [], env: {} };
}
