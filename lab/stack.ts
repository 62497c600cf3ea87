import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parse } from "yaml";

/** What `pulumi up` would hand the program as configuration, read from the project files. */
export interface StackConfig {
  readonly project: string;
  readonly stack: string;
  /** Fully qualified keys ("ntp-pool:members") → values as Pulumi passes them (JSON for objects). */
  readonly config: Record<string, string>;
  /** Keys the stack sets as secrets (`secure:`), which the lab cannot decrypt and leaves unset. */
  readonly skippedSecrets: string[];
}

/**
 * Reads Pulumi.yaml (project name, declared config defaults) and a stack file
 * (Pulumi.<stack>.yaml). Non-string values are JSON-encoded, as the Pulumi CLI does for
 * structured config; keys without a namespace belong to the project.
 */
export function readStackConfig(stackFile: string, members?: number): StackConfig {
  const projectFile = join(dirname(stackFile), "Pulumi.yaml");
  const stackDoc = readYamlMapping(stackFile, "--stack-file") as {
    config?: Record<string, unknown>;
  };
  const project = readYamlMapping(projectFile, "project file") as {
    name: string;
    config?: Record<string, { default?: unknown } | unknown>;
  };
  const m = /^Pulumi\.(.+)\.ya?ml$/.exec(basename(stackFile));
  const stack = m?.[1] ?? "dev";
  const qualify = (k: string): string => (k.includes(":") ? k : `${project.name}:${k}`);
  const encode = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));
  const config: Record<string, string> = {};
  for (const [k, decl] of Object.entries(project.config ?? {})) {
    if (decl !== null && typeof decl === "object" && "default" in decl) {
      config[qualify(k)] = encode((decl as { default: unknown }).default);
    }
  }
  const skippedSecrets: string[] = [];
  for (const [k, v] of Object.entries(stackDoc.config ?? {})) {
    if (v !== null && typeof v === "object" && "secure" in (v as object)) {
      skippedSecrets.push(qualify(k));
      continue;
    }
    config[qualify(k)] = encode(v);
  }
  if (members !== undefined) {
    const key = `${project.name}:members`;
    config[key] = JSON.stringify(resizeMembers(key, JSON.parse(config[key] ?? "[]"), members));
  }
  return { project: project.name, stack, config, skippedSecrets };
}

/**
 * `--members N`: the first N members of the stack; when the stack has fewer, copies of its
 * first member named `<name>-<k>` (k = 2, 3, ...) fill the list.
 */
export function resizeMembers(field: string, list: unknown, n: number): unknown[] {
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(
      `${field}: --members needs at least one member in the stack to copy; got ${JSON.stringify(list)}`,
    );
  }
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--members: must be a whole number ≥ 1; got ${n}`);
  const out = list.slice(0, n);
  const first = list[0] as Record<string, unknown>;
  for (let k = out.length + 1; out.length < n; k++) {
    out.push({ ...first, name: `${String(first.name)}-${k}` });
  }
  return out;
}

/**
 * A YAML file whose top level (and `config`, when present) is a mapping; every failure names
 * the file (issue 5: one clear error, before anything is created).
 */
function readYamlMapping(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(
      `${what} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new Error(`${what} ${file}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const isMapping = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (doc === null || doc === undefined) return {};
  if (!isMapping(doc))
    throw new Error(
      `${what} ${file}: must be a YAML mapping (got ${Array.isArray(doc) ? "a list" : typeof doc})`,
    );
  const config = (doc as { config?: unknown }).config;
  if (config !== undefined && config !== null && !isMapping(config)) {
    throw new Error(
      `${what} ${file}: config must be a mapping of settings (got ${Array.isArray(config) ? "a list" : typeof config})`,
    );
  }
  return doc as Record<string, unknown>;
}
