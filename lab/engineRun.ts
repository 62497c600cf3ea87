import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import type { LabApi } from "./api";
import {
  type ChangeSummary,
  changesIn,
  destroyStep,
  type EngineSetup,
  type EngineStep,
  engineSetup,
  engineSteps,
  outputStep,
  parseChangeSummary,
  prepareEngine,
  replaceStep,
  replaceUpstreams,
  resourcesIn,
  runStep,
  setStackSetting,
} from "./engine";
import { sleep } from "./exec";
import type { Lab } from "./lab";
import type { Deployed, LabReport, MemberOutput } from "./run";
import type { StackConfig } from "./stack";

export type Scenario = "replace" | "destroy";

export interface EngineOptions {
  /** The Pulumi CLI (lab/engine.ts findPulumi). */
  readonly pulumi: string;
  readonly scenarios: readonly Scenario[];
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
  replace?: {
    probes: number;
    answered: number;
    longestGapSeconds: number;
    changes?: ChangeSummary;
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
  prepareEngine(setup, stack, api.url, dirname(report.stackFile));
  const er: EngineReport = { steps: [] };
  report.engine = er;
  const step = async (s: EngineStep, mayFail = false) => {
    const t = Date.now();
    log(`pulumi ${s.name} (from ${lab.inet})`);
    const r = await runStep(lab.inet, opts.pulumi, s, setup);
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
    members = await replaceScenario(lab, stack, setup, er, members, step, log);
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
 * `--scenario replace`: new upstreams force a new droplet; the reserved IP is probed every
 * 2 s from outside (one NTP query each, the pool's politeness) while `pulumi up` replaces it.
 */
async function replaceScenario(
  lab: Lab,
  stack: StackConfig,
  setup: EngineSetup,
  er: EngineReport,
  members: MemberOutput[],
  step: (s: EngineStep) => Promise<{ changes?: ChangeSummary }>,
  log: (msg: string) => void,
): Promise<MemberOutput[]> {
  const key = `${stack.project}:upstreams`;
  const upstreams = replaceUpstreams(JSON.parse(stack.config[key] ?? "[]") as string[]);
  setStackSetting(setup.configFile, key, upstreams);
  log(`replace: ${key} reordered to ${upstreams.join(", ")}`);
  const target = members[0]?.ipv4;
  let probing = target !== undefined;
  const probes: { t: number; ok: boolean }[] = [];
  const prober = (async () => {
    while (probing && target) {
      const q = await lab.queryFromOutside(target);
      probes.push({ t: Date.now(), ok: q !== undefined && q.stratum >= 1 && q.stratum <= 15 });
      await sleep(2000);
    }
  })();
  try {
    const r = await step(replaceStep(setup));
    er.replace = { probes: 0, answered: 0, longestGapSeconds: 0, changes: r.changes };
  } finally {
    probing = false;
    await prober;
  }
  let gap = 0;
  let lastOk = probes[0]?.t ?? 0;
  for (const p of probes) {
    if (p.ok) {
      gap = Math.max(gap, (p.t - lastOk) / 1000);
      lastOk = p.t;
    }
  }
  er.replace = {
    ...er.replace,
    probes: probes.length,
    answered: probes.filter((p) => p.ok).length,
    longestGapSeconds: gap,
  };
  log(
    `replace: ${er.replace.answered}/${er.replace.probes} probes of ${target} answered, longest gap ${gap.toFixed(0)} s (${JSON.stringify(er.replace.changes)})`,
  );
  return members;
}
