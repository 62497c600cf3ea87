import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
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
  errorDiagnostics,
  outputStep,
  parseChangeSummary,
  parseFailedUrns,
  parseStepEvents,
  prepareEngine,
  previewStep,
  refreshStep,
  resourcesIn,
  runStep,
  setStackSetting,
  stackSettings,
  stateDeleteStep,
  tokenStep,
  unsetStackSetting,
  upStep,
} from "./engine";
import { sleep } from "./exec";
import type { Lab } from "./lab";
import { nsRun } from "./net";
import {
  describeFigures,
  notServingAtEnd,
  type Probe,
  type ProbeFigures,
  parseProbes,
  probeFailures,
  probeFigures,
} from "./probes";
import { ApiClient, PROVIDER_TIMING } from "./provider/client";
import type { Deployed, LabReport, MemberOutput } from "./report";
import {
  type ChangeScenario,
  interruptAt,
  judgeDriftRepair,
  judgeFinished,
  judgeReplacement,
  type SCENARIO_NAMES,
  SCENARIOS,
} from "./scenarios";
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
  /** `pulumi version` of the CLI that ran the steps. */
  cli?: string;
  /** The machine's load average (1, 5, 15 min) when the last step ended. */
  load?: number[];
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
  /**
   * For "drift": the runbook's steps as run (`pulumi refresh`, what its errors called for,
   * `pulumi up`), each with its exit code and error diagnostics.
   */
  readonly runbook?: readonly { step: string; code: number | null; errors?: string[] }[];
  /** Droplets in the (emulated) account afterwards that no member's output names. */
  readonly strayDroplets?: readonly number[];
  /** What went wrong, when it did. */
  readonly problem?: string;
}

type StepResult = { changes?: ChangeSummary; stdout: string; stderr: string; code: number | null };
type StepRunner = (
  s: EngineStep,
  mayFail?: boolean,
  onStdout?: (chunk: string, signal: (sig: NodeJS.Signals) => void) => void,
) => Promise<StepResult>;

/** What a scenario works with: the lab, its API, the engine's setup and the report. */
interface ScenarioContext {
  readonly lab: Lab;
  readonly api: LabApi;
  readonly stack: StackConfig;
  readonly setup: EngineSetup;
  readonly er: EngineReport;
  readonly members: MemberOutput[];
  readonly repoDir: string;
  readonly step: StepRunner;
  readonly log: (msg: string) => void;
  readonly pulumi: string;
}

const readMembersOf = (ctx: ScenarioContext): Promise<MemberOutput[]> =>
  readMembers(ctx.lab, ctx.pulumi, ctx.setup);

/** A well-formed token that no DigitalOcean account has: the API answers 401. */
const REFUSED_TOKEN = `dop_v1_${"0".repeat(64)}`;

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
  const step: StepRunner = async (s, mayFail = false, onStdout) => {
    const t = Date.now();
    log(`pulumi ${s.name} (from ${lab.inet})`);
    const r = await runStep(lab.inet, opts.pulumi, s, setup, onStdout);
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
  er.cli = (
    await runStep(lab.inet, opts.pulumi, { name: "version", argv: ["version"] }, setup)
  ).stdout.trim();
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
  let members = await readMembers(lab, opts.pulumi, setup);
  for (const sc of SCENARIOS.filter((x) => opts.scenarios.includes(x.name as Scenario))) {
    const ctx: ScenarioContext = {
      lab,
      api,
      stack,
      setup,
      er,
      members,
      repoDir,
      step,
      log,
      pulumi: opts.pulumi,
    };
    if (sc.kind === "interrupted") await interruptedScenario(sc, ctx);
    else if (sc.kind === "drift") await driftScenario(sc, ctx);
    else await changeScenario(sc, ctx);
    members = await readMembers(lab, opts.pulumi, setup);
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
  er.load = loadavg().map((l) => Math.round(l * 100) / 100);
  // `pulumi up` succeeded: every verification command of the program passed.
  return {
    members,
    verifyCommands: members.map((m) => ({ name: `${m.name}-verify`, status: "emulated" })),
  };
}

async function readMembers(lab: Lab, pulumi: string, setup: EngineSetup): Promise<MemberOutput[]> {
  const r = await runStep(lab.inet, pulumi, outputStep(setup), setup);
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
): Promise<{ result: T; figures: Record<string, ProbeFigures>; probes: Probe[] }> {
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
  const probes = parseProbes((await prober).stdout);
  return { result, figures: probeFigures(probes), probes };
}

/** Sets a scenario's settings in the stack; returns what they were, for restoreSettings. */
function applySettings(sc: ChangeScenario, ctx: ScenarioContext): Record<string, unknown> {
  const { stack, setup, log } = ctx;
  const current = stackSettings(setup.configFile, stack.project);
  const before: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sc.settings(current))) {
    before[k] = current[k];
    setStackSetting(setup.configFile, `${stack.project}:${k}`, v);
    log(`${sc.name}: ${stack.project}:${k} = ${JSON.stringify(v)}`);
  }
  return before;
}

function restoreSettings(before: Record<string, unknown>, ctx: ScenarioContext): void {
  const { stack, setup } = ctx;
  for (const [k, v] of Object.entries(before))
    if (v === undefined) unsetStackSetting(setup.configFile, `${stack.project}:${k}`);
    else setStackSetting(setup.configFile, `${stack.project}:${k}`, v);
}

const figuresOf = (f: {
  readonly ipv4?: ProbeFigures;
  readonly ipv6?: ProbeFigures;
}): Record<string, ProbeFigures> => ({
  ...(f.ipv4 ? { ipv4: f.ipv4 } : {}),
  ...(f.ipv6 ? { ipv6: f.ipv6 } : {}),
});

/** Records a scenario in the report, logs its figures, and throws when it failed. */
function finish(sc: ChangeScenario, ctx: ScenarioContext, rep: ScenarioReport): void {
  ctx.er.scenarios = { ...(ctx.er.scenarios ?? {}), [sc.name]: rep };
  const figures = figuresOf(rep);
  const rerun = rep.rerun;
  ctx.log(
    `${sc.name}: ${JSON.stringify(rep.changes ?? {})} in ${rep.seconds.toFixed(1)} s${Object.keys(figures).length > 0 ? `; ${describeFigures(figures)}` : ""}${rerun !== undefined ? `; rerun: ${JSON.stringify(rerun.changes ?? {})}, ${describeFigures(figuresOf(rerun))}` : ""}${rep.problem !== undefined ? ` — FAILED: ${rep.problem}` : " — ok"}`,
  );
  if (rep.problem !== undefined) throw new Error(`--scenario ${sc.name}: ${rep.problem}`);
}

/**
 * Droplets in the emulated account that no member's output names: what an interrupted or
 * failed change would leave on the user's bill.
 */
async function strayDroplets(
  ctx: ScenarioContext,
  members: readonly MemberOutput[],
): Promise<number[]> {
  const client = new ApiClient(ctx.api.endpoint, PROVIDER_TIMING);
  const r = await client.call<{ droplets: { id: number }[] }>("GET", "/v2/droplets?per_page=200");
  const owned = new Set(members.map((m) => String(m.dropletId)));
  return r.body.droplets.map((d) => d.id).filter((id) => !owned.has(String(id)));
}

/**
 * One change scenario (lab/scenarios.ts): its settings set in the stack, then `pulumi up`
 * with both reserved addresses of every member probed every second from outside (any
 * unanswered or unsynchronised probe fails it), or, for a refused change, `pulumi preview`
 * that must fail before any resource, after which the change is undone.
 */
async function changeScenario(sc: ChangeScenario, ctx: ScenarioContext): Promise<void> {
  const { lab, setup, members, repoDir, step, log } = ctx;
  const before = applySettings(sc, ctx);
  const t = Date.now();
  let r: StepResult;
  let figures: Record<string, ProbeFigures> = {};
  if (sc.kind === "refused") {
    if (sc.token !== undefined)
      await step(
        tokenStep(
          setup,
          sc.token === "read-only" ? ctx.api.readOnlyToken : REFUSED_TOKEN,
          `${sc.name} token`,
        ),
      );
    r = await step(
      sc.attempt === "up"
        ? upStep(setup, `${sc.name} up`)
        : previewStep(setup, `${sc.name} preview`),
      true,
    );
    if (sc.token !== undefined)
      await step(tokenStep(setup, ctx.api.endpoint.token, `${sc.name} token restored`));
    restoreSettings(before, ctx);
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
    restoreSettings(before, ctx);
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
  finish(sc, ctx, {
    row: sc.row,
    code: r.code,
    changes: r.changes,
    seconds: (Date.now() - t) / 1000,
    ...figures,
    ...(rerun !== undefined ? { rerun } : {}),
    ...(problem !== undefined ? { problem } : {}),
  });
}

/**
 * `--scenario interrupted`: a replacing `pulumi up` gets a Ctrl-C (SIGINT, which the engine
 * answers by finishing the operations in flight and starting no more:
 * pkg/backend/cancellation_scope.go) as soon as the new droplet exists; then `pulumi up` is
 * run again, unchanged. Both are probed; no probe may fail, the second must finish the
 * replacement (judgeFinished), and no droplet may be left that no member holds.
 */
async function interruptedScenario(sc: ChangeScenario, ctx: ScenarioContext): Promise<void> {
  const { lab, setup, members, repoDir, step, log } = ctx;
  applySettings(sc, ctx);
  const t = Date.now();
  let pending = "";
  let interruptedAt: number | undefined;
  const watch = (chunk: string, signal: (sig: NodeJS.Signals) => void) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    if (interruptedAt === undefined && parseStepEvents(lines.join("\n")).some(interruptAt)) {
      interruptedAt = (Date.now() - t) / 1000;
      log(`${sc.name}: the new droplet exists; Ctrl-C (SIGINT) to pulumi up`);
      signal("SIGINT");
    }
  };
  const first = await probeDuring(lab, repoDir, members, log, () =>
    step(upStep(setup, `${sc.name} up`), true, watch),
  );
  const r = first.result;
  const text = `${diagnosticsText(r.stdout)}\n${r.stderr}`;
  let problem =
    sc.judge({ changes: r.changes, steps: parseStepEvents(r.stdout), text, code: r.code }) ??
    probeFailures(first.figures);
  let rerun: ScenarioReport["rerun"];
  let stray: number[] | undefined;
  if (problem === undefined) {
    const again = await probeDuring(lab, repoDir, members, log, () =>
      step(upStep(setup, `${sc.name} rerun up`), true),
    );
    const a = again.result;
    rerun = { code: a.code, changes: a.changes, ...again.figures };
    problem =
      a.code !== 0
        ? `the up after the interrupt failed (exit ${a.code}):\n${tail(a.stderr)}\n${tail(a.stdout)}`
        : (judgeFinished(parseStepEvents(a.stdout)) ?? probeFailures(again.figures));
    if (problem !== undefined) problem = `rerun: ${problem}`;
    else {
      stray = await strayDroplets(ctx, await readMembersOf(ctx));
      if (stray.length > 0) problem = `droplets left that no member holds: ${stray.join(", ")}`;
    }
  }
  log(`${sc.name}: interrupted at ${interruptedAt?.toFixed(1) ?? "—"} s, exit ${r.code}`);
  finish(sc, ctx, {
    row: `${sc.row} (Ctrl-C at ${interruptedAt?.toFixed(1) ?? "—"} s)`,
    code: r.code,
    changes: r.changes,
    seconds: (Date.now() - t) / 1000,
    ...first.figures,
    ...(rerun !== undefined ? { rerun } : {}),
    ...(stray !== undefined ? { strayDroplets: stray } : {}),
    ...(problem !== undefined ? { problem } : {}),
  });
}

/**
 * `--scenario drift`: the first member's droplet is deleted through the API (as in the
 * console), then the drift runbook of docs/operations.md runs as written: `pulumi refresh`;
 * when the refresh fails on the reserved-IPv6 assignment, `pulumi state delete
 * --target-dependents` of that assignment and `pulumi refresh` again; then `pulumi up`. The member is unserved from the deletion
 * until the new droplet passed its checks — the figures measure that outage; the scenario
 * fails unless the `up` creates a droplet and its assignments, both addresses answer
 * synchronised at the end, a further `up` changes nothing, and no stray droplet is left.
 */
async function driftScenario(sc: ChangeScenario, ctx: ScenarioContext): Promise<void> {
  const { lab, setup, members, repoDir, step, log } = ctx;
  const victim = members[0];
  if (victim === undefined) throw new Error(`--scenario ${sc.name}: the stack has no member`);
  const t = Date.now();
  const runbook: { step: string; code: number | null; errors?: string[] }[] = [];
  const record = (name: string, r: StepResult): StepResult => {
    // `pulumi state` has no --json: its errors are on stderr.
    const errors = [
      ...errorDiagnostics(r.stdout),
      ...(r.code !== 0 ? r.stderr.split("\n").filter((l) => l.startsWith("error: ")) : []),
    ];
    runbook.push({ step: name, code: r.code, ...(errors.length > 0 ? { errors } : {}) });
    return r;
  };
  const probed = await probeDuring(lab, repoDir, members, log, async () => {
    const client = new ApiClient(ctx.api.endpoint, PROVIDER_TIMING);
    await client.call("DELETE", `/v2/droplets/${victim.dropletId}`);
    log(`${sc.name}: droplet ${victim.dropletId} of ${victim.name} deleted through the API`);
    runbook.push({ step: `DELETE /v2/droplets/${victim.dropletId}`, code: 0 });
    let refresh = record(
      "pulumi refresh",
      await step(refreshStep(setup, `${sc.name} refresh`), true),
    );
    if (refresh.code !== 0) {
      const ipv6 = parseFailedUrns(refresh.stdout).find((u) => u.endsWith("-ipv6-assignment"));
      if (ipv6 === undefined) return refresh;
      const deleted = record(
        `pulumi state delete --target-dependents ${ipv6}`,
        await step(stateDeleteStep(setup, ipv6, `${sc.name} state delete`), true),
      );
      if (deleted.code !== 0) return deleted;
      refresh = record(
        "pulumi refresh (again)",
        await step(refreshStep(setup, `${sc.name} refresh again`), true),
      );
      if (refresh.code !== 0) return refresh;
    }
    const up = record("pulumi up", await step(upStep(setup, `${sc.name} up`), true));
    // A few more probes: the member must be serving when the runbook is done.
    await sleep(5000);
    return up;
  });
  const r = probed.result;
  let problem: string | undefined;
  const last = runbook[runbook.length - 1];
  if (r.code !== 0)
    problem = `${last?.step ?? "a step"} failed (exit ${r.code}): ${(last?.errors ?? [tail(r.stderr)]).join("; ")}`;
  else problem = judgeDriftRepair(parseStepEvents(r.stdout));
  problem ??= notServingAtEnd(probed.probes);
  let stray: number[] | undefined;
  if (problem === undefined) {
    const again = await step(upStep(setup, `${sc.name} second up`));
    const n = again.changes ? changesIn(again.changes) : undefined;
    if (n !== 0)
      problem = `the up after it changed ${n ?? "?"} resources: ${JSON.stringify(again.changes)}`;
    stray = await strayDroplets(ctx, await readMembersOf(ctx));
    if (problem === undefined && stray.length > 0)
      problem = `droplets left that no member holds: ${stray.join(", ")}`;
  }
  for (const s of runbook)
    log(`${sc.name}: ${s.step}: exit ${s.code}${s.errors ? ` — ${s.errors.join(" | ")}` : ""}`);
  finish(sc, ctx, {
    row: sc.row,
    code: r.code,
    changes: r.changes,
    seconds: (Date.now() - t) / 1000,
    ...probed.figures,
    runbook,
    ...(stray !== undefined ? { strayDroplets: stray } : {}),
    ...(problem !== undefined ? { problem } : {}),
  });
}
