import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadFleetConfig } from "../components/config";
import { type LabApi, startLabApi } from "./api";
import { type EngineOptions, runEngine } from "./engineRun";
import type { Faults } from "./faults";
import { ensureImage } from "./image";
import { Lab } from "./lab";
import { checkMember } from "./memberCheck";
import { runMockProgram } from "./mockRuntime";
import { newPrefix } from "./region";
import type { LabReport } from "./report";
import { readStackConfig } from "./stack";

export interface RunLabOptions {
  readonly stackFile: string;
  readonly members?: number;
  readonly cacheDir: string;
  readonly faults?: Faults;
  /** Bound for each member's first sync when the program has no verification commands. */
  readonly syncTimeoutSeconds?: number;
  readonly log: (msg: string) => void;
  /** Called once the lab exists, so signal handlers can tear it down. */
  readonly onLab?: (lab: Lab) => void;
  readonly prefix?: string;
  /** Awaited before teardown (`--keep`: leave the lab up for inspection until Ctrl-C). */
  readonly beforeTeardown?: (lab: Lab, api: LabApi) => Promise<void>;
  /** `--engine pulumi`: the real Pulumi CLI instead of the mock runtime. */
  readonly engine?: EngineOptions;
  /** Multiplies every provider wait (StateChangeConf delays, back-offs); 1 = the provider's. */
  readonly waitScale?: number;
}

/** Default bound for the lab's own sync check (seconds), when the stack sets none. */
const LAB_SYNC_TIMEOUT_SECONDS = 180;

/**
 * Runs the real program (index.ts) against a new lab, under Pulumi's mock runtime
 * (lab/mockRuntime.ts) or the real engine (lab/engineRun.ts), then checks every member
 * (lab/memberCheck.ts). Always tears the lab down before returning or throwing.
 */
export async function runLab(opts: RunLabOptions): Promise<LabReport> {
  const t0 = Date.now();
  const faults = opts.faults ?? {};
  const prefix = opts.prefix ?? newPrefix();
  const report: LabReport = {
    prefix,
    stackFile: opts.stackFile,
    startedAt: new Date(t0).toISOString(),
    seconds: 0,
    ok: false,
    image: { root: "", repo: "", built: false },
    faults,
    resources: [],
    notes: [],
    members: [],
  };
  const log = opts.log;
  const stack = readStackConfig(opts.stackFile, opts.members);
  // Bad settings fail here, before any namespace exists (issue 5), with the program's message.
  pulumi.runtime.setAllConfig(stack.config);
  loadFleetConfig();
  for (const k of stack.skippedSecrets)
    report.notes.push(`config ${k} is a secret: not available to the lab (left unset)`);
  log(`run ${prefix}: stack ${stack.project}/${stack.stack} from ${opts.stackFile}`);
  const image = await ensureImage(opts.cacheDir, log);
  report.image = { root: image.root, repo: image.repo, built: image.built };
  log(`droplet image ${image.built ? "built" : "from cache"}: ${image.root}`);

  const lab = new Lab(prefix, opts.cacheDir, image, faults, log);
  opts.onLab?.(lab);
  let api: LabApi | undefined;
  try {
    await lab.up();
    log(`topology up: switch ${lab.region.sw}, edge ${lab.region.edge.ns}, internet ${lab.inet}`);
    api = await startLabApi(lab);
    log(
      `DigitalOcean API emulated: ${api.endpoint.socketPath} (host), ${api.url} (from ${lab.inet})`,
    );

    const { members, verifyCommands } = opts.engine
      ? await runEngine(lab, api, stack, report, opts.engine, log)
      : await runMockProgram(lab.deployer, api, stack, report, opts.waitScale, log);
    report.apiRequests = api.server.counts();
    const timeout =
      opts.syncTimeoutSeconds ??
      Number(stack.config[`${stack.project}:verifyTimeoutSeconds`] ?? LAB_SYNC_TIMEOUT_SECONDS);

    report.members = await Promise.all(
      members.map(async (m) => ({
        ...(await checkMember(lab, m, verifyCommands, timeout, log)),
        ...(m.verification !== undefined ? { phases: m.verification } : {}),
      })),
    );
    const bad = report.members.filter((m) => !m.verification.ok);
    if (bad.length > 0) {
      throw new Error(bad.map((m) => `member ${m.name}: ${m.verification.detail}`).join("\n"));
    }
    report.ok = true;
    return report;
  } catch (e) {
    report.error = (e as Error).message;
    throw Object.assign(e as Error, { report });
  } finally {
    report.seconds = (Date.now() - t0) / 1000;
    if (api) await opts.beforeTeardown?.(lab, api);
    await api?.close();
    const droplets = lab.realiser.list();
    for (const d of droplets) d.stopWatching();
    for (const d of droplets) {
      const dir = d.saveLogs(join(lab.reportDir, d.spec.name));
      if (!report.ok) log(`logs of ${d.spec.name}: ${dir}`);
    }
    log("teardown");
    lab.td.run();
    for (const l of lab.td.log) report.notes.push(`teardown: ${l}`);
  }
}
