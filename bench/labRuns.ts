/**
 * Part 1b: lab start → verified member, from the lab's own JSON report
 * (`npm run lab -- --report F`, lab/cli.ts) and its log: the program verifies each member on
 * the droplet's own address (`<member>-precheck-*` commands), then assigns the reserved IPs,
 * then verifies on the reserved addresses (`<member>-verify-*`); the log's
 * "[  t s] <type> <name> ready (d s)" lines (lab/run.ts) time each step. Each run is a
 * separate process bounded in time; the first failing run ends this part, and no figure is
 * written for a failed run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { loadAverage } from "./machine";
import type { CriticalSplit, LabResults, LabRun, LabSummaries, MemberTimeline } from "./results";
import { type Summary, summarize } from "./stats";
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

/** Issue 10's target for lab start → verified, one member (set before the pre-check existed). */
export const LAB_TARGET_SECONDS = 25;

/**
 * Each member's steps on the lab's log clock: "[  28.7 s] command:local:Command
 * ams-ntp-1-precheck-outside ready (7.2 s)" gives the time the resource was done.
 */
export function parseLabTimeline(log: string, members: readonly string[]): MemberTimeline[] {
  const ready = new Map<string, { at: number; took: number }>();
  for (const line of log.split("\n")) {
    const m = /^\[\s*([\d.]+) s\] \S+ (\S+) ready \(([\d.]+) s\)$/.exec(line.trim());
    if (m) ready.set(m[2] as string, { at: Number(m[1]), took: Number(m[3]) });
  }
  return members.map((member) => {
    const mine = (kind: string) =>
      [...ready.entries()].filter(([n]) => n.startsWith(`${member}-${kind}-`));
    const last = (kind: string): number | null => {
      const r = mine(kind);
      return r.length > 0 ? Math.max(...r.map(([, v]) => v.at)) : null;
    };
    const commands = Object.fromEntries(
      [...mine("precheck"), ...mine("verify")].map(([n, v]) => [
        n.slice(member.length + 1),
        v.took,
      ]),
    );
    return {
      member,
      dropletActive: ready.get(`${member}-droplet`)?.at ?? null,
      precheckPassed: last("precheck"),
      ipv4Assigned: ready.get(`${member}-ip-assignment`)?.at ?? null,
      verified: last("verify"),
      commands,
    };
  });
}

/**
 * The run's critical path as consecutive segments (they add up to start → verified), for
 * the member verified last. bootSeconds/syncSeconds count from the droplet's creation,
 * which the lab logs at the Droplet resource's "ready" (the emulated API is `active` as the
 * namespace starts booting). null when a step is missing.
 */
export function criticalSplit(
  t: MemberTimeline,
  bootSeconds: number | null,
  syncSeconds: number | null,
): CriticalSplit | null {
  const { dropletActive: d, precheckPassed: p, ipv4Assigned: a, verified: v } = t;
  if (d === null || p === null || a === null || v === null) return null;
  if (bootSeconds === null || syncSeconds === null) return null;
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    toDroplet: r(d),
    boot: r(bootSeconds),
    sync: r(syncSeconds - bootSeconds),
    precheckAfterSync: r(p - (d + syncSeconds)),
    assignment: r(a - p),
    postcheck: r(v - a),
  };
}

/** Median/min/max of each step and segment over the runs that have it. */
export function summarizeSteps(runs: readonly LabRun[]): LabSummaries {
  const of = (vals: (number | null | undefined)[]): Summary | undefined => {
    const ok = vals.filter((x): x is number => typeof x === "number");
    return ok.length > 0 ? summarize(ok) : undefined;
  };
  const split: Partial<Record<keyof CriticalSplit, Summary>> = {};
  for (const k of [
    "toDroplet",
    "boot",
    "sync",
    "precheckAfterSync",
    "assignment",
    "postcheck",
  ] as const) {
    const s = of(runs.map((x) => x.split?.[k]));
    if (s) split[k] = s;
  }
  return {
    ...opt("dropletActive", of(runs.map((x) => x.timeline?.dropletActive))),
    ...opt("precheckPassed", of(runs.map((x) => x.timeline?.precheckPassed))),
    ...opt("ipv4Assigned", of(runs.map((x) => x.timeline?.ipv4Assigned))),
    ...opt("verified", of(runs.map((x) => x.timeline?.verified))),
    ...(Object.keys(split).length > 0 ? { split } : {}),
  };
}

function opt<K extends string>(k: K, v: Summary | undefined): Partial<Record<K, Summary>> {
  return v === undefined ? {} : ({ [k]: v } as Record<K, Summary>);
}

/** The timeline of the member verified last, and its split, from one run's log and report. */
export function runTimeline(
  log: string,
  reportText: string,
): { timeline?: MemberTimeline; split?: CriticalSplit } {
  const r = JSON.parse(reportText) as {
    members?: { name?: unknown; bootSeconds?: unknown; syncSeconds?: unknown }[];
  };
  const members = (r.members ?? []).flatMap((m) => (typeof m.name === "string" ? [m] : []));
  const lines = parseLabTimeline(
    log,
    members.map((m) => m.name as string),
  );
  let best: number | undefined;
  lines.forEach((t, i) => {
    if (t.verified !== null && (best === undefined || t.verified > (lines[best]?.verified ?? 0)))
      best = i;
  });
  if (best === undefined) return {};
  const t = lines[best] as MemberTimeline;
  const m = members[best];
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  const split = criticalSplit(t, num(m?.bootSeconds), num(m?.syncSeconds));
  return { timeline: t, ...(split ? { split } : {}) };
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
    const logFile = path.join(dir, `lab-${i}.log`);
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
      logFile,
      (timeoutSeconds + 60) * 1000,
    );
    const wallSeconds = (Date.now() - t0) / 1000;
    let run: LabRun;
    const load = loadAverage();
    if (existsSync(report)) {
      const text = readFileSync(report, "utf8");
      run = {
        ...readLabReport(text),
        wallSeconds,
        report,
        ...runTimeline(readFileSync(logFile, "utf8"), text),
        load,
      };
    } else {
      run = {
        ok: false,
        wallSeconds,
        labSeconds: null,
        syncSeconds: null,
        bootSeconds: null,
        stages: [],
        error: `exit ${code}, no report; last output: ${tail}`,
        load,
      };
    }
    out.push(run);
    const tl = run.timeline;
    log(
      `lab run ${i}/${runs}: ${run.ok ? `verified after ${run.labSeconds?.toFixed(1)} s (droplet active ${tl?.dropletActive ?? "?"} s, pre-check passed ${tl?.precheckPassed ?? "?"} s, IPv4 assigned ${tl?.ipv4Assigned ?? "?"} s, verified ${tl?.verified ?? "?"} s; member synced ${run.syncSeconds?.toFixed(1)} s after creation; load ${load})` : `FAILED: ${run.error ?? "not verified"}`}`,
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
    steps: summarizeSteps(ok),
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
