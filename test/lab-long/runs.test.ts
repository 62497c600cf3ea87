import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, it } from "vitest";
import { leftovers } from "../../lab/teardown";
import { assertLabPrerequisites, expectClean, runLabCli } from "../helpers/labCli";
import { requireRealTools } from "../helpers/realTools";

// Separate lab runs judged by their outcome alone (exit code, report, leftovers), never by how
// long a step took, so they run side by side as separate `npm run lab` processes of one user
// may: each has its own ntpl- prefix, namespaces and run directory, and the leftovers check
// reads only that prefix.
// - Faults (issue 5): the lab interrupted by SIGINT or SIGTERM at each step of a run leaves
//   nothing behind. Elsewhere: one upstream of four down is part of
//   test/lab-long/attacks.test.ts's run; all upstreams unreachable (verification fails within
//   verifyTimeoutSeconds, saying so) is test/lab/lab.test.ts's.
// - Several members of one stack deployed together.

const ROOT = resolve(__dirname, "..", "..");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A stack file next to a copy of Pulumi.yaml; `extra` lines go under `config:`. */
function stackFile(name: string, extra: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), `ntp-lab-${name}-`));
  dirs.push(dir);
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
  const file = join(dir, `Pulumi.${name}.yaml`);
  writeFileSync(
    file,
    [
      "config:",
      "  ntp-pool:members:",
      `    - name: ${name}-1`,
      "      region: ams3",
      "      ipv6: false",
      "  ntp-pool:upstreams: [ntp1.time.nl, ptbtime1.ptb.de, ptbtime2.ptb.de, sth1.ntp.se]",
      "  ntp-pool:sshSourceCidrs: [203.0.113.0/24]",
      ...extra,
      "",
    ].join("\n"),
  );
  return file;
}

/** Steps of a run as the lab CLI logs them, in order: interrupting at each must leave nothing. */
const STEPS: [string, RegExp, number][] = [
  ["topology up", /topology up/, 0],
  ["firewall realised", /firewall ntppool-/, 0],
  ["upstreams starting", /upstream \S+ → /, 0],
  ["droplet booting", /droplet \S+ \(id \d+\): booting/, 0],
  // cloud-init is installing packages while the pre-check polls the droplet's own address.
  ["mid-boot, pre-check waiting", /droplet \S+ \(id \d+\): booting/, 12_000],
  ["reserved IP assigned", /reserved IP \S+ → anchor/, 0],
  // The checks on the reserved addresses are running.
  ["verification on the reserved IP", /reserved IP \S+ → anchor/, 3_000],
];

async function interruptAt(step: RegExp, delayMs: number, signal: NodeJS.Signals) {
  const file = stackFile("intr");
  const child: ChildProcess = spawn(
    process.execPath,
    // As `npm run lab` starts it: node with tsx's loader, no tsx wrapper process (package.json).
    ["--import", "tsx", join(ROOT, "lab", "cli.ts"), "--stack-file", file],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: string[] = [];
  let prefix: string | undefined;
  let sent = false;
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const deadline = setTimeout(() => child.kill("SIGKILL"), 300_000);
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    lines.push(line);
    prefix ??= /run (ntpl-[0-9a-f]{6})/.exec(line)?.[1];
    if (!sent && step.test(line)) {
      sent = true;
      setTimeout(() => child.kill(signal), delayMs);
    }
  });
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (l) =>
    lines.push(l),
  );
  const code = await exited;
  clearTimeout(deadline);
  return { code, prefix, sent, lines };
}

describe.concurrent("separate lab runs, side by side", () => {
  // First: the longest run, started before the interrupt cases take the concurrency slots.
  describe("several members", () => {
    it("brings three members up in parallel", async ({ expect }) => {
      assertLabPrerequisites();
      const run = await runLabCli(["--members", "3"]);
      expect(run.code, run.out.slice(-4000)).toBe(0);
      const m = run.report?.members ?? [];
      expect(m.map((x) => x.verification.ok)).toEqual([true, true, true]);
      expect(new Set(m.map((x) => x.reservedIpv4)).size).toBe(3);
      // In parallel: the three droplets were all created before any verification finished.
      const created = run.out
        .split("\n")
        .filter((l) => /digitalocean:Droplet .* ready/.test(l)).length;
      const firstVerify = run.out.indexOf("verify-on-droplet ready");
      // The last droplet's "ready" line (the API-call table at the end names droplets too).
      const lastDroplet = Math.max(
        ...[...run.out.matchAll(/digitalocean:Droplet \S+ ready/g)].map((x) => x.index ?? -1),
      );
      expect(created).toBe(3);
      expect(lastDroplet).toBeLessThan(firstVerify);
      expectClean(run, expect);
    });
  });

  describe("lab interrupted at each step leaves nothing behind", () => {
    // Each step with one signal, alternating; mid-boot (the longest-lived state:
    // a booting droplet, cloud-init running apt, ssh polling) with both. A step costs a run.
    const cases = STEPS.flatMap(([name, re, delay], i) =>
      (name.startsWith("mid-boot")
        ? (["SIGINT", "SIGTERM"] as const)
        : ([i % 2 === 0 ? "SIGINT" : "SIGTERM"] as const)
      ).map((sig) => [`${sig} at ${name}`, re, delay, sig] as const),
    );
    it.for(cases)("%s", { timeout: 360_000 }, async ([what, re, delay, sig], { expect }) => {
      requireRealTools(["nft"]);
      const r = await interruptAt(re, delay, sig);
      const left = r.prefix ? leftovers(r.prefix) : undefined;
      console.log(`interrupt ${what}: exit ${r.code}, leftovers ${JSON.stringify(left)}`);
      expect(r.sent, r.lines.join("\n")).toBe(true);
      expect(r.prefix).toBeDefined();
      expect(r.code).toBe(sig === "SIGINT" ? 130 : 143);
      expect(r.lines.join("\n")).toContain(`${sig}: tearing down`);
      expect(left).toEqual({ namespaces: [], etcNetns: [], processes: [], mounts: [] });
    });
  });
});
