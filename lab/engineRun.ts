import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { LabApi } from "./api";
import {
  type ChangeSummary,
  changesIn,
  destroyStep,
  diagnosticsText,
  type EngineSetup,
  type EngineStep,
  engineSetup,
  engineSteps,
  outputStep,
  parseChangeSummary,
  parseStepEvents,
  prepareEngine,
  previewStep,
  resourcesIn,
  runStep,
  setStackSetting,
  stackSettings,
  tokenStep,
  unsetStackSetting,
  upStep,
} from "./engine";
import { sleep } from "./exec";
import type { Lab } from "./lab";
import { nsRun } from "./net";
import {
  describeFigures,
  type ProbeFigures,
  parseProbes,
  probeFailures,
  probeFigures,
} from "./probes";
import type { Deployed, LabReport, MemberOutput } from "./report";
import { type ChangeScenario, judgeReplacement, type SCENARIO_NAMES, SCENARIOS } from "./scenarios";
import type { StackConfig } from "./stack";

/** A change scenario of lab/scenarios.ts, or "destroy". */
export type Scenario = (typeof SCENARIO_NAMES)[number];

export interface EngineOptions {
  /** The Pulumi CLI (lab/engine.ts findPulumi). */
  readonly pulumi: string;
  readonly scenarios: readonly Scenario[];
  /**
   * Where to keep each step's stdout and stderr as the engine printed them
   * (`NN-<step>.stdout.txt`, `.stderr.txt`), e.g. to refresh the parser's fixtures.
   */
  readonly outputDir?: string;
}

/** One engine step as the report keeps it. */
export interface EngineStepReport {
  readonly name: string;
  readonly code: number | null;
  readonly seconds: number;
  readonly changes?: ChangeSummary;
}

export interface EngineReport {
  steps: EngineStepReport[];
  previewResources?: number;
  secondUpChanges?: number;
  /** Each change scenario: its changes, wall time, each reserved address's probe figures. */
  scenarios?: Record<string, ScenarioReport>;
  destroy?: { stoppedByProtection: boolean; detail: string };
}

export interface ScenarioReport {
  readonly row: string;
  readonly code: number | null;
  readonly changes?: ChangeSummary;
  readonly seconds: number;
  readonly ipv4?: ProbeFigures;
  readonly ipv6?: ProbeFigures;
  /** For a "fails" scenario: the `pulumi up` after the change was undone. */
  readonly rerun?: {
    readonly code: number | null;
    readonly changes?: ChangeSummary;
    readonly ipv4?: ProbeFigures;
    readonly ipv6?: ProbeFigures;
  };
  /** What went wrong, when it did. */
  readonly problem?: string;
}

/** Output of a failed step: its last lines, for the error. */
const tail = (s: string): string => s.trim().split("\n").slice(-15).join("\n");

/**
 * `--engine pulumi`: preview with the policy pack, up, a second up that must change nothing,
 * then the scenarios; every step from the deployer namespace against the emulated API.
 */
export async function runEngine(
  lab: Lab,
  api: LabApi,
  stack: StackConfig,
  report: LabReport & { engine?: EngineReport },
  opts: EngineOptions,
  log: (msg: string) => void,
): Promise<Deployed> {
  const setup = engineSetup(lab.runDir, "lab", randomBytes(16).toString("hex"));
  const repoDir = dirname(report.stackFile);
  prepareEngine(setup, stack, api.url, repoDir);
  const er: EngineReport = { steps: [] };
  report.engine = er;
  const step = async (s: EngineStep, mayFail = false) => {
    const t = Date.now();
    log(`pulumi ${s.name} (from ${lab.inet})`);
    const r = await runStep(lab.inet, opts.pulumi, s, setup);
    if (opts.outputDir !== undefined) {
      mkdirSync(opts.outputDir, { recursive: true });
      const base = join(
        opts.outputDir,
        `${String(er.steps.length + 1).padStart(2, "0")}-${s.name.replace(/\W+/g, "-")}`,
      );
      writeFileSync(`${base}.stdout.txt`, r.stdout);
      writeFileSync(`${base}.stderr.txt`, r.stderr);
    }
    const changes = parseChangeSummary(r.stdout);
    er.steps.push({ name: s.name, code: r.code, seconds: (Date.now() - t) / 1000, changes });
    if (r.code !== 0 && !mayFail)
      throw new Error(
        `pulumi ${s.name} failed (exit ${r.code}):\n${tail(r.stderr)}\n${tail(r.stdout)}`,
      );
    return { ...r, changes };
  };
  const steps = engineSteps(setup, api.endpoint.token);
  for (const s of steps) {
    const r = await step(s);
    if (s.name === "preview" && r.changes) {
      er.previewResources = resourcesIn(r.changes);
      log(`preview: ${er.previewResources} resources (${JSON.stringify(r.changes)})`);
    }
    if (s.name === "second up") {
      if (!r.changes) throw new Error("second pulumi up: no change summary in its output");
      er.secondUpChanges = changesIn(r.changes);
      log(`second up: ${er.secondUpChanges} changes (${JSON.stringify(r.changes)})`);
      if (er.secondUpChanges !== 0)
        throw new Error(
          `second pulumi up changed ${er.secondUpChanges} resources (must be none): ${JSON.stringify(r.changes)}`,
        );
    }
  }
  let members = await readMembers(lab, opts, setup);
  for (const sc of SCENARIOS.filter((x) => opts.scenarios.includes(x.name as Scenario))) {
    await changeScenario(
      sc,
      lab,
      stack,
      setup,
      er,
      members,
      repoDir,
      api.endpoint.token,
      step,
      log,
    );
    members = await readMembers(lab, opts, setup);
  }
  if (opts.scenarios.includes("destroy")) {
    const r = await step(destroyStep(setup), true);
    const text = `${r.stdout}\n${r.stderr}`;
    const stopped = r.code !== 0 && /protect/i.test(text);
    er.destroy = {
      stoppedByProtection: stopped,
      detail: tail(text).split("\n").slice(-3).join(" "),
    };
    log(`destroy: ${stopped ? "stopped by protected reserved IPs" : "NOT stopped by protection"}`);
    if (!stopped)
      throw new Error(`pulumi destroy was not stopped by protected resources:\n${tail(text)}`);
  }
  // `pulumi up` succeeded: every verification command of the program passed.
  return {
    members,
    verifyCommands: members.map((m) => ({ name: `${m.name}-verify`, status: "emulated" })),
  };
}

async function readMembers(
  lab: Lab,
  opts: EngineOptions,
  setup: EngineSetup,
): Promise<MemberOutput[]> {
  const r = await runStep(lab.inet, opts.pulumi, outputStep(setup), setup);
  if (r.code !== 0)
    throw new Error(`pulumi stack output failed (exit ${r.code}): ${tail(r.stderr)}`);
  const outputs = JSON.parse(r.stdout) as { members?: Record<string, MemberOutput> };
  return Object.values(outputs.members ?? {});
}

/**
 * Runs `fn` (an engine step that replaces droplets) while lab/prober.ts probes every
 * reserved address of `members` once a second from outside, as a pool monitor would.
 */
async function probeDuring<T>(
  lab: Lab,
  repoDir: string,
  members: readonly MemberOutput[],
  log: (msg: string) => void,
  fn: () => Promise<T>,
): Promise<{ result: T; figures: Record<string, ProbeFigures> }> {
  const sources = await lab.addProbeSources();
  const stopFile = join(lab.runDir, `probe-stop-${Date.now()}`);
  const targets = members.flatMap((m) => [
    ...(m.ipv4 ? [{ family: "ipv4", address: m.ipv4, sources: sources.ipv4 }] : []),
    ...(m.ipv6 ? [{ family: "ipv6", address: m.ipv6, sources: sources.ipv6 }] : []),
  ]);
  const prober = nsRun(
    lab.inet,
    [
      process.execPath,
      "--import",
      "tsx",
      join(repoDir, "lab", "prober.ts"),
      JSON.stringify({ targets, stopFile }),
    ],
    { cwd: repoDir, timeoutMs: 2 * 60 * 60 * 1000 },
  );
  let result: T;
  log(`probing ${targets.map((t) => t.address).join(" and ")} once a second from outside`);
  try {
    // The first probes go out before the step starts: the baseline is a serving member.
    await sleep(3000);
    result = await fn();
  } finally {
    writeFileSync(stopFile, "");
  }
  const r = await prober;
  return { result, figures: probeFigures(parseProbes(r.stdout)) };
}

/**
 * One change scenario (lab/scenarios.ts): its settings set in the stack, then `pulumi up`
 * with both reserved addresses of every member probed every second from outside (any
 * unanswered or unsynchronised probe fails it), or, for a refused change, `pulumi preview`
 * that must fail before any resource, after which the change is undone.
 */
async function changeScenario(
  sc: ChangeScenario,
  lab: Lab,
  stack: StackConfig,
  setup: EngineSetup,
  er: EngineReport,
  members: MemberOutput[],
  repoDir: string,
  labToken: string,
  step: (
    s: EngineStep,
    mayFail?: boolean,
  ) => Promise<{ changes?: ChangeSummary; stdout: string; stderr: string; code: number | null }>,
  log: (msg: string) => void,
): Promise<void> {
  const ns = (k: string) => `${stack.project}:${k}`;
  const current = stackSettings(setup.configFile, stack.project);
  const before: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sc.settings(current))) {
    before[k] = current[k];
    setStackSetting(setup.configFile, ns(k), v);
    log(`${sc.name}: ${ns(k)} = ${JSON.stringify(v)}`);
  }
  const t = Date.now();
  let r: Awaited<ReturnType<typeof step>>;
  let figures: Record<string, ProbeFigures> = {};
  if (sc.kind === "refused") {
    if (sc.token !== undefined) await step(tokenStep(setup, sc.token, `${sc.name} token`));
    r = await step(previewStep(setup, `${sc.name} preview`), true);
    if (sc.token !== undefined) await step(tokenStep(setup, labToken, `${sc.name} token restored`));
    for (const [k, v] of Object.entries(before))
      if (v === undefined) unsetStackSetting(setup.configFile, ns(k));
      else setStackSetting(setup.configFile, ns(k), v);
  } else {
    const probed = await probeDuring(lab, repoDir, members, log, () =>
      step(upStep(setup, `${sc.name} up`), true),
    );
    r = probed.result;
    figures = probed.figures;
  }
  const text = `${diagnosticsText(r.stdout)}\n${r.stderr}`;
  let problem =
    sc.kind === "up" && r.code !== 0
      ? `pulumi up failed (exit ${r.code}):\n${tail(r.stderr)}\n${tail(r.stdout)}`
      : sc.judge({ changes: r.changes, steps: parseStepEvents(r.stdout), text, code: r.code });
  problem ??= probeFailures(figures);
  let rerun: ScenarioReport["rerun"];
  if (problem === undefined && sc.kind === "fails") {
    // Undo the change and deploy again: the failed replacement must not cost the address.
    for (const [k, v] of Object.entries(before))
      if (v === undefined) unsetStackSetting(setup.configFile, ns(k));
      else setStackSetting(setup.configFile, ns(k), v);
    const again = await probeDuring(lab, repoDir, members, log, () =>
      step(upStep(setup, `${sc.name} rerun up`), true),
    );
    const a = again.result;
    rerun = { code: a.code, changes: a.changes, ...again.figures };
    problem =
      a.code !== 0
        ? `the up after undoing the change failed (exit ${a.code}):\n${tail(a.stderr)}\n${tail(a.stdout)}`
        : (judgeReplacement(parseStepEvents(a.stdout)) ?? probeFailures(again.figures));
    if (problem !== undefined) problem = `rerun: ${problem}`;
  }
  if (problem === undefined && sc.thenNoChange) {
    const again = await step(upStep(setup, `${sc.name} second up`));
    const n = again.changes ? changesIn(again.changes) : undefined;
    if (n !== 0)
      problem = `the up after it changed ${n ?? "?"} resources: ${JSON.stringify(again.changes)}`;
  }
  const seconds = (Date.now() - t) / 1000;
  const rep: ScenarioReport = {
    row: sc.row,
    code: r.code,
    changes: r.changes,
    seconds,
    ...figures,
    ...(rerun !== undefined ? { rerun } : {}),
    ...(problem !== undefined ? { problem } : {}),
  };
  er.scenarios = { ...(er.scenarios ?? {}), [sc.name]: rep };
  log(
    `${sc.name}: ${JSON.stringify(r.changes ?? {})} in ${seconds.toFixed(1)} s${Object.keys(figures).length > 0 ? `; ${describeFigures(figures)}` : ""}${rerun !== undefined ? `; rerun: ${JSON.stringify(rerun.changes ?? {})}, ${describeFigures({ ...(rerun.ipv4 ? { ipv4: rerun.ipv4 } : {}), ...(rerun.ipv6 ? { ipv6: rerun.ipv6 } : {}) })}` : ""}${problem !== undefined ? ` — FAILED: ${problem}` : " — ok"}`,
  );
  if (problem !== undefined) throw new Error(`--scenario ${sc.name}: ${problem}`);
}
