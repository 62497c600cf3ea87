/**
 * The host programs the real-tool and lab tiers may run, as a PATH of their own: the promise of
 * docs/host-safety.md ("every daemon and client runs from the lab's images, the host gives only the
 * listed build tools") made checkable. test/globalSetup.ts puts the tiers on this PATH, so a
 * test that runs a host program outside it (nft, python3, ssh, ntpq…) fails with ENOENT on
 * every machine, not only on a user's clean one; test/real/host-programs.test.ts catches the
 * absolute-path way around it.
 *
 * Allowed: the programs of lab/prereqs.ts HOST_PACKAGES, of Debian's Essential and
 * Priority: required packages (coreutils, util-linux, mount, dpkg, apt, tar…: what every
 * Debian system has, debootstrap's minbase included) and of the packages those depend on,
 * plus HOST_PROGRAMS (node, go).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { HOST_PACKAGES, HOST_PROGRAMS } from "../../lab/prereqs";

/** Directories whose programs are looked at (merged /usr: /bin and /sbin are links to these). */
const BIN_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

// dpkg-query's own ${Field} syntax, not a template string.
const DPKG_QUERY_FORMAT = [
  "-f=",
  ["Package", "Essential", "Priority", "Status", "Pre-Depends", "Depends", "Provides"]
    .map((f) => `$\{${f}}`)
    .join("\t"),
  "\n",
].join("");

export interface InstalledPackage {
  readonly name: string;
  /** Essential, or Priority: required: on every Debian system. */
  readonly base: boolean;
  /** Names this package depends on (each alternative of an `a | b`), versions and arch removed. */
  readonly depends: readonly string[];
  readonly provides: readonly string[];
}

/**
 * `dpkg-query -W` lines (Package, Essential, Priority, Status, Pre-Depends, Depends, Provides,
 * tab-separated; DPKG_QUERY_FORMAT).
 */
export function parseInstalled(text: string): InstalledPackage[] {
  const names = (field: string) =>
    field
      .split(/[,|]/)
      .map((d) => (d.trim().split(/[\s(]/)[0] ?? "").replace(/:[a-z0-9]+$/, ""))
      .filter((d) => d !== "");
  const out: InstalledPackage[] = [];
  for (const line of text.split("\n")) {
    const [name, essential, priority, status, pre, dep, provides] = line.split("\t");
    if (!name || !status?.endsWith(" installed")) continue;
    out.push({
      name,
      base: essential === "yes" || priority === "required",
      depends: [...names(pre ?? ""), ...names(dep ?? "")],
      provides: names(provides ?? ""),
    });
  }
  return out;
}

/** `roots`, every base package and everything they depend on (providers of virtual names too). */
export function dependencyClosure(
  installed: readonly InstalledPackage[],
  roots: readonly string[],
): Set<string> {
  const byName = new Map<string, InstalledPackage[]>();
  for (const p of installed) {
    for (const n of [p.name, ...p.provides]) byName.set(n, [...(byName.get(n) ?? []), p]);
  }
  const seen = new Set<string>();
  const todo = [...roots, ...installed.filter((p) => p.base).map((p) => p.name)];
  while (todo.length > 0) {
    const n = todo.pop() as string;
    for (const p of byName.get(n) ?? []) {
      if (seen.has(p.name)) continue;
      seen.add(p.name);
      todo.push(...p.depends);
    }
  }
  return seen;
}

/** Program name → its real path, for every allowed host program. */
export function allowedHostPrograms(): Map<string, string> {
  const q = spawnSync("dpkg-query", ["-W", DPKG_QUERY_FORMAT], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (q.status !== 0) throw new Error(`dpkg-query -W failed: ${q.stderr}`);
  const packages = [...dependencyClosure(parseInstalled(q.stdout), Object.keys(HOST_PACKAGES))];
  const files = spawnSync("dpkg-query", ["-L", ...packages], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const allowedReal = new Set<string>();
  for (const f of files.stdout.split("\n")) {
    if (!BIN_DIRS.some((d) => f.startsWith(`${d}/`))) continue;
    try {
      allowedReal.add(realpathSync(f));
    } catch {
      // listed but not on disk (a diverted or removed file)
    }
  }
  const out = new Map<string, string>();
  // Names reached through a symlink (update-alternatives: awk → mawk) count when their
  // target is an allowed program.
  for (const d of BIN_DIRS) {
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      if (out.has(name)) continue;
      try {
        const real = realpathSync(join(d, name));
        if (allowedReal.has(real) && statSync(real).isFile()) out.set(name, real);
      } catch {
        // a dangling link
      }
    }
  }
  for (const [name, how] of Object.entries(HOST_PROGRAMS)) {
    const real = how.find();
    if (real !== undefined) out.set(name, real);
  }
  return out;
}

/**
 * A directory under `cacheDir` of links to exactly the allowed host programs, for PATH. Made
 * anew when the set changes (its name is the set's hash), renamed into place whole.
 */
export function restrictedPathDir(cacheDir: string): string {
  const programs = allowedHostPrograms();
  const listing = [...programs].sort().map(([n, p]) => `${n}=${p}`);
  const hash = createHash("sha256").update(listing.join("\n")).digest("hex").slice(0, 12);
  const dir = join(cacheDir, `host-path-${hash}`);
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [name, real] of programs) symlinkSync(real, join(tmp, name));
  try {
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw e;
  }
  return dir;
}
