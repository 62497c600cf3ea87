import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  DEBIAN_SUITES,
  type DebianSuite,
  fetchSuiteIndex,
  fetchSuiteStates,
  type StalePackage,
  type SuiteState,
  stalePackages,
} from "./debian";

/*
 * Whether a cached root is still as current as Debian's suites (lab/debian.ts): what each
 * build records it was built from, and the comparison with what the suites offer now.
 */

/** What a cached root was built from, beside it as `built-from.json`. */
export interface BuiltFrom {
  readonly builtAt: string;
  /** Each suite's package index when the build started (lab/debian.ts). */
  readonly suites: Readonly<Record<string, SuiteState>>;
  /** Package → version the root holds (for the droplet image: also what its repository adds). */
  readonly packages: Readonly<Record<string, string>>;
}

export const BUILT_FROM = "built-from.json";

/** A complete build of one root: `<cacheDir>/<base>-<suites hash>/{root,complete,built-from.json}`. */
export interface Build {
  readonly dir: string;
  readonly builtFrom: BuiltFrom;
}

/** The most recently built complete build whose directory starts with `base-`. */
export function newestBuild(cacheDir: string, base: string): Build | undefined {
  if (!existsSync(cacheDir)) return undefined;
  let best: Build | undefined;
  for (const name of readdirSync(cacheDir)) {
    if (!name.startsWith(`${base}-`) || name.includes(".")) continue;
    const dir = join(cacheDir, name);
    if (!existsSync(join(dir, "complete"))) continue;
    let builtFrom: BuiltFrom;
    try {
      builtFrom = JSON.parse(readFileSync(join(dir, BUILT_FROM), "utf8")) as BuiltFrom;
    } catch {
      continue;
    }
    if (best === undefined || builtFrom.builtAt > best.builtFrom.builtAt) best = { dir, builtFrom };
  }
  return best;
}

export function suitesHash(suites: Readonly<Record<string, SuiteState>>): string {
  const ids = DEBIAN_SUITES.map((s) => `${s.name}:${suites[s.name]?.sha256 ?? "?"}`);
  return createHash("sha256").update(ids.join("\n")).digest("hex").slice(0, 8);
}

/** The suites' states, read once per process and mirror (both roots ask). */
const suiteStates = new Map<string, Promise<Record<string, SuiteState>>>();
const indexes = new Map<string, Promise<Map<string, string>>>();

export function statesOnce(suites: readonly DebianSuite[]): Promise<Record<string, SuiteState>> {
  const key = suites.map((s) => `${s.mirror} ${s.name}`).join("\n");
  let p = suiteStates.get(key);
  if (p === undefined) {
    p = fetchSuiteStates(suites);
    // A failed answer is not kept: the next run (or root) asks again.
    p.catch(() => suiteStates.delete(key));
    suiteStates.set(key, p);
  }
  return p;
}

/**
 * The packages of the build in `dir` that `suites` now offer in a newer version (empty: the
 * build is current). A suite whose package index is unchanged since the build is not read; when
 * indexes changed without touching the build, built-from.json records them, so the next run
 * does not download them again. Throws when the mirror cannot be asked.
 */
export async function staleness(
  dir: string,
  suites: readonly DebianSuite[] = DEBIAN_SUITES,
): Promise<StalePackage[]> {
  const builtFrom = JSON.parse(readFileSync(join(dir, BUILT_FROM), "utf8")) as BuiltFrom;
  const now = await statesOnce(suites);
  const changed = suites.filter((s) => now[s.name]?.sha256 !== builtFrom.suites[s.name]?.sha256);
  const offered = new Map<string, Map<string, string>>();
  for (const s of changed) {
    const state = now[s.name] as SuiteState;
    const key = `${s.mirror} ${s.name} ${state.sha256}`;
    let index = indexes.get(key);
    if (index === undefined) {
      index = fetchSuiteIndex(s, state);
      index.catch(() => indexes.delete(key));
      indexes.set(key, index);
    }
    offered.set(s.name, await index);
  }
  const stale = stalePackages(new Map(Object.entries(builtFrom.packages)), offered);
  if (stale.length === 0 && changed.length > 0) {
    const updated: BuiltFrom = { ...builtFrom, suites: { ...builtFrom.suites, ...now } };
    writeFileSync(join(dir, BUILT_FROM), `${JSON.stringify(updated, null, 2)}\n`);
  }
  return stale;
}
