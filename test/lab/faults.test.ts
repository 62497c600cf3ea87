import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { defaultCacheDir } from "../../lab/image";
import { type LabReport, runLab } from "../../lab/run";
import { leftovers } from "../../lab/teardown";
import { requireRealTools } from "../real/prereqs";

// Faults in the lab (issue 5): all upstreams unreachable → the verification fails within its
// bound, saying so; the lab interrupted by SIGINT or SIGTERM at each step of a run → nothing
// left behind. (One upstream of four down is part of test/lab/attacks.test.ts's run.)

const ROOT = resolve(__dirname, "..", "..");
const TSX_CLI = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
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

describe("lab faults", () => {
  it("all upstreams unreachable: verification fails within verifyTimeoutSeconds and says why", async () => {
    requireRealTools(["ip", "nft", "ntpdig", "ssh", "capsh"]);
    // The on-droplet check's bound counts from its start, cloud-init included: 240 s covers
    // the lab's boot (apt from the local repository) and leaves ~2 minutes of no upstreams.
    const file = stackFile("allup", ["  ntp-pool:verifyTimeoutSeconds: 240"]);
    const t0 = Date.now();
    let report: LabReport | undefined;
    const error = await runLab({
      stackFile: file,
      cacheDir: defaultCacheDir(),
      faults: { upstreamsDown: 4 },
      log: (msg) => console.log(`[lab] ${msg}`),
    }).then(
      (r) => {
        report = r;
        return undefined;
      },
      (e: Error & { report?: LabReport }) => {
        report = e.report;
        return e;
      },
    );
    const seconds = (Date.now() - t0) / 1000;
    const first = error?.message.split("\n").find((l) => l.includes("FAIL")) ?? error?.message;
    console.log(`fault all upstreams down: run failed after ${seconds.toFixed(0)} s: ${first}`);
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toContain("allup-1-verify-on-droplet");
    expect(error?.message).toContain("0 of 4 upstreams reachable");
    expect(error?.message).toContain("outbound UDP 123");
    // The bound the check ran with is the stack's, not the 600 s default.
    expect(error?.message).toContain("at most 240 s");
    if (report) {
      expect(leftovers(report.prefix)).toEqual({
        namespaces: [],
        etcNetns: [],
        processes: [],
        mounts: [],
      });
    }
  }, 900_000);
});

/** Steps of a run as the lab CLI logs them, in order: interrupting at each must leave nothing. */
const STEPS: [string, RegExp, number][] = [
  ["topology up", /topology up/, 0],
  ["firewall realised", /firewall ntppool-/, 0],
  ["upstreams starting", /upstream \S+ → /, 0],
  ["droplet booting", /droplet \S+ \(id \d+\): booting/, 0],
  ["reserved IP assigned", /reserved IP \S+ → anchor/, 0],
  // cloud-init is installing packages and the on-droplet check is polling over SSH.
  ["mid-boot, verification waiting", /reserved IP \S+ → anchor/, 15_000],
];

async function interruptAt(step: RegExp, delayMs: number, signal: NodeJS.Signals) {
  const file = stackFile("intr");
  const child: ChildProcess = spawn(
    process.execPath,
    [TSX_CLI, join(ROOT, "lab", "cli.ts"), "--stack-file", file],
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

describe("lab interrupted at each step leaves nothing behind", () => {
  const cases = STEPS.flatMap(([name, re, delay]) =>
    (["SIGINT", "SIGTERM"] as const).map((sig) => [`${sig} at ${name}`, re, delay, sig] as const),
  );
  it.each(cases)(
    "%s",
    async (_what, re, delay, sig) => {
      requireRealTools(["ip", "nft", "capsh"]);
      const r = await interruptAt(re, delay, sig);
      const left = r.prefix ? leftovers(r.prefix) : undefined;
      console.log(`interrupt ${_what}: exit ${r.code}, leftovers ${JSON.stringify(left)}`);
      expect(r.sent, r.lines.join("\n")).toBe(true);
      expect(r.prefix).toBeDefined();
      expect(r.code).toBe(sig === "SIGINT" ? 130 : 143);
      expect(r.lines.join("\n")).toContain(`${sig}: tearing down`);
      expect(left).toEqual({ namespaces: [], etcNetns: [], processes: [], mounts: [] });
    },
    360_000,
  );
});
