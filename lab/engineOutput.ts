/**
 * What the Pulumi CLI prints, read: the change summary, the finished steps and the
 * diagnostics of `preview --json`, `up --json` and `refresh --json`, in whichever form the CLI
 * printed them (one JSON document, or engine events one per line). Checked against the real
 * engine's output in test/fixtures/pulumi-3.248.0/.
 */
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
const UNCHANGING_KINDS: ReadonlySet<string> = new Set(["same", "read"]);

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
