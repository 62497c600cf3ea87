import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import type { LabApi } from "./api";
import { destroyStep, engineSetup, engineSteps, prepareEngine, runStep } from "./engine";
import { changesIn, parseChangeSummary, resourcesIn } from "./engineOutput";
import type { EngineReport } from "./engineReport";
import type { Lab } from "./lab";
import type { Deployed, LabReport } from "./report";
import {
  readMembers,
  runScenario,
  type ScenarioContext,
  type StepRunner,
  tail,
} from "./scenarioRun";
import { type SCENARIO_NAMES, SCENARIOS } from "./scenarios";
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
    await runScenario(sc, ctx);
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
