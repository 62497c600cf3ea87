import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultCacheDir } from "../../lab/image";

/**
 * DigitalOcean's own CLI for the emulator's tests, built from the Go module proxy into the
 * lab cache (never committed, never on the PATH). Pinned: v1.166.0 is the newest release in
 * the doctl commit docs/digitalocean-api.md was read from, and it compiles godo 1.202.0 — the godo that
 * terraform-provider-digitalocean v2.99.1 vendors.
 */
export const DOCTL_VERSION = "v1.166.0";
const MODULE = "github.com/digitalocean/doctl";

export interface DoctlInstall {
  readonly bin: string;
  /** How it was obtained, for the test log. */
  readonly how: string;
}

/** The line of go's error saying what the proxy refused. */
const refusal = (msg: string): string =>
  (msg.split("\n").find((l) => /@v\/list/.test(l)) ?? msg.split("\n")[0] ?? "").trim();

/** Runs one `go` command in `cwd` with the cache's module/build caches; throws with its output. */
function go(args: readonly string[], cwd: string, env: Record<string, string>): string {
  const r = spawnSync("go", args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 15 * 60_000,
  });
  if (r.error)
    throw new Error(
      `go ${args.join(" ")}: ${r.error.message} (is Go installed? the doctl tests need it)`,
    );
  if (r.status !== 0)
    throw new Error(`go ${args.join(" ")} failed (exit ${r.status}):\n${r.stderr.trim()}`);
  return r.stderr;
}

/**
 * The doctl binary, building it on first use: `go install …/cmd/doctl@v1.166.0`; where the
 * module proxy refuses doctl's version list (which `go install pkg@version` reads for its
 * deprecation check, as on these machines: 403), the same pinned version is installed from a
 * throw-away module that requires it. Throws — the tests then fail, never skip — if neither works.
 */
export function ensureDoctl(cacheDir = defaultCacheDir()): DoctlInstall {
  const dir = join(cacheDir, "doctl", DOCTL_VERSION);
  const bin = join(dir, "bin", "doctl");
  if (existsSync(bin)) return { bin, how: `cached ${bin}` };
  mkdirSync(dir, { recursive: true });
  // Built into a private directory, then renamed: two runs at once never see half a binary.
  const tmpBin = join(dir, `bin.tmp-${process.pid}`);
  const env = {
    GOBIN: tmpBin,
    GOMODCACHE: join(cacheDir, "go", "mod"),
    GOCACHE: join(cacheDir, "go", "build"),
    // Module-cache files writable, so the lab cache can be deleted with rm -r.
    GOFLAGS: "-modcacherw",
  };
  let how = `go install ${MODULE}/cmd/doctl@${DOCTL_VERSION}`;
  try {
    try {
      go(["install", `${MODULE}/cmd/doctl@${DOCTL_VERSION}`], dir, env);
    } catch (e) {
      if (!/@v\/list|deprecation/.test((e as Error).message)) throw e;
      const mod = join(dir, `mod.tmp-${process.pid}`);
      rmSync(mod, { recursive: true, force: true });
      mkdirSync(mod, { recursive: true });
      writeFileSync(
        join(mod, "go.mod"),
        `module doctlbuild\n\ngo 1.24\n\nrequire ${MODULE} ${DOCTL_VERSION}\n`,
      );
      writeFileSync(
        join(mod, "tools.go"),
        `//go:build tools\n\npackage tools\n\nimport _ "${MODULE}/cmd/doctl"\n`,
      );
      go(["mod", "tidy"], mod, env);
      go(["install", `${MODULE}/cmd/doctl`], mod, env);
      rmSync(mod, { recursive: true, force: true });
      how = `go install ${MODULE}/cmd/doctl in a module requiring ${DOCTL_VERSION} (${refusal((e as Error).message)})`;
    }
    mkdirSync(join(dir, "bin"), { recursive: true });
    if (!existsSync(bin)) renameSync(join(tmpBin, "doctl"), bin);
  } finally {
    rmSync(tmpBin, { recursive: true, force: true });
  }
  return { bin, how };
}
