/**
 * lab/imageFreshness.ts staleness: a cached root is compared with the suites as a local mirror serves
 * them (InRelease + the amd64 main index, xz-compressed as Debian's are), on loopback only.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DebianSuite } from "../../../lab/debian";
import { type BuiltFrom, staleness } from "../../../lab/imageFreshness";

const files = new Map<string, Buffer>();
let server: Server;
let mirror = "";
const dirs: string[] = [];
let requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = files.get(req.url ?? "");
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
});
afterAll(() => {
  server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Publishes `suite` with these packages; returns the index's SHA-256. */
function publish(suite: string, packages: Record<string, string>): string {
  const text = Object.entries(packages)
    .map(([p, v]) => `Package: ${p}\nVersion: ${v}\nArchitecture: all\n`)
    .join("\n");
  const xz = spawnSync("xz", ["-c"], { input: text }).stdout;
  const sha = createHash("sha256").update(xz).digest("hex");
  files.set(`/debian/dists/${suite}/main/binary-amd64/Packages.xz`, xz);
  files.set(
    `/debian/dists/${suite}/InRelease`,
    Buffer.from(
      `Codename: ${suite}\nDate: Sat, 05 Dec 2026 00:00:00 UTC\nSHA256:\n ${sha} ${xz.length} main/binary-amd64/Packages.xz\n`,
    ),
  );
  return sha;
}

function build(b: BuiltFrom): string {
  const dir = mkdtempSync(join(tmpdir(), "ntp-lab-fresh-"));
  dirs.push(dir);
  writeFileSync(join(dir, "built-from.json"), JSON.stringify(b));
  return dir;
}

describe("is a cached root older than Debian's suites?", () => {
  it("names each package a changed suite has newer; unchanged suites are not downloaded", async () => {
    const suites: DebianSuite[] = [
      { name: "r1", mirror },
      { name: "r1-security", mirror },
    ];
    const base = publish("r1", { tzdata: "2026b-0+deb12u1", ntpsec: "1.2.2+dfsg1-1" });
    publish("r1-security", { tzdata: "2026b-0+deb12u1" });
    const dir = build({
      builtAt: "2026-11-01T00:00:00Z",
      suites: {
        r1: { date: "x", sha256: base, size: 1 },
        "r1-security": { date: "x", sha256: "old", size: 1 },
      },
      packages: { tzdata: "2026b-0+deb12u1", ntpsec: "1.2.2+dfsg1-1" },
    });
    // The security suite changed, but not for any package of the root: current, and recorded.
    requests = [];
    expect(await staleness(dir, suites)).toEqual([]);
    expect(requests).toEqual([
      "/debian/dists/r1/InRelease",
      "/debian/dists/r1-security/InRelease",
      "/debian/dists/r1-security/main/binary-amd64/Packages.xz",
    ]);
    const recorded = JSON.parse(readFileSync(join(dir, "built-from.json"), "utf8")) as BuiltFrom;
    expect(recorded.suites["r1-security"]?.sha256).not.toBe("old");
  });

  it("a newer tzdata in the security suite makes the root stale", async () => {
    const suites: DebianSuite[] = [
      { name: "r2", mirror },
      { name: "r2-security", mirror },
    ];
    const base = publish("r2", { tzdata: "2026b-0+deb12u1" });
    publish("r2-security", { tzdata: "2026f-0+deb12u1", curl: "9" });
    const dir = build({
      builtAt: "2026-11-01T00:00:00Z",
      suites: {
        r2: { date: "x", sha256: base, size: 1 },
        "r2-security": { date: "x", sha256: "old", size: 1 },
      },
      packages: { tzdata: "2026b-0+deb12u1" },
    });
    expect(await staleness(dir, suites)).toEqual([
      { name: "tzdata", have: "2026b-0+deb12u1", suite: "r2-security", newer: "2026f-0+deb12u1" },
    ]);
  });

  it("an index that does not match its InRelease hash is refused", async () => {
    const suites: DebianSuite[] = [{ name: "r3", mirror }];
    publish("r3", { tzdata: "2026f-0+deb12u1" });
    files.set("/debian/dists/r3/main/binary-amd64/Packages.xz", Buffer.from("tampered"));
    const dir = build({
      builtAt: "2026-11-01T00:00:00Z",
      suites: { r3: { date: "x", sha256: "old", size: 1 } },
      packages: { tzdata: "2026b-0+deb12u1" },
    });
    await expect(staleness(dir, suites)).rejects.toThrow(/is not the InRelease's/);
  });

  it("no answer from the mirror is an error (the caller then keeps the cache, saying so)", async () => {
    const dir = build({
      builtAt: "2026-11-01T00:00:00Z",
      suites: {},
      packages: {},
    });
    await expect(staleness(dir, [{ name: "absent", mirror }])).rejects.toThrow(/HTTP 404/);
  });
});
