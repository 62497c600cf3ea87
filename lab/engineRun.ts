import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { LabApi } from "./api";
import {
  type ChangeSummary,
  changesIn,
  deletedBeforeReplaced,
  destroyStep,
  type EngineSetup,
  type EngineStep,
  engineSetup,
  engineSteps,
  outputStep,
  parseChangeSummary,
  parseStepEvents,
  prepareEngine,
  replaceStep,
  replaceUpstreams,
  resourcesIn,
  runStep,
  setStackSetting,
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
import type { Deployed, LabReport, MemberOutput } from "./run";
import type { StackConfig } from "./stack";

export type Scenario = "replace" | "destroy";

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
  /** The replacement: its changes, wall time, and each reserved address's probe figures. */
  replace?: {
    changes?: ChangeSummary;
    seconds: number;
    ipv4?: ProbeFigures;
    ipv6?: ProbeFigures;
  };
  destroy?: { stoppedByProtection: boolean; detail: string };
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
  if (opts.scenarios.includes("replace")) {
    await replaceScenario(lab, stack, setup, er, members, repoDir, step, log);
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
 * `--scenario replace`: new upstreams force a new droplet; both reserved addresses are
 * probed every second from outside while `pulumi up` replaces it. Any unanswered or
 * unsynchronised probe fails the scenario (README "What each kind of change does").
 */
async function replaceScenario(
  lab: Lab,
  stack: StackConfig,
  setup: EngineSetup,
  er: EngineReport,
  members: MemberOutput[],
  repoDir: string,
  step: (s: EngineStep) => Promise<{ changes?: ChangeSummary; stdout: string }>,
  log: (msg: string) => void,
): Promise<void> {
  const key = `${stack.project}:upstreams`;
  const upstreams = replaceUpstreams(JSON.parse(stack.config[key] ?? "[]") as string[]);
  setStackSetting(setup.configFile, key, upstreams);
  log(`replace: ${key} reordered to ${upstreams.join(", ")}`);
  const t = Date.now();
  const { result, figures } = await probeDuring(lab, repoDir, members, () =>
    step(replaceStep(setup)),
  );
  er.replace = {
    changes: result.changes,
    seconds: (Date.now() - t) / 1000,
    ...figures,
  };
  log(
    `replace: ${JSON.stringify(result.changes)} in ${er.replace.seconds.toFixed(1)} s; ${describeFigures(figures)}`,
  );
  const early = deletedBeforeReplaced(parseStepEvents(result.stdout));
  if (early.length > 0)
    throw new Error(
      `--scenario replace: delete-before-replace of ${early.join(", ")} (the program asks for create-before-delete)`,
    );
  const failed = probeFailures(figures);
  if (failed !== undefined)
    throw new Error(
      `--scenario replace: the reserved addresses were not served throughout: ${failed}`,
    );
}
