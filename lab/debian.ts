/**
 * The Debian suites a DigitalOcean `debian-12-x64` droplet installs from, and how the lab
 * tells whether a cached root (lab/imageFreshness.ts) is still as current as they are.
 *
 * A droplet's apt sources are Debian 12's standard three: `bookworm` (the point release),
 * `bookworm-updates` (stable-updates: e.g. tzdata between point releases) and
 * `bookworm-security`. tzdata, whose leap-seconds.list ntpd loads, is updated through the
 * latter two; a root built from `bookworm` alone holds the tzdata of the last point release,
 * whose leap file can expire while a newer one is in `bookworm-security`.
 *
 * What a root was built from is recorded as each suite's amd64 `main` package index (its
 * SHA-256 in the suite's InRelease). On a later run, a suite whose index changed is read and
 * compared package by package with what the root holds: the root is stale when one of its
 * packages has a newer version there. dpkg's own version comparison decides "newer".
 *
 * The parsers are written here rather than taken from a library: deb822 stanzas and the
 * InRelease hash list are a few lines each, and the npm packages for them are unmaintained.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { get } from "node:http";

export interface DebianSuite {
  readonly name: string;
  /** Archive root the suite is served from (deb.debian.org is Debian's CDN front). */
  readonly mirror: string;
}

/** Debian 12's default sources (the `debian-12-x64` image's apt sources). */
export const DEBIAN_SUITES: readonly DebianSuite[] = [
  { name: "bookworm", mirror: "http://deb.debian.org/debian" },
  { name: "bookworm-updates", mirror: "http://deb.debian.org/debian" },
  { name: "bookworm-security", mirror: "http://deb.debian.org/debian-security" },
];

/**
 * root's PATH in a Debian root (the `ENV_SUPATH` of Debian's /etc/login.defs, and what
 * lab/guest/droplet-init.sh in_root sets): every command run inside a lab root gets it, never
 * the caller's (the tests' PATH is narrowed).
 */
export const ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The package index a root's freshness is judged by (all lab roots are amd64, `main` only). */
const INDEX_PATH = "main/binary-amd64/Packages.xz";

/** apt's sources.list for the suites (one `deb` line each). */
export function renderSourcesList(suites: readonly DebianSuite[] = DEBIAN_SUITES): string {
  return `${suites.map((s) => `deb ${s.mirror} ${s.name} main`).join("\n")}\n`;
}

/** One deb822 stanza: field name → value (continuation lines joined with "\n"). */
export type Stanza = Readonly<Record<string, string>>;

/** deb822 paragraphs (Packages, dpkg's status file, Release): blank lines separate them. */
export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Record<string, string> = {};
  let last = "";
  const flush = () => {
    if (Object.keys(cur).length > 0) out.push(cur);
    cur = {};
    last = "";
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      flush();
    } else if (/^[ \t]/.test(line)) {
      if (last !== "") cur[last] = `${cur[last]}\n${line.trim()}`;
    } else {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      last = line.slice(0, i);
      cur[last] = line.slice(i + 1).trim();
    }
  }
  flush();
  return out;
}

/** What an InRelease says about the suite and one of its index files. */
export interface SuiteState {
  readonly date: string;
  /** SHA-256 of INDEX_PATH as the suite lists it. */
  readonly sha256: string;
  readonly size: number;
}

/**
 * The suite's Date and the SHA-256 entry of `path` from an InRelease (or Release) file. The
 * OpenPGP armour around a clearsigned InRelease is skipped; the signature is not checked
 * here: the hash only says whether the index changed, and apt inside the build checks
 * signatures of what is installed.
 */
export function parseInRelease(text: string, path: string = INDEX_PATH): SuiteState {
  const body = text.replace(/^-----BEGIN PGP SIGNED MESSAGE-----\n(Hash: .*\n)*\n/, "");
  const fields = parseStanzas(body.split("-----BEGIN PGP SIGNATURE-----")[0] ?? "")[0] ?? {};
  const date = fields.Date;
  const entry = (fields.SHA256 ?? "")
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .find((p) => p[2] === path);
  if (date === undefined || entry === undefined) {
    throw new Error(`InRelease: no ${date === undefined ? "Date" : `SHA256 entry for ${path}`}`);
  }
  return { date, sha256: entry[0] as string, size: Number(entry[1]) };
}

/** Package → version of a Packages index (the highest listed, by dpkg's rule). */
export function packageVersions(packagesText: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of parseStanzas(packagesText)) {
    const name = s.Package;
    const version = s.Version;
    if (name === undefined || version === undefined) continue;
    const had = out.get(name);
    if (had === undefined || versionGreater(version, had)) out.set(name, version);
  }
  return out;
}

/** Package → version of what dpkg's status file says is installed. */
export function installedVersions(statusText: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of parseStanzas(statusText)) {
    if (s.Status === "install ok installed" && s.Package && s.Version) {
      out.set(s.Package, s.Version);
    }
  }
  return out;
}

/** A .deb's package name and version from its archive file name (`name_version_arch.deb`). */
export function debFileNameVersion(file: string): { name: string; version: string } | undefined {
  const m = /^([^_]+)_([^_]+)_[^_]+\.deb$/.exec(file);
  // apt escapes the epoch's colon as %3a in file names.
  return m ? { name: m[1] as string, version: decodeURIComponent(m[2] as string) } : undefined;
}

/** dpkg's version order (`dpkg --compare-versions a gt b`); dpkg is Essential on Debian. */
export function versionGreater(a: string, b: string): boolean {
  if (a === b) return false;
  const r = spawnSync("dpkg", ["--compare-versions", a, "gt", b]);
  if (r.error) throw new Error(`cannot run dpkg --compare-versions: ${r.error.message}`);
  return r.status === 0;
}

/** A package a root holds at an older version than a suite offers. */
export interface StalePackage {
  readonly name: string;
  readonly have: string;
  readonly suite: string;
  readonly newer: string;
}

/** Packages of `have` for which a suite in `offered` (suite → its index) has a newer version. */
export function stalePackages(
  have: ReadonlyMap<string, string>,
  offered: ReadonlyMap<string, ReadonlyMap<string, string>>,
): StalePackage[] {
  const out: StalePackage[] = [];
  for (const [name, version] of have) {
    let best: StalePackage | undefined;
    for (const [suite, index] of offered) {
      const v = index.get(name);
      if (v === undefined || v === version) continue;
      if (versionGreater(v, best?.newer ?? version))
        best = { name, have: version, suite, newer: v };
    }
    if (best) out.push(best);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** One line naming what is newer where, e.g. "tzdata 2026b-0+deb12u1 → 2026f-0+deb12u1 (bookworm-security)". */
export function describeStale(stale: readonly StalePackage[], max = 6): string {
  const shown = stale.slice(0, max).map((s) => `${s.name} ${s.have} → ${s.newer} (${s.suite})`);
  return stale.length > max
    ? `${shown.join(", ")} and ${stale.length - max} more`
    : shown.join(", ");
}

function fetchBuffer(url: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url}: HTTP ${res.statusCode}`));
        return;
      }
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => resolve(Buffer.concat(parts)));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Each suite's current state, read from its InRelease on the mirror. */
export async function fetchSuiteStates(
  suites: readonly DebianSuite[] = DEBIAN_SUITES,
  timeoutMs = 20_000,
): Promise<Record<string, SuiteState>> {
  const states = await Promise.all(
    suites.map(async (s) => {
      const text = (await fetchBuffer(`${s.mirror}/dists/${s.name}/InRelease`, timeoutMs)).toString(
        "utf8",
      );
      return [s.name, parseInRelease(text)] as const;
    }),
  );
  return Object.fromEntries(states);
}

/**
 * A suite's package index at `state` (downloaded, its SHA-256 checked against the InRelease,
 * decompressed with xz, which dpkg-dev depends on).
 */
export async function fetchSuiteIndex(
  suite: DebianSuite,
  state: SuiteState,
  timeoutMs = 120_000,
): Promise<Map<string, string>> {
  const xz = await fetchBuffer(`${suite.mirror}/dists/${suite.name}/${INDEX_PATH}`, timeoutMs);
  const got = createHash("sha256").update(xz).digest("hex");
  if (got !== state.sha256) {
    throw new Error(
      `${suite.name} ${INDEX_PATH}: SHA-256 ${got} is not the InRelease's ${state.sha256} (the mirror is mid-update: try again)`,
    );
  }
  // bookworm's index is ~50 MB decompressed.
  const r = spawnSync("xz", ["-dc"], { input: xz, maxBuffer: 512 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    throw new Error(
      `xz -dc of ${suite.name}'s index failed: ${r.error?.message ?? r.stderr.toString().trim()}`,
    );
  }
  return packageVersions(r.stdout.toString("utf8"));
}
