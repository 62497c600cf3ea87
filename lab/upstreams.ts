import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { imageSpawn } from "./imageExec";
import { ADDR, addNamespace, attachToBridge, ip } from "./net";
import type { Teardown } from "./teardown";

/**
 * A stratum-1 upstream: NTPsec in orphan mode with no servers (`tos orphan 1 orphanwait 0`),
 * which is stratum 1 with leap 00 ~1.5 s after start. `refclock local` never synchronises in
 * NTPsec 1.2.2 (LAB-NOTES §4).
 */
export function renderUpstreamConf(dir: string): string {
  return [
    "# ntp-pool lab upstream: stratum 1 by orphan mode (LAB-NOTES §4)",
    "tos orphan 1 orphanwait 0",
    // Members poll with iburst; no `limited` here so the lab's upstreams never KoD them.
    "restrict default nomodify",
    "restrict 127.0.0.1",
    `statsdir ${dir}/`,
    "",
  ].join("\n");
}

/** The NTP server names in the user-data's ntp.conf files (`server`/`pool`/`peer` lines). */
export function upstreamsFromUserData(userData: string): string[] {
  const doc = parse(userData) as {
    write_files?: { path?: string; content?: string; encoding?: string }[];
  };
  const names: string[] = [];
  for (const f of doc?.write_files ?? []) {
    if (!f.path?.endsWith("ntp.conf") || typeof f.content !== "string") continue;
    const text = /^(b64|base64)$/.test(f.encoding ?? "")
      ? Buffer.from(f.content, "base64").toString("utf8")
      : f.content;
    for (const line of text.split("\n")) {
      const m = /^\s*(server|pool|peer)\s+(\S+)/.exec(line);
      if (m?.[2] && !names.includes(m[2])) names.push(m[2]);
    }
  }
  return names;
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
}): Promise<Upstream> {
  const address = ADDR.upstream(opts.index);
  await addNamespace(opts.td, opts.ns);
  await attachToBridge(opts.sw, "wan", opts.ns, `u${opts.index}`, [`${address}/24`]);
  await ip("-n", opts.ns, "route", "add", "default", "via", ADDR.wanEdge);
  if (opts.down) return { hostname: opts.hostname, address, ns: opts.ns, running: false };
  mkdirSync(opts.dir, { recursive: true });
  const conf = join(opts.dir, "ntp.conf");
  writeFileSync(conf, renderUpstreamConf(opts.dir));
  // From the tools image, without CAP_SYS_TIME (imageExec's default): the kernel refuses
  // every clock change (LAB-NOTES §3); no -u, so no shim.
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
    { root: opts.tools, netns: opts.ns, binds: [{ host: opts.dir }], env: opts.env },
    { stdio: "ignore" },
  );
  opts.td.addPid(child.pid);
  return { hostname: opts.hostname, address, ns: opts.ns, running: true };
}
