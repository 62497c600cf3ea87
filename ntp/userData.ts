/**
 * Reading a rendered user-data back: the ntp.conf it writes and the upstream names in it.
 * The policy pack (policy/rules.ts) checks that ntp.conf against the pool's rules; the lab
 * (lab/lab.ts) starts an upstream for every name in it. The renderer is
 * cloud-init/userData.ts; this is its only reader. Pure: no I/O, no Pulumi.
 */
import { parse as parseYaml } from "yaml";

/**
 * The ntp.conf a droplet's user-data writes: the first `write_files` entry whose file is
 * named `ntp.conf`, of a `#cloud-config` document (cloud-init's `encoding: b64` decoded).
 * Undefined when there is none, or the user-data is not a cloud-config.
 */
export function ntpConfOf(userData: string): string | undefined {
  if (!userData.startsWith("#cloud-config")) return undefined;
  let doc: unknown;
  try {
    doc = parseYaml(userData);
  } catch {
    return undefined;
  }
  const files = (doc as { write_files?: unknown } | null)?.write_files;
  if (!Array.isArray(files)) return undefined;
  for (const f of files as { path?: unknown; content?: unknown; encoding?: unknown }[]) {
    if (typeof f.path !== "string" || !/(^|\/)ntp\.conf$/.test(f.path)) continue;
    if (typeof f.content !== "string") return "";
    const enc = typeof f.encoding === "string" ? f.encoding.toLowerCase() : "";
    return enc === "b64" || enc === "base64"
      ? Buffer.from(f.content, "base64").toString("utf8")
      : f.content;
  }
  return undefined;
}

/** An ntp.conf's directives: comments and blank lines dropped, each line split into words. */
export function ntpConfDirectives(conf: string): string[][] {
  return conf
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter((line) => line !== "")
    .map((line) => line.split(/\s+/));
}

/** The hosts of an ntp.conf's `server`, `pool` and `peer` lines, each once, in order. */
export function upstreamNames(conf: string): string[] {
  const names: string[] = [];
  for (const d of ntpConfDirectives(conf)) {
    const host = d[1];
    if (["server", "pool", "peer"].includes(d[0] ?? "") && host !== undefined) {
      if (!names.includes(host)) names.push(host);
    }
  }
  return names;
}
