import type { LabApi } from "./api";
import {
  type EngineSetup,
  type EngineStep,
  outputStep,
  previewStep,
  refreshStep,
  runStep,
  setStackSetting,
  stackSettings,
  stateDeleteStep,
  tokenStep,
  unsetStackSetting,
  upStep,
} from "./engine";
import {
  type ChangeSummary,
  changesIn,
  diagnosticsText,
  errorDiagnostics,
  parseFailedUrns,
  parseStepEvents,
} from "./engineOutput";
import type { EngineReport, ScenarioReport } from "./engineReport";
import { sleep } from "./exec";
import type { Lab } from "./lab";
import { probeDuring } from "./probeDuring";
import { describeFigures, notServingAtEnd, type ProbeFigures, probeFailures } from "./probes";
import { ApiClient, PROVIDER_TIMING } from "./provider/client";
import type { MemberOutput } from "./report";
import {
  type ChangeScenario,
  interruptAt,
  judgeDriftRepair,
  judgeFinished,
  judgeReplacement,
} from "./scenarios";
import type { StackConfig } from "./stack";

type StepResult = {
  changes?: ChangeSummary;
  stdout: string;
  stderr: string;
  code: number | null;
};
export type StepRunner = (
  s: EngineStep,
  mayFail?: boolean,
  onStdout?: (chunk: string, signal: (sig: NodeJS.Signals) => void) => void,
) => Promise<StepResult>;

/** What a scenario works with: the lab, its API, the engine's setup and the report. */
export interface ScenarioContext {
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

/** A well-formed token that no DigitalOcean account has: the API answers 401. */
const REFUSED_TOKEN = `dop_v1_${"0".repeat(64)}`;

/** Output of a failed step: its last lines, for the error. */
export const tail = (s: string): string => s.trim().split("\n").slice(-15).join("\n");

export async function readMembers(
  lab: Lab,
  pulumi: string,
  setup: EngineSetup,
): Promise<MemberOutput[]> {
  const r = await runStep(lab.inet, pulumi, outputStep(setup), setup);
  if (r.code !== 0)
    throw new Error(`pulumi stack output failed (exit ${r.code}): ${tail(r.stderr)}`);
  const outputs = JSON.parse(r.stdout) as { members?: Record<string, MemberOutput> };
  return Object.values(outputs.members ?? {});
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
async function strayDroplets(ctx: ScenarioContext): Promise<number[]> {
  const members = await readMembers(ctx.lab, ctx.pulumi, ctx.setup);
  const client = new ApiClient(ctx.api.endpoint, PROVIDER_TIMING);
  const r = await client.call<{ droplets: { id: number }[] }>("GET", "/v2/droplets?per_page=200");
  const owned = new Set(members.map((m) => String(m.dropletId)));
  return r.body.droplets.map((d) => d.id).filter((id) => !owned.has(String(id)));
}

const strayProblem = (stray: readonly number[]): string | undefined =>
  stray.length > 0 ? `droplets left that no member holds: ${stray.join(", ")}` : undefined;

/** A further `pulumi up` that must change nothing; what is wrong with it, or undefined. */
async function noChangeUp(sc: ChangeScenario, ctx: ScenarioContext): Promise<string | undefined> {
  const again = await ctx.step(upStep(ctx.setup, `${sc.name} second up`));
  const n = again.changes ? changesIn(again.changes) : undefined;
  return n !== 0
    ? `the up after it changed ${n ?? "?"} resources: ${JSON.stringify(again.changes)}`
    : undefined;
}

/**
 * The probed `pulumi up` that follows a failed or interrupted one: it must succeed, pass
 * `judge` on its step events, and leave every probe answered synchronised.
 */
async function probedRerun(
  sc: ChangeScenario,
  ctx: ScenarioContext,
  what: string,
  judge: (steps: ReturnType<typeof parseStepEvents>) => string | undefined,
): Promise<{ rerun: ScenarioReport["rerun"]; problem: string | undefined }> {
  const again = await probeDuring(ctx.lab, ctx.repoDir, ctx.members, ctx.log, () =>
    ctx.step(upStep(ctx.setup, `${sc.name} rerun up`), true),
  );
  const a = again.result;
  const problem =
    a.code !== 0
      ? `${what} failed (exit ${a.code}):\n${tail(a.stderr)}\n${tail(a.stdout)}`
      : (judge(parseStepEvents(a.stdout)) ?? probeFailures(again.figures));
  return {
    rerun: { code: a.code, changes: a.changes, ...again.figures },
    problem: problem === undefined ? undefined : `rerun: ${problem}`,
  };
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
    ({ rerun, problem } = await probedRerun(
      sc,
      ctx,
      "the up after undoing the change",
      judgeReplacement,
    ));
  }
  if (problem === undefined && sc.thenNoChange) problem = await noChangeUp(sc, ctx);
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
    ({ rerun, problem } = await probedRerun(sc, ctx, "the up after the interrupt", judgeFinished));
    if (problem === undefined) {
      stray = await strayDroplets(ctx);
      problem = strayProblem(stray);
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
    problem = await noChangeUp(sc, ctx);
    stray = await strayDroplets(ctx);
    problem ??= strayProblem(stray);
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

/** Runs one change scenario of lab/scenarios.ts against the deployed stack. */
export function runScenario(sc: ChangeScenario, ctx: ScenarioContext): Promise<void> {
  if (sc.kind === "interrupted") return interruptedScenario(sc, ctx);
  if (sc.kind === "drift") return driftScenario(sc, ctx);
  return changeScenario(sc, ctx);
}
