import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadFleetConfig } from "../components/config";
import { type LabApi, startLabApi } from "./api";
import { parseModuleResults } from "./droplet";
import { type EngineOptions, runEngine } from "./engineRun";
import { sleep } from "./exec";
import { ensureImage } from "./image";
import { type Faults, Lab, newPrefix } from "./lab";
import { ApiClient, PROVIDER_TIMING, type Timing } from "./provider/client";
import { PROVIDER_INVOKES, PROVIDER_RESOURCES } from "./provider/index";
import { readStackConfig, type StackConfig } from "./stack";

/** What the lab did with one resource the program registered. */
export interface ResourceRecord {
  readonly type: string;
  readonly name: string;
  status: "emulated" | "not emulated" | "failed" | "pending";
  detail?: string;
  seconds?: number;
  /**
   * How it was realised: "api" (the driver's provider calls against the emulated API),
   * "lab" (commands and keys, realised by the lab as the deployer) or "engine".
   */
  via?: "api" | "lab" | "engine";
  /** The DigitalOcean API calls the driver made for it, in order ("GET /v2/droplets/1"). */
  apiCalls?: string[];
}

export interface MemberReport {
  readonly name: string;
  readonly reservedIpv4: string;
  readonly reservedIpv6: string | null;
  readonly dropletId: string;
  /** Seconds from droplet creation until its boot (all cloud-init stages) finished. */
  bootSeconds: number | null;
  /** Seconds from droplet creation until ntpd inside first reported sync (leap 00, stratum < 16). */
  syncSeconds: number | null;
  stratum: number | null;
  /** Offset in seconds measured by ntpdig from the internet namespace. */
  offset: number | null;
  verification: { present: boolean; ok: boolean; detail: string };
  cloudInit: {
    stages: { name: string; rc: number; seconds: number }[];
    modules: { stage: string; module: string; result: string; detail: string }[];
  };
  peersInside?: string;
  /**
   * The stack's own `verification` output for the member: both phases (before the reserved
   * IPs moved, on the droplet's own addresses; after, on the reserved ones).
   */
  phases?: { beforeAssignment?: PhaseSummary; afterAssignment?: PhaseSummary };
  /** Copies of the droplet's logs (cloud-init, boot, units), kept after teardown. */
  logs?: string;
}

/** The part of a verification phase the lab prints (verify/summary.ts). */
export interface PhaseSummary {
  readonly secondsToSync?: number;
  readonly outside?: { ipv4?: { address: string; offsetMs: number; samples: number } };
  readonly warnings?: readonly string[];
}

export interface LabReport {
  prefix: string;
  stackFile: string;
  startedAt: string;
  seconds: number;
  ok: boolean;
  error?: string;
  image: { root: string; repo: string; built: boolean };
  faults: Faults;
  resources: ResourceRecord[];
  notes: string[];
  members: MemberReport[];
  /** Requests the emulated API answered, by resource type (lab/do's own count). */
  apiRequests?: Record<string, number>;
  leftovers?: unknown;
}

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
export const LAB_SYNC_TIMEOUT_SECONDS = 180;

const PROGRAM = resolve(__dirname, "..", "index.ts");

/** The SDK's marker for a secret value in deserialised inputs (sdk/nodejs/runtime/rpc.ts). */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Inputs with every secret wrapper replaced by its value (the lab needs the real key). */
export function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SIG_KEY] === SECRET_SIG) return unwrapSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** Resolves an Output's value, or rejects with the error of the resource that failed. */
function settle<T>(o: pulumi.Input<T>): Promise<T> {
  const out = pulumi.output(o) as unknown as { promise: () => Promise<T> };
  return out.promise();
}

/**
 * Runs the real program (index.ts) under Pulumi's mock runtime with every DigitalOcean
 * resource realised in the lab. Always tears the lab down before returning or throwing.
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
    log(`topology up: switch ${lab.sw}, edge ${lab.edge}, internet ${lab.inet}`);
    api = await startLabApi(lab);
    log(
      `DigitalOcean API emulated: ${api.endpoint.socketPath} (host), ${api.url} (from ${lab.inet})`,
    );

    const { members, verifyCommands } = opts.engine
      ? await runEngine(lab, api, stack, report, opts.engine, log)
      : await runMockProgram(lab, api, stack, report, opts, log);
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
    for (const n of lab.notes) report.notes.push(n);
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
    for (const d of lab.droplets.values()) d.stopWatching();
    for (const d of lab.droplets.values()) {
      const dir = d.saveLogs(join(lab.cacheDir, "reports", lab.prefix, d.spec.name));
      if (!report.ok) log(`logs of ${d.spec.name}: ${dir}`);
    }
    log("teardown");
    lab.td.run();
    for (const l of lab.td.log) report.notes.push(`teardown: ${l}`);
  }
}

/** A member as the program exports it (index.ts `members`). */
export interface MemberOutput {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string | null;
  readonly dropletId: string;
  readonly verification?: MemberReport["phases"];
}

/** What a deployment left for the lab's checks: the members and the verification commands. */
export interface Deployed {
  readonly members: readonly MemberOutput[];
  readonly verifyCommands: readonly { name: string; status: string }[];
}

/**
 * The program (index.ts) under Pulumi's mock runtime: each resource it registers becomes the
 * DigitalOcean provider's API calls (lab/provider/), or a key/command realised by the lab.
 */
async function runMockProgram(
  lab: Lab,
  api: LabApi,
  stack: StackConfig,
  report: LabReport,
  opts: RunLabOptions,
  log: (msg: string) => void,
): Promise<Deployed> {
  const endpoint = api.endpoint;
  let firstFailure: Error | undefined;
  const inflight = new Set<Promise<unknown>>();
  // The first failing realisation (or a rejection the SDK leaves unhandled) fails the run,
  // as a failing resource fails `pulumi up`.
  let failRun: (e: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    failRun = (e: unknown) => reject(e instanceof Error ? e : new Error(String(e)));
    process.on("unhandledRejection", failRun);
  });
  failed.catch(() => undefined);

  const timing: Timing = { scale: opts.waitScale ?? PROVIDER_TIMING.scale };
  const mocks: pulumi.runtime.Mocks = {
    call: async (args) => {
      const inv = PROVIDER_INVOKES.get(args.token);
      if (!inv) throw new Error(`invoke ${args.token}: not emulated by the lab`);
      const rec: ResourceRecord = {
        type: args.token,
        name: "(invoke)",
        status: "pending",
        via: "api",
      };
      report.resources.push(rec);
      const client = new ApiClient(endpoint, timing);
      const started = Date.now();
      try {
        const out = await inv.invoke(client, unwrapSecrets(args.inputs) as Record<string, unknown>);
        rec.status = "emulated";
        return out;
      } catch (e) {
        rec.status = "failed";
        rec.detail = (e as Error).message;
        throw e;
      } finally {
        rec.apiCalls = client.log;
        rec.seconds = (Date.now() - started) / 1000;
      }
    },
    newResource: async (args) => {
      if (!args.custom) return { id: undefined, state: {} };
      const rec: ResourceRecord = { type: args.type, name: args.name, status: "pending" };
      report.resources.push(rec);
      const started = Date.now();
      const client = new ApiClient(endpoint, timing);
      const work = realise(
        lab,
        client,
        rec,
        args.type,
        args.name,
        unwrapSecrets(args.inputs) as Record<string, unknown>,
      );
      inflight.add(work);
      try {
        const state = await work;
        rec.seconds = (Date.now() - started) / 1000;
        if (state === undefined) {
          rec.status = "not emulated";
          log(`NOT EMULATED ${args.type} ${args.name} (accepted with its inputs as outputs)`);
          return { id: `not-emulated-${args.name}`, state: args.inputs };
        }
        rec.status = "emulated";
        const { __id, ...rest } = state;
        const calls = rec.via === "api" ? `, ${client.calls} API calls` : "";
        log(`${shortType(args.type)} ${args.name} ready (${rec.seconds.toFixed(1)} s${calls})`);
        return { id: String(__id ?? `${args.name}-id`), state: rest };
      } catch (e) {
        rec.status = "failed";
        rec.detail = (e as Error).message;
        firstFailure ??= e as Error;
        log(`FAILED ${shortType(args.type)} ${args.name}: ${(e as Error).message}`);
        failRun(e);
        throw e;
      } finally {
        if (rec.via === "api") rec.apiCalls = client.log;
        inflight.delete(work);
      }
    },
  };

  pulumi.runtime.setAllConfig(stack.config);
  await pulumi.runtime.setMocks(mocks, stack.project, stack.stack, false, "organization");
  log(`running the program ${PROGRAM} under Pulumi's mock runtime`);
  const program = require(PROGRAM) as Record<string, pulumi.Input<unknown>>;
  const outputs = await Promise.race([
    Promise.all(Object.entries(program).map(async ([k, v]) => [k, await settle(v)] as const)),
    failed,
  ]);
  while (inflight.size > 0) await Promise.race([Promise.allSettled([...inflight]), failed]);
  if (firstFailure) throw firstFailure;
  log("program finished: every resource realised");
  const members = (Object.fromEntries(outputs).members ?? {}) as Record<string, MemberOutput>;
  const verifyCommands = report.resources.filter((r) => r.type.startsWith("command:"));
  return { members: Object.values(members), verifyCommands };
}

const shortType = (t: string): string => t.replace(/^digitalocean:index\/\w+:/, "digitalocean:");

/** API calls per resource (the report's and the printed table's figures). */
export function apiCallCounts(report: LabReport): { resource: string; calls: number }[] {
  return report.resources
    .filter((r) => r.via === "api")
    .map((r) => ({ resource: `${shortType(r.type)} ${r.name}`, calls: r.apiCalls?.length ?? 0 }));
}

/**
 * Dispatches one resource: DigitalOcean resources become the provider's API calls against
 * the emulated API (lab/provider/), which alone realises them; keys and commands are realised
 * by the lab from the deployer's namespace, as Pulumi's tls and command providers would run
 * on the user's machine. undefined = not emulated.
 */
async function realise(
  lab: Lab,
  client: ApiClient,
  rec: ResourceRecord,
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  const viaApi = PROVIDER_RESOURCES.get(type);
  if (viaApi) {
    rec.via = "api";
    const { id, outputs } = await viaApi.create(client, name, inputs);
    return { ...outputs, __id: id };
  }
  rec.via = "lab";
  switch (type) {
    case "tls:index/privateKey:PrivateKey":
      return lab.createPrivateKey(inputs);
    case "command:remote:Command":
      return lab.runRemote(name, inputs);
    case "command:local:Command":
      return lab.runLocal(name, inputs);
    case "pulumi:pulumi:StackReference":
      // The program reads its own stack's last outputs (components/preflight.ts); every lab
      // run is a first deployment, so there are none.
      return { ...inputs, outputs: {}, secretOutputNames: [], __id: String(inputs.name) };
    default:
      rec.via = undefined;
      return undefined;
  }
}

/** Waits for the member's boot, then measures it from outside (politely: one query per 2 s). */
async function checkMember(
  lab: Lab,
  m: MemberOutput,
  commands: readonly { name: string; status: string }[],
  timeoutSeconds: number,
  log: (msg: string) => void,
): Promise<MemberReport> {
  const d = lab.droplet(m.dropletId, `members.${m.name}.dropletId`);
  const mine = commands.filter((c) => c.name.startsWith(`${m.name}-`));
  const rep: MemberReport = {
    name: m.name,
    reservedIpv4: m.ipv4,
    reservedIpv6: m.ipv6,
    dropletId: m.dropletId,
    bootSeconds: null,
    syncSeconds: null,
    stratum: null,
    offset: null,
    verification: { present: mine.length > 0, ok: false, detail: "" },
    cloudInit: { stages: [], modules: [] },
  };
  const deadline = d.t0 + timeoutSeconds * 1000;
  const boot = await Promise.race([
    d.booted,
    sleep(Math.max(0, deadline - Date.now())).then(() => undefined),
  ]);
  rep.cloudInit.stages = [...d.stages];
  rep.logs = join(lab.cacheDir, "reports", lab.prefix, d.spec.name);
  rep.cloudInit.modules = parseModuleResults(
    d.readGuestFile(lab.image.root, "var/log/cloud-init.log") ?? "",
  );
  if (boot?.ok) {
    rep.bootSeconds = boot.seconds;
    log(`${m.name}: boot finished in ${boot.seconds.toFixed(1)} s`);
  }
  const failedStages = d.stages.filter((s) => s.rc !== 0).map((s) => `${s.name} (rc ${s.rc})`);
  while (Date.now() < deadline) {
    const q = await lab.queryFromOutside(m.ipv4);
    if (
      q &&
      q.stratum >= 1 &&
      q.stratum <= 15 &&
      q.leap !== "alarm" &&
      q.leap !== "unsynchronized"
    ) {
      rep.syncSeconds = d.syncSeconds ?? (Date.now() - d.t0) / 1000;
      rep.stratum = q.stratum;
      rep.offset = q.offset;
      break;
    }
    await sleep(2000);
  }
  const verified = mine.every((c) => c.status === "emulated");
  if (rep.syncSeconds === null) {
    const peers = await lab.peersInside(d);
    rep.peersInside = peers;
    const rows = peers
      .split("\n")
      .filter((l) => /^[ *+#ox.-]?\d/.test(l.trim()) || /^\s*[*+#ox.-]?[\d:a-f]+\s/.test(l));
    const reach = rows.map((l) => l.trim().split(/\s+/)[6]);
    const why =
      rows.length > 0 && reach.every((r) => r === "0")
        ? `upstreams unreachable from the droplet: reach 0 for all ${rows.length} servers (firewall? upstreams down?)`
        : rows.length === 0
          ? `ntpd is not answering inside the droplet${boot ? "" : " (boot did not finish)"}`
          : "not synchronised";
    rep.verification = {
      present: mine.length > 0,
      ok: false,
      detail: `no synchronised answer from ${m.ipv4} within ${timeoutSeconds} s: ${why}${failedStages.length ? `; failed boot steps: ${failedStages.join(", ")}` : ""}`,
    };
  } else if (failedStages.length > 0) {
    rep.verification = {
      present: mine.length > 0,
      ok: false,
      detail: `failed boot steps: ${failedStages.join(", ")}`,
    };
  } else {
    rep.verification = {
      present: mine.length > 0,
      ok: verified,
      detail:
        mine.length > 0
          ? `verification commands passed (${mine.map((c) => c.name).join(", ")})`
          : "verification commands absent from the program; the lab's own check: synchronised answer from outside",
    };
  }
  log(`${m.name}: ${rep.verification.ok ? "OK" : "FAILED"}: ${rep.verification.detail}`);
  return rep;
}

/** Writes the report as JSON; returns the path. */
export function writeReport(report: LabReport, path: string): string {
  mkdirSync(resolve(path, ".."), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

export const defaultReportPath = (cacheDir: string, prefix: string): string =>
  join(cacheDir, "reports", `lab-report-${prefix}.json`);
