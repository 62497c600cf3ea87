import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type ExpectStatic, expect as globalExpect } from "vitest";
import { toolsRoot } from "../../lab/image";
import { imageSpawnSync } from "../../lab/imageExec";
import { missingPackages, notRunnable } from "../../lab/prereqs";
import type { LabReport } from "../../lab/report";
import { leftovers } from "../../lab/teardown";
import { tempDir } from "./tempDir";

export const ROOT = resolve(__dirname, "..", "..");

/** Throws (never skips) when the lab cannot run here, saying what to do. */
export function assertLabPrerequisites(): void {
  const why = notRunnable();
  if (why) throw new Error(`lab tests: ${why.replace("npm run lab", "npm test")}`);
  const missing = missingPackages();
  if (missing.length > 0) {
    throw new Error(
      `lab tests: missing host packages ${missing.join(" ")}: run \`sudo npm test\` (its setup installs them) or \`sudo npm run lab\``,
    );
  }
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  prefix: string;
  report?: LabReport;
}

/** Runs `npm run lab -- <args>` as its own process (one program per process, like `pulumi up`). */
export function runLabCli(
  args: string[],
  opts: { onLine?: (line: string, child: ReturnType<typeof spawn>) => void } = {},
): Promise<CliRun> {
  const dir = mkdtempSync(join(tmpdir(), "ntp-lab-test-"));
  const reportPath = join(dir, "report.json");
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "node_modules/tsx/dist/cli.mjs"),
      join(ROOT, "lab/cli.ts"),
      "--report",
      reportPath,
      ...args,
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let prefix = "";
  let buf = "";
  const onData = (b: Buffer) => {
    out += b.toString();
    buf += b.toString();
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      prefix ||= /run (ntpl-[0-9a-f]{6})/.exec(line)?.[1] ?? "";
      opts.onLine?.(line, child);
      i = buf.indexOf("\n");
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return new Promise((res) => {
    child.on("close", (code, signal) => {
      let report: LabReport | undefined;
      try {
        report = JSON.parse(readFileSync(reportPath, "utf8")) as LabReport;
      } catch {
        report = undefined;
      }
      // The report is read: nothing of the run stays in the temporary directory.
      rmSync(dir, { recursive: true, force: true });
      res({ code, signal, out, prefix, report });
    });
  });
}

/**
 * A copy of the project files with a stack file of our own (e.g. a shorter verify bound),
 * removed when the calling test ends.
 */
export function stackWith(extraYaml: string): string {
  return stackIn(tempDir("ntp-lab-stack-"), extraYaml);
}

/** {@link stackWith} in a folder of the caller's, which removes it (e.g. from a beforeAll). */
export function stackIn(dir: string, extraYaml: string): string {
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
  const file = join(dir, "Pulumi.labtest.yaml");
  writeFileSync(
    file,
    readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8").replace(
      /^config:\n/m,
      `config:\n${extraYaml}`,
    ),
  );
  return file;
}

/**
 * The kernel's clock discipline state (adjtimex(2) with modes 0: read only). python3 of the
 * lab's tools image asks (the clock is one for every namespace and root); the host needs none.
 */
export function hostTimex(): { status: number; freq: number; offset: number } {
  const py = [
    "import ctypes, json",
    "class T(ctypes.Structure):",
    "    _fields_ = [('modes', ctypes.c_uint), ('offset', ctypes.c_long), ('freq', ctypes.c_long),",
    "                ('maxerror', ctypes.c_long), ('esterror', ctypes.c_long), ('status', ctypes.c_int),",
    "                ('pad', ctypes.c_byte * 256)]",
    "t = T()",
    "ctypes.CDLL('libc.so.6', use_errno=True).adjtimex(ctypes.byref(t))",
    "print(json.dumps({'status': t.status, 'freq': t.freq, 'offset': t.offset}))",
  ].join("\n");
  const r = imageSpawnSync(["python3", "-c", py], { root: toolsRoot() });
  if (r.status !== 0) throw new Error(`adjtimex via python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; freq: number; offset: number };
}

/** Seconds from the start of the run to the first log line matching `re`, or undefined. */
export function at(run: CliRun, re: RegExp): number | undefined {
  const line = run.out.split("\n").find((l) => re.test(l));
  const s = line && /^\[\s*([\d.]+) s\]/.exec(line)?.[1];
  return s ? Number(s) : undefined;
}

/**
 * The run named its prefix and left nothing of it behind (namespaces, mounts, processes).
 * A concurrent test passes its context's `expect`.
 */
export function expectClean(run: CliRun, expect: ExpectStatic = globalExpect): void {
  expect(run.prefix, `no run prefix in output:\n${run.out.slice(0, 2000)}`).toMatch(/^ntpl-/);
  expect(leftovers(run.prefix)).toEqual({
    namespaces: [],
    etcNetns: [],
    processes: [],
    mounts: [],
  });
}
