/**
 * The tests run no host program beyond the build tools of docs/host-safety.md#host-packages:
 * the real-tool and lab tiers run with a PATH of the allowed host programs only
 * (test/globalSetup.ts, test/helpers/hostPath.ts), and no source names a host program by absolute path unless it is allowed or the path is run
 * inside one of the lab's images (IMAGE_PROGRAMS, by file).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { allowedHostPrograms } from "../helpers/hostPath";
import { requireRealTools } from "../helpers/realTools";

const ROOT = join(__dirname, "..", "..");

/**
 * Absolute program paths that are run inside a lab image (imageExec, a droplet), not on the
 * host, by the file that names them. Add to it only a path that file runs from an image.
 */
const IMAGE_PROGRAMS: Readonly<Record<string, readonly string[]>> = {
  "bench/daemons.ts": ["/usr/sbin/ntpd", "/usr/sbin/chronyd", "/usr/bin/chronyc"],
  "lab/upstreams.ts": ["/usr/sbin/ntpd"],
  "test/helpers/netns.ts": ["/usr/sbin/ntpd"],
  "test/helpers/timekeeping.ts": ["/usr/sbin/ntpd", "/usr/bin/python3"],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir))) {
    const p = join(ROOT, dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(relative(ROOT, p)));
    else if (e.endsWith(".ts")) out.push(relative(ROOT, p));
  }
  return out;
}

describe("host programs of the tests", () => {
  it("the tiers run with the allowed programs only on PATH: python3, nft and ssh are not found", () => {
    requireRealTools([]);
    const dir = process.env.NTP_LAB_RESTRICTED_PATH;
    expect(dir, "test/globalSetup.ts sets the restricted PATH").toBeTruthy();
    expect(process.env.PATH).toBe(dir);
    for (const p of ["python3", "nft", "ssh", "ntpq", "cloud-init"]) {
      const r = spawnSync(p, ["--version"]);
      expect((r.error as NodeJS.ErrnoException | undefined)?.code, p).toBe("ENOENT");
    }
    for (const p of ["ip", "unshare", "capsh", "debootstrap", "gcc", "node", "xz", "tar"]) {
      const r = spawnSync(p, ["--version"]);
      expect(r.error, p).toBeUndefined();
    }
  });

  it("no source runs a host program by an absolute path that is not allowed", () => {
    requireRealTools([]);
    const allowed = new Set([...allowedHostPrograms().keys()]);
    const self = relative(ROOT, __filename);
    const files = ["lab", "test", "bench", "verify", "pool"]
      .flatMap(sources)
      .filter((f) => f !== self);
    expect(files.length).toBeGreaterThan(50);
    const found: string[] = [];
    const bad: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(ROOT, f), "utf8");
      for (const m of text.matchAll(/["'`](\/(?:usr\/)?s?bin\/([A-Za-z0-9._+-]+))["'`]/g)) {
        const [, path, name] = m as unknown as [string, string, string];
        found.push(`${f}: ${path}`);
        if (allowed.has(name) || IMAGE_PROGRAMS[f]?.includes(path)) continue;
        bad.push(`${f}: ${path}`);
      }
    }
    // The scan sees the paths it must judge (an empty scan would pass by construction).
    expect(found).toContain("test/helpers/timekeeping.ts: /usr/bin/python3");
    expect(
      bad,
      "run these from a lab image (lab/imageExec.ts), or allow them (lab/prereqs.ts, docs/host-safety.md)",
    ).toEqual([]);
  });
});
