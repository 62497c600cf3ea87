/**
 * Part 1b: lab start → verified member, from the lab's own JSON report
 * (`npm run lab -- --report F`, lab/cli.ts). Each run is a separate process bounded in
 * time; the first failing run ends this part, and no figure is written for a failed run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { LabResults, LabRun } from "./results";
import { summarize } from "./stats";
import { ROOT } from "./tools";

const TSX_CLI = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const LAB_CLI = path.join(ROOT, "lab", "cli.ts");

/** The fields of the lab's report (lab/run.ts LabReport) this part reads. */
export function readLabReport(text: string): Omit<LabRun, "wallSeconds" | "report"> {
  const r = JSON.parse(text) as {
    ok?: unknown;
    seconds?: unknown;
    error?: unknown;
    members?: {
      syncSeconds?: unknown;
      bootSeconds?: unknown;
      verification?: { ok?: unknown };
      cloudInit?: { stages?: { name?: unknown; seconds?: unknown }[] };
    }[];
  };
  if (typeof r.ok !== "boolean" || typeof r.seconds !== "number" || !Array.isArray(r.members)) {
    throw new Error("lab report: expected { ok: boolean, seconds: number, members: [...] }");
  }
  const num = (v: unknown): number | null => (typeof v === "number" ? v : null);
  const slowest = (k: "syncSeconds" | "bootSeconds"): number | null => {
    const v = (r.members ?? []).map((m) => num(m[k]));
    return v.length > 0 && v.every((x) => x !== null) ? Math.max(...(v as number[])) : null;
  };
  const stages = (r.members[0]?.cloudInit?.stages ?? []).flatMap((st) =>
    typeof st.name === "string" && typeof st.seconds === "number"
      ? [{ name: st.name, seconds: st.seconds }]
      : [],
  );
  const verified =
    r.ok && r.members.length > 0 && r.members.every((m) => m.verification?.ok === true);
  return {
    ok: verified,
    labSeconds: verified ? r.seconds : null,
    syncSeconds: slowest("syncSeconds"),
    bootSeconds: slowest("bootSeconds"),
    stages,
    ...(typeof r.error === "string" ? { error: r.error } : {}),
  };
}

export async function measureLab(
  runs: number,
  dir: string,
  timeoutSeconds: number,
  log: (m: string) => void,
): Promise<LabResults> {
  if (!existsSync(LAB_CLI))
    return { available: false, reason: `${path.relative(ROOT, LAB_CLI)} does not exist`, runs: [] };
  const out: LabRun[] = [];
  for (let i = 1; i <= runs; i++) {
    const report = path.join(dir, `lab-report-${i}.json`);
    rmSync(report, { force: true });
    const t0 = Date.now();
    const { code, tail } = await runBounded(
      [
        process.execPath,
        TSX_CLI,
        LAB_CLI,
        "--report",
        report,
        "--sync-timeout",
        String(timeoutSeconds),
      ],
      path.join(dir, `lab-${i}.log`),
      (timeoutSeconds + 60) * 1000,
    );
    const wallSeconds = (Date.now() - t0) / 1000;
    let run: LabRun;
    if (existsSync(report)) {
      run = { ...readLabReport(readFileSync(report, "utf8")), wallSeconds, report };
    } else {
      run = {
        ok: false,
        wallSeconds,
        labSeconds: null,
        syncSeconds: null,
        bootSeconds: null,
        stages: [],
        error: `exit ${code}, no report; last output: ${tail}`,
      };
    }
    out.push(run);
    log(
      `lab run ${i}/${runs}: ${run.ok ? `verified after ${run.labSeconds?.toFixed(1)} s (member synced ${run.syncSeconds?.toFixed(1)} s after creation)` : `FAILED: ${run.error ?? "not verified"}`}`,
    );
    if (!run.ok) {
      return {
        available: false,
        reason: `lab run ${i} did not verify its member: ${(run.error ?? "not verified").slice(0, 300)}`,
        runs: out,
      };
    }
  }
  const ok = out.filter((r) => r.labSeconds !== null);
  return {
    available: true,
    runs: out,
    labSeconds: summarize(ok.map((r) => r.labSeconds as number)),
    ...(ok.every((r) => r.syncSeconds !== null)
      ? { syncSeconds: summarize(ok.map((r) => r.syncSeconds as number)) }
      : {}),
  };
}

let current: ChildProcess | undefined;

/** SIGTERM to a running lab (it tears itself down on SIGTERM); for the bench's signal handler. */
export function abortLab(): void {
  if (current && current.exitCode === null) current.kill("SIGTERM");
}

/** Runs argv with output to `logFile`; SIGTERM at the bound (the lab tears down on it), SIGKILL 30 s later. */
export function runBounded(
  argv: readonly string[],
  logFile: string,
  limitMs: number,
): Promise<{ code: number; tail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    current = child;
    const chunks: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => chunks.push(b));
    child.stderr.on("data", (b: Buffer) => chunks.push(b));
    let kill: NodeJS.Timeout | undefined;
    const term = setTimeout(() => {
      child.kill("SIGTERM");
      kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    }, limitMs);
    child.on("error", (e) => reject(new Error(`cannot run the lab: ${e.message}`)));
    child.on("close", (code) => {
      current = undefined;
      clearTimeout(term);
      if (kill) clearTimeout(kill);
      const text = Buffer.concat(chunks).toString();
      writeFileSync(logFile, text);
      resolve({
        code: code ?? -1,
        tail: text.trim().split("\n").slice(-3).join(" | ").slice(0, 400),
      });
    });
  });
}
