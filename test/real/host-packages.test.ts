import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOST_PACKAGES } from "../../lab/prereqs";

// lab/prereqs.ts HOST_PACKAGES, checked against the packages' own metadata: the .debs apt
// would install for them (the list and its Depends closure, as `apt-get install
// --no-install-recommends` resolves it) are downloaded from the host's apt sources into a
// temporary directory and read with dpkg-deb. Nothing is installed.

const UNIT = /^\.\/(usr\/)?lib\/systemd\/(system|user)\/|^\.\/etc\/systemd\/|^\.\/etc\/init\.d\//;
let dir: string;
/** Every package apt would consider for HOST_PACKAGES, from the host's apt database. */
let closure: string[];
/** dpkg's installed packages: name → version. */
const installed = new Map<string, string>();

function must(argv: string[], cwd?: string): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", cwd });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * The packages apt would install for `wanted` with --no-install-recommends: Depends and
 * Pre-Depends, recursively, taking the first of each group of alternatives (`a | b`, apt's
 * choice) and the first provider of a virtual package, as `apt-cache depends` lists them.
 */
function dependsClosure(wanted: readonly string[]): string[] {
  const seen = new Set<string>();
  let next = [...wanted];
  while (next.length > 0) {
    for (const p of next) seen.add(p);
    const text = must(["apt-cache", "depends", "--no-recommends", "--no-suggests", ...next]);
    next = [];
    let alternative = false;
    let virtual = false;
    const take = (name: string) => {
      if (!seen.has(name) && !next.includes(name)) next.push(name);
    };
    for (const line of text.split("\n")) {
      const dep = /^ ( |\|)(?:Pre)?Depends: (\S+)/.exec(line);
      if (dep) {
        const first = !alternative;
        alternative = dep[1] === "|";
        virtual = false;
        if (!first) continue;
        const name = dep[2] as string;
        if (name.startsWith("<")) virtual = true;
        else take(name);
        continue;
      }
      const provider = /^ {4}(\S+)$/.exec(line);
      if (provider && virtual) {
        take(provider[1] as string);
        virtual = false;
        continue;
      }
      if (/^\S/.test(line)) alternative = false;
      if (!/^ {4}/.test(line)) virtual = false;
    }
  }
  return [...seen].sort();
}

beforeAll(() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    throw new Error(
      "the host-package check needs Linux and root (apt-get download): sudo npm test",
    );
  }
  dir = mkdtempSync(path.join(tmpdir(), "ntppool-hostpkgs-"));
  closure = dependsClosure(Object.keys(HOST_PACKAGES));
  const fmt = ["$", "{Package} $", "{Version} $", "{db:Status-Abbrev}\\n"].join("");
  for (const line of must(["dpkg-query", "-W", `-f=${fmt}`]).split("\n")) {
    const [name, version, status] = line.split(" ");
    if (name && version && status?.startsWith("ii")) installed.set(name, version);
  }
  must(["apt-get", "download", "-q", ...closure], dir);
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The downloaded .deb of `pkg`. */
function deb(pkg: string): string {
  const f = readdirSync(dir).find((n) => n.startsWith(`${pkg}_`) && n.endsWith(".deb"));
  if (!f) throw new Error(`apt-get download ${pkg}: no .deb in ${dir}`);
  return path.join(dir, f);
}

/** `name (op version)` entries of a Conflicts/Breaks field, alternatives flattened. */
function relations(field: string): { name: string; op?: string; version?: string }[] {
  return field
    .split(/[,|]/)
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => {
      const m = /^([a-z0-9.+-]+)(?::\S+)?\s*(?:\((<<|<=|=|>=|>>)\s*([^)]+)\))?$/.exec(s);
      if (!m) throw new Error(`cannot parse relation "${s}"`);
      return { name: m[1] as string, op: m[2], version: m[3]?.trim() };
    });
}

describe("host packages (lab/prereqs.ts) against their own metadata", () => {
  it("the closure is found and holds every listed package", () => {
    // A list emptied by mistake would leave the loop nothing to check.
    expect(Object.keys(HOST_PACKAGES).length).toBeGreaterThan(0);
    for (const p of Object.keys(HOST_PACKAGES)) expect(closure).toContain(p);
    console.log(
      `host packages: ${Object.keys(HOST_PACKAGES).length} listed, ${closure.length} with dependencies`,
    );
  });

  it("no listed package, nor a dependency apt could install, ships a systemd unit or init script", () => {
    const found: string[] = [];
    for (const p of closure) {
      // Essential and priority-required packages are on every Debian system: never ours.
      if (/yes|required/.test(must(["dpkg-deb", "-f", deb(p), "Essential", "Priority"]))) continue;
      const units = must(["dpkg-deb", "-c", deb(p)])
        .split("\n")
        .map((l) => l.split(/\s+/).at(-1) ?? "")
        .filter((f) => UNIT.test(f) && !f.endsWith("/"));
      for (const u of units) found.push(`${p}: ${u}`);
    }
    expect(found).toEqual([]);
  }, 300_000);

  it("none provides or replaces a time daemon", () => {
    const found = closure.filter((p) =>
      /time-daemon/.test(must(["dpkg-deb", "-f", deb(p), "Provides", "Replaces"])),
    );
    expect(found).toEqual([]);
  });

  it("none conflicts with or breaks a package installed on this machine", () => {
    const found: string[] = [];
    for (const p of closure) {
      const fields = must(["dpkg-deb", "-f", deb(p), "Conflicts", "Breaks"]);
      for (const line of fields.split("\n")) {
        const value = line.replace(/^(Conflicts|Breaks):\s*/, "");
        if (value.trim() === "") continue;
        for (const r of relations(value)) {
          const have = installed.get(r.name);
          if (have === undefined || r.name === p) continue;
          const hit =
            r.op === undefined ||
            spawnSync("dpkg", ["--compare-versions", have, r.op, r.version ?? ""]).status === 0;
          if (hit) found.push(`${p} ${line.split(":")[0]}: ${r.name} ${have}`);
        }
      }
    }
    expect(found).toEqual([]);
  });

  it("the check can fail: openssh-client's user unit and ntpsec's time-daemon are seen", () => {
    must(["apt-get", "download", "-q", "openssh-client", "ntpsec"], dir);
    const units = must(["dpkg-deb", "-c", deb("openssh-client")])
      .split("\n")
      .filter((l) => UNIT.test(l.split(/\s+/).at(-1) ?? ""));
    expect(units.some((l) => l.endsWith("ssh-agent.service"))).toBe(true);
    expect(must(["dpkg-deb", "-f", deb("ntpsec"), "Provides"])).toMatch(/time-daemon/);
  });
});
