import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { delimiter, join } from "node:path";
import { parse, stringify } from "yaml";
import type { RunOptions } from "./exec";
import { nsRun } from "./net";
import type { StackConfig } from "./stack";

/**
 * `npm run lab -- --engine pulumi`: the real Pulumi engine, the real DigitalOcean provider
 * (pointed at the emulated API) and the real command provider, all run from the lab's
 * internet namespace (the deployer). This module builds the commands, the backend and the
 * stack's configuration, and reads the engine's answers; lab/run.ts drives the steps.
 */

/** The `pulumi` executable on PATH, or undefined (users install it as Pulumi documents). */
export function findPulumi(path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, "pulumi");
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The one line printed (and exit code 2) when no Pulumi CLI is installed. */
export const NO_PULUMI =
  "lab: --engine pulumi needs the Pulumi CLI on PATH (https://www.pulumi.com/docs/install/); none found";

export interface EngineSetup {
  /** The run directory's state backend (file://), removed with the run. */
  readonly backendDir: string;
  /**
   * The project as the engine sees it: a directory in the run dir whose entries link to the
   * repository's (Pulumi.yaml, index.ts, components/, policy/, node_modules/ ...), so the
   * lab stack's settings file never lands in the user's checkout.
   */
  readonly projectDir: string;
  /** The lab stack's settings file (Pulumi.<stack>.yaml in projectDir). */
  readonly configFile: string;
  readonly stack: string;
  readonly env: Record<string, string>;
}

/**
 * The engine's environment: a file state backend in the run directory (nothing in the
 * user's Pulumi account or ~/.pulumi state), a passphrase secrets provider with a lab
 * passphrase, no update check (the lab sends packets nowhere else).
 */
export function engineSetup(runDir: string, stack: string, passphrase: string): EngineSetup {
  const backendDir = join(runDir, "pulumi-state");
  const projectDir = join(runDir, "project");
  return {
    backendDir,
    projectDir,
    configFile: join(projectDir, `Pulumi.${stack}.yaml`),
    stack,
    env: {
      PULUMI_BACKEND_URL: `file://${backendDir}`,
      PULUMI_CONFIG_PASSPHRASE: passphrase,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
    },
  };
}

/**
 * The lab stack's configuration file: the stack's own settings plus the DigitalOcean
 * provider pointed at the emulated API. The token is set separately as a secret
 * (`pulumi config set --secret`), so it is stored encrypted, never in clear.
 */
export function renderEngineConfig(stack: StackConfig, apiUrl: string): string {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(stack.config)) {
    let value: unknown = v;
    try {
      const parsed = JSON.parse(v) as unknown;
      if (parsed !== null && typeof parsed === "object") value = parsed;
    } catch {
      // A plain string setting.
    }
    config[k] = value;
  }
  config["digitalocean:apiEndpoint"] = apiUrl;
  return stringify({ config });
}

/**
 * Writes the backend directory, the linked project directory (every entry of `repoDir`
 * but stack settings files, git metadata and caches) and the stack's settings file.
 */
export function prepareEngine(
  setup: EngineSetup,
  stack: StackConfig,
  apiUrl: string,
  repoDir: string,
): void {
  mkdirSync(setup.backendDir, { recursive: true });
  mkdirSync(setup.projectDir, { recursive: true });
  for (const entry of readdirSync(repoDir)) {
    if (/^Pulumi\..+\.ya?ml$/.test(entry) || entry === ".git" || entry === ".lab-cache") continue;
    const link = join(setup.projectDir, entry);
    if (!existsSync(link)) symlinkSync(join(repoDir, entry), link);
  }
  writeFileSync(setup.configFile, renderEngineConfig(stack, apiUrl));
}

/**
 * Sets one setting in the stack's settings file, keeping everything the engine wrote there
 * (the encryption salt, the token's ciphertext).
 */
export function setStackSetting(configFile: string, key: string, value: unknown): void {
  const doc = (parse(readFileSync(configFile, "utf8")) ?? {}) as {
    config?: Record<string, unknown>;
  };
  doc.config = { ...(doc.config ?? {}), [key]: value };
  writeFileSync(configFile, stringify(doc));
}

/** Removes one setting from the stack's settings file. */
export function unsetStackSetting(configFile: string, key: string): void {
  const doc = (parse(readFileSync(configFile, "utf8")) ?? {}) as {
    config?: Record<string, unknown>;
  };
  if (doc.config) delete doc.config[key];
  writeFileSync(configFile, stringify(doc));
}

/** The project's settings in the stack's settings file, keys without the namespace. */
export function stackSettings(configFile: string, project: string): Record<string, unknown> {
  const doc = (parse(readFileSync(configFile, "utf8")) ?? {}) as {
    config?: Record<string, unknown>;
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc.config ?? {}))
    if (k.startsWith(`${project}:`)) out[k.slice(project.length + 1)] = v;
  return out;
}

/** One engine step: argv after `pulumi`, and what it reads on stdin. */
export interface EngineStep {
  readonly name: string;
  readonly argv: readonly string[];
  readonly stdin?: string;
}

/** The steps of a rehearsal, in order (`scenario` adds its own after the second up). */
export function engineSteps(setup: EngineSetup, token: string): EngineStep[] {
  const withConfig = ["--stack", setup.stack, "--non-interactive"];
  return [
    {
      name: "stack init",
      argv: ["stack", "init", setup.stack, "--secrets-provider", "passphrase", "--non-interactive"],
    },
    tokenStep(setup, token, "token"),
    { name: "preview", argv: ["preview", "--policy-pack", "policy", "--json", ...withConfig] },
    { name: "up", argv: ["up", "--yes", "--skip-preview", "--json", ...withConfig] },
    { name: "second up", argv: ["up", "--yes", "--json", ...withConfig] },
  ];
}

/** Sets `digitalocean:token` as a secret, read from stdin: never on a command line (ps) or in a log. */
export function tokenStep(setup: EngineSetup, token: string, name: string): EngineStep {
  return {
    name,
    argv: [
      "config",
      "set",
      "--secret",
      "digitalocean:token",
      "--stack",
      setup.stack,
      "--non-interactive",
    ],
    stdin: token,
  };
}

/** `pulumi stack output --json members`: the program's members as the engine recorded them. */
export function outputStep(setup: EngineSetup): EngineStep {
  return {
    name: "outputs",
    argv: ["stack", "output", "--json", "--stack", setup.stack, "--non-interactive"],
  };
}

/**
 * `--scenario replace`: the same upstreams in another order (the first one last). The
 * droplet's user-data changes, and user_data forces a new droplet (resource_droplet.go:242-247,
 * ForceNew), while the count stays within the program's 4 to 7.
 */
export function replaceUpstreams(current: readonly string[]): string[] {
  if (current.length < 2)
    throw new Error(
      `--scenario replace: ntp-pool:upstreams needs 2 or more servers to reorder; got ${current.length}`,
    );
  return [...current.slice(1), current[0] as string];
}

export function destroyStep(setup: EngineSetup): EngineStep {
  return {
    name: "destroy",
    argv: [
      "destroy",
      "--yes",
      "--stack",
      setup.stack,
      "--non-interactive",
      "--config-file",
      setup.configFile,
    ],
  };
}

/** Resource changes by kind ("create", "same", "replace", "update", "delete", ...). */
export type ChangeSummary = Record<string, number>;

/**
 * The change summary of `pulumi preview --json` / `pulumi up --json`, from whichever form
 * the CLI printed: one JSON document with `changeSummary` (preview --json), engine events
 * one per line with a `summaryEvent.resourceChanges`, or the human summary ("Resources:",
 * "+ 12 created", "3 unchanged").
 */
export function parseChangeSummary(out: string): ChangeSummary | undefined {
  const doc = tryJson(out.trim());
  const fromDoc = (d: unknown): ChangeSummary | undefined => {
    const o = d as {
      changeSummary?: ChangeSummary;
      summaryEvent?: { resourceChanges?: ChangeSummary };
    };
    return o?.changeSummary ?? o?.summaryEvent?.resourceChanges;
  };
  if (doc !== undefined) return fromDoc(doc);
  for (const line of out.split("\n").reverse()) {
    const s = fromDoc(tryJson(line.trim()));
    if (s) return s;
  }
  const i = out.lastIndexOf("Resources:");
  if (i < 0) return undefined;
  const words: Record<string, string> = {
    created: "create",
    updated: "update",
    deleted: "delete",
    replaced: "replace",
    unchanged: "same",
    "to create": "create",
    "to update": "update",
    "to delete": "delete",
    "to replace": "replace",
  };
  const summary: ChangeSummary = {};
  for (const m of out
    .slice(i)
    .matchAll(
      /^\s*[+~\-±]*\s*(\d+)\s+(to (?:create|update|delete|replace)|created|updated|deleted|replaced|unchanged)\s*$/gm,
    )) {
    const kind = words[m[2] as string] as string;
    summary[kind] = (summary[kind] ?? 0) + Number(m[1]);
  }
  return Object.keys(summary).length > 0 ? summary : undefined;
}

/**
 * Step kinds that change nothing in the cloud or the state (pulumi/pulumi
 * pkg/resource/deploy/step.go, StepOp): "same", and "read", which reads an existing
 * resource — the preflight's StackReference to this stack is read on every run
 * (components/preflight.ts), so a second `up` that changes nothing still reports `read: 1`.
 */
export const UNCHANGING_KINDS: ReadonlySet<string> = new Set(["same", "read"]);

/** Changes other than "same" and "read": what a second `pulumi up` must not have. */
export const changesIn = (s: ChangeSummary): number =>
  Object.entries(s)
    .filter(([k]) => !UNCHANGING_KINDS.has(k))
    .reduce((a, [, n]) => a + n, 0);

/** Resources a preview would touch (every kind, "same" included), for the report. */
export const resourcesIn = (s: ChangeSummary): number =>
  Object.values(s).reduce((a, n) => a + n, 0);

/**
 * The engine's messages as a person reads them: `preview --json` prints one document whose
 * `diagnostics[].message` are JSON strings (quotes escaped), so a message is matched on
 * these, not on the raw output. Falls back to the output itself.
 */
export function diagnosticsText(out: string): string {
  const doc = tryJson(out.trim()) as { diagnostics?: { message?: string }[] } | undefined;
  const messages = (doc?.diagnostics ?? []).map((d) => d.message ?? "");
  return messages.length > 0 ? messages.join("\n") : out;
}

/** One finished step of `pulumi up --json`'s engine events (`resOutputsEvent`), in order. */
export interface StepEvent {
  readonly op: string;
  readonly urn: string;
  /** The resource's name (the URN's last part). */
  readonly name: string;
}

/**
 * The steps the engine finished, in the order it printed them: the engine events of
 * `pulumi up --json`, one JSON object per line after the preview document.
 */
export function parseStepEvents(out: string): StepEvent[] {
  const steps: StepEvent[] = [];
  for (const line of out.split("\n")) {
    if (!line.includes('"resOutputsEvent"')) continue;
    const e = tryJson(line.trim()) as
      | { resOutputsEvent?: { metadata?: { op?: string; urn?: string } } }
      | undefined;
    const m = e?.resOutputsEvent?.metadata;
    if (m?.op === undefined || m.urn === undefined) continue;
    steps.push({ op: m.op, urn: m.urn, name: m.urn.split("::").pop() ?? m.urn });
  }
  return steps;
}

/**
 * Resources the engine replaced delete-before-replace: their old instance deleted
 * (`delete-replaced`) before the new one was created (`create-replacement`). The program
 * asks for create-before-delete (components/PoolServer.ts), so any name here is a failure.
 */
export function deletedBeforeReplaced(steps: readonly StepEvent[]): string[] {
  const created = new Set<string>();
  const early: string[] = [];
  for (const s of steps) {
    if (s.op === "create-replacement") created.add(s.urn);
    if (s.op === "delete-replaced" && !created.has(s.urn)) early.push(s.name);
  }
  return early;
}

function tryJson(s: string): unknown {
  if (!s.startsWith("{")) return undefined;
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}

/** A scenario's `pulumi up` (engine events on stdout, one per line after the preview). */
export function upStep(setup: EngineSetup, name: string): EngineStep {
  return { name, argv: ["up", "--yes", "--json", "--stack", setup.stack, "--non-interactive"] };
}

/** A scenario's `pulumi preview` with the policy pack. */
export function previewStep(setup: EngineSetup, name: string): EngineStep {
  return {
    name,
    argv: [
      "preview",
      "--policy-pack",
      "policy",
      "--json",
      "--stack",
      setup.stack,
      "--non-interactive",
    ],
  };
}

/**
 * `pulumi refresh`: the state read back from the (emulated) cloud, the first step of the drift
 * runbook. `--json` prints the same engine events as `up --json`.
 */
export function refreshStep(setup: EngineSetup, name: string): EngineStep {
  return {
    name,
    argv: ["refresh", "--yes", "--json", "--stack", setup.stack, "--non-interactive"],
  };
}

/**
 * `pulumi state delete <urn> --target-dependents`: a resource dropped from the state with the
 * resources that depend on it (without the flag the engine refuses while any does: the
 * verification commands depend on the assignments), the cloud untouched.
 */
export function stateDeleteStep(setup: EngineSetup, urn: string, name: string): EngineStep {
  return {
    name,
    argv: [
      "state",
      "delete",
      urn,
      "--target-dependents",
      "--yes",
      "--stack",
      setup.stack,
      "--non-interactive",
    ],
  };
}

interface Diagnostic {
  readonly severity?: string;
  readonly message?: string;
  readonly urn?: string;
  readonly prefix?: string;
}

/**
 * The diagnostics of a `--json` run, from either form the CLI prints: one JSON document
 * with `diagnostics` (preview, refresh) or engine events one per line (`diagnosticEvent`).
 */
function diagnosticsOf(out: string): Diagnostic[] {
  const doc = tryJson(out.trim()) as { diagnostics?: Diagnostic[] } | undefined;
  if (doc !== undefined) return doc.diagnostics ?? [];
  const found: Diagnostic[] = [];
  for (const line of out.split("\n")) {
    if (!line.includes('"diagnosticEvent"')) continue;
    const d = (tryJson(line.trim()) as { diagnosticEvent?: Diagnostic } | undefined)
      ?.diagnosticEvent;
    if (d !== undefined) found.push(d);
  }
  return found;
}

/**
 * The engine's error diagnostics of a `--json` run, one string each (the failing resource's
 * name first, when the diagnostic names one).
 */
export function errorDiagnostics(out: string): string[] {
  return diagnosticsOf(out)
    .filter((d) => d.severity === "error" && d.message !== undefined)
    .map((d) => {
      const name = d.urn?.split("::").pop();
      const message = (d.message ?? "").replace(/^error: /, "").trim();
      return name !== undefined && name !== "" ? `${name}: ${message}` : message;
    });
}

/**
 * The URNs of the resources whose step failed in a `--json` run, in order: each
 * `resOpFailedEvent`, and each error diagnostic that names a resource (a refresh's failed read).
 */
export function parseFailedUrns(out: string): string[] {
  const urns: string[] = [];
  const add = (u: string | undefined) => {
    if (u !== undefined && u !== "" && !urns.includes(u)) urns.push(u);
  };
  for (const line of out.split("\n")) {
    if (!line.includes('"resOpFailedEvent"')) continue;
    add(
      (tryJson(line.trim()) as { resOpFailedEvent?: { metadata?: { urn?: string } } } | undefined)
        ?.resOpFailedEvent?.metadata?.urn,
    );
  }
  for (const d of diagnosticsOf(out)) if (d.severity === "error") add(d.urn);
  return urns;
}

/** Runs one step from the deployer's namespace (`ip netns exec <inet> pulumi ...`). */
export function runStep(
  inet: string,
  pulumi: string,
  step: EngineStep,
  setup: EngineSetup,
  onStdout?: RunOptions["onStdout"],
): ReturnType<typeof nsRun> {
  return nsRun(inet, [pulumi, ...step.argv], {
    cwd: setup.projectDir,
    env: setup.env,
    input: step.stdin,
    timeoutMs: 60 * 60 * 1000,
    onStdout,
  });
}
