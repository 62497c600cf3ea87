import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { LabApi } from "./api";
import type { Deployer } from "./deployer";
import { ApiClient, PROVIDER_TIMING, type Timing } from "./provider/client";
import { PROVIDER_INVOKES, PROVIDER_RESOURCES } from "./provider/index";
import {
  type Deployed,
  type LabReport,
  type MemberOutput,
  type ResourceRecord,
  shortType,
} from "./report";
import type { StackConfig } from "./stack";

/**
 * The mock-runtime driver: the real program under Pulumi's mock runtime, standing where a
 * first `pulumi up` would (it models no update, replacement or delete: lab/README.md).
 */

const PROGRAM = resolve(__dirname, "..", "index.ts");

/** The SDK's marker for a secret value in deserialised inputs (sdk/nodejs/runtime/rpc.ts). */
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Inputs with every secret wrapper replaced by its value (the lab needs the real key). */
function unwrapSecrets(v: unknown): unknown {
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
 * The program (index.ts) under Pulumi's mock runtime: each resource it registers becomes the
 * DigitalOcean provider's API calls (lab/provider/), or a key/command realised by the lab.
 */
export async function runMockProgram(
  deployer: Deployer,
  api: LabApi,
  stack: StackConfig,
  report: LabReport,
  waitScale: number | undefined,
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

  const timing: Timing = { scale: waitScale ?? PROVIDER_TIMING.scale };
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
        rec.apiCalls = [...client.log];
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
        deployer,
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
        if (rec.via === "api") rec.apiCalls = [...client.log];
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

/**
 * Dispatches one resource: DigitalOcean resources become the provider's API calls against
 * the emulated API (lab/provider/), which alone realises them; keys and commands are realised
 * by the lab from the deployer's namespace, as Pulumi's tls and command providers would run
 * on the user's machine. undefined = not emulated.
 */
async function realise(
  deployer: Deployer,
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
      return deployer.createPrivateKey(inputs);
    case "command:remote:Command":
      return deployer.runRemote(name, inputs);
    case "command:local:Command":
      return deployer.runLocal(name, inputs);
    case "pulumi:pulumi:StackReference":
      // The program reads its own stack's last outputs (components/preflight.ts); every lab
      // run is a first deployment, so there are none.
      return { ...inputs, outputs: {}, secretOutputNames: [], __id: String(inputs.name) };
    default:
      rec.via = undefined;
      return undefined;
  }
}
