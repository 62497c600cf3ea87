import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadFleetConfig } from "../components/config";
import { parseModuleResults } from "./droplet";
import { sleep } from "./exec";
import { ensureImage } from "./image";
import { type Faults, Lab, newPrefix } from "./lab";
import { readStackConfig } from "./stack";

/** What the lab did with one resource the program registered. */
export interface ResourceRecord {
  readonly type: string;
  readonly name: string;
  status: "emulated" | "not emulated" | "failed" | "pending";
  detail?: string;
  seconds?: number;
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
  readonly beforeTeardown?: (lab: Lab) => Promise<void>;
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
  try {
    await lab.up();
    log(`topology up: switch ${lab.sw}, edge ${lab.edge}, internet ${lab.inet}`);

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

    const mocks: pulumi.runtime.Mocks = {
      call: (args) => {
        // DigitalOcean's defaults for a new account (docs: reserved-ips/details/limits).
        if (args.token === "digitalocean:index/getAccount:getAccount")
          return { id: "lab", status: "active", dropletLimit: 25, floatingIpLimit: 3 };
        if (args.token === "digitalocean:index/getSshKeys:getSshKeys")
          return {
            id: "lab",
            sshKeys: [...lab.sshKeys.entries()].map(([id, k]) => ({
              id: Number(id),
              name: id,
              ...k,
            })),
          };
        throw new Error(`invoke ${args.token}: not emulated by the lab`);
      },
      newResource: async (args) => {
        if (!args.custom) return { id: undefined, state: {} };
        const rec: ResourceRecord = { type: args.type, name: args.name, status: "pending" };
        report.resources.push(rec);
        const started = Date.now();
        const work = realise(
          lab,
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
          log(`${shortType(args.type)} ${args.name} ready (${rec.seconds.toFixed(1)} s)`);
          return { id: String(__id ?? `${args.name}-id`), state: rest };
        } catch (e) {
          rec.status = "failed";
          rec.detail = (e as Error).message;
          firstFailure ??= e as Error;
          log(`FAILED ${shortType(args.type)} ${args.name}: ${(e as Error).message}`);
          failRun(e);
          throw e;
        } finally {
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
    const members = (Object.fromEntries(outputs).members ?? {}) as Record<
      string,
      {
        name: string;
        ipv4: string;
        ipv6: string | null;
        dropletId: string;
        verification?: MemberReport["phases"];
      }
    >;
    const verifyCommands = report.resources.filter((r) => r.type.startsWith("command:"));
    const timeout =
      opts.syncTimeoutSeconds ??
      Number(stack.config[`${stack.project}:verifyTimeoutSeconds`] ?? LAB_SYNC_TIMEOUT_SECONDS);

    report.members = await Promise.all(
      Object.values(members).map(async (m) => ({
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
    await opts.beforeTeardown?.(lab);
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

const shortType = (t: string): string => t.replace(/^digitalocean:index\/\w+:/, "digitalocean:");

/** Dispatches one resource to its realisation; undefined = not emulated. */
async function realise(
  lab: Lab,
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  switch (type) {
    case "digitalocean:index/droplet:Droplet":
      return lab.createDroplet(name, inputs);
    case "digitalocean:index/reservedIp:ReservedIp": {
      const s = lab.createReservedIp(inputs);
      if (inputs.dropletId !== undefined)
        await lab.assignReservedIp({ ipAddress: s.ipAddress, dropletId: inputs.dropletId });
      return s;
    }
    case "digitalocean:index/reservedIpAssignment:ReservedIpAssignment":
      return lab.assignReservedIp(inputs);
    case "digitalocean:index/reservedIpv6:ReservedIpv6":
      return lab.createReservedIpv6(inputs);
    case "digitalocean:index/reservedIpv6Assignment:ReservedIpv6Assignment":
      return lab.assignReservedIpv6(inputs);
    case "digitalocean:index/firewall:Firewall":
      return lab.createFirewall(name, inputs);
    case "digitalocean:index/tag:Tag":
      // A tag is only a name; droplets and firewalls match on it (see lab/firewall.ts).
      return { ...inputs, __id: String(inputs.name) };
    case "digitalocean:index/sshKey:SshKey":
      return lab.createSshKey(inputs);
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
      return undefined;
  }
}

/** Waits for the member's boot, then measures it from outside (politely: one query per 2 s). */
async function checkMember(
  lab: Lab,
  m: { name: string; ipv4: string; ipv6: string | null; dropletId: string },
  commands: { name: string; status: string }[],
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
