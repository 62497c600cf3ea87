import {
  type ChangeSummary,
  deletedBeforeReplaced,
  replaceUpstreams,
  type StepEvent,
} from "./engine";

/**
 * The change scenarios of `--engine pulumi`, one per row of the table in
 * docs/operations.md#what-each-kind-of-change-does-to-a-running-member that the lab can
 * express: the settings each changes, and how the engine's answer is judged. lab/engineRun.ts runs them, in the order given, after
 * the second up, probing the reserved addresses through every `pulumi up`.
 */
export interface ChangeScenario {
  readonly name: string;
  /** The row of that table (docs/operations.md) it rehearses. */
  readonly row: string;
  /**
   * "up": `pulumi up`, probed; "refused": `pulumi preview` must fail, then the change is
   * undone; "fails": `pulumi up`, probed, must fail (judged), then the change is undone and a
   * probed `pulumi up` must replace the droplet create-before-delete (judgeReplacement);
   * "interrupted": `pulumi up`, probed, gets a Ctrl-C (SIGINT) as soon as the new droplet
   * exists, then a probed `pulumi up` must finish the replacement (judgeFinished);
   * "drift": the first member's droplet is deleted through the API, then README's drift
   * runbook (`pulumi refresh`, what it says to do on the refresh's errors, `pulumi up`) must
   * bring the member back on its reserved addresses (judgeDriftRepair).
   */
  readonly kind: "up" | "refused" | "fails" | "interrupted" | "drift";
  /** The settings to set (keys without the project's namespace), from the current ones. */
  settings(current: Readonly<Record<string, unknown>>): Record<string, unknown>;
  /** What is wrong with the engine's answer, or undefined. */
  judge(r: {
    readonly changes?: ChangeSummary;
    readonly steps: readonly StepEvent[];
    readonly text: string;
    readonly code: number | null;
  }): string | undefined;
  /** Run a further `pulumi up` that must change nothing. */
  readonly thenNoChange?: boolean;
  /**
   * A `digitalocean:token` to use instead of the lab's for this scenario (then restored): one
   * the API refuses (401), or the lab account's read-only token (writes answer 403).
   */
  readonly token?: "refused" | "read-only";
  /** For "refused": the command that must fail, `pulumi preview` (default) or `pulumi up`. */
  readonly attempt?: "preview" | "up";
}

/**
 * A resource's type, from its URN (`urn:pulumi:<stack>::<project>::<parent types$>type::name`):
 * names alone mislead, `<member>-precheck-on-droplet` ends like `<member>-droplet`.
 */
const typeOf = (s: StepEvent): string => s.urn.split("::")[2]?.split("$").pop() ?? "";

const DROPLET = "digitalocean:index/droplet:Droplet";
const FIREWALL = "digitalocean:index/firewall:Firewall";
const ASSIGNMENTS: readonly string[] = [
  "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  "digitalocean:index/reservedIpv6Assignment:ReservedIpv6Assignment",
];
const isAssignment = (s: StepEvent): boolean => ASSIGNMENTS.includes(typeOf(s));
const changed = (s: StepEvent): boolean => s.op !== "same" && s.op !== "read";

/** The operations on resources of one type, in order. */
const ops = (steps: readonly StepEvent[], type: string): string[] =>
  steps.filter((s) => typeOf(s) === type).map((s) => s.op);

/** A droplet replacement must be create-before-delete and happen at all. */
export function judgeReplacement(steps: readonly StepEvent[]): string | undefined {
  const early = deletedBeforeReplaced(steps);
  if (early.length > 0) return `delete-before-replace of ${early.join(", ")}`;
  if (!ops(steps, DROPLET).includes("create-replacement"))
    return `the droplet was not replaced (its steps: ${ops(steps, DROPLET).join(", ") || "none"})`;
  return undefined;
}

/**
 * Where `--scenario interrupted` presses Ctrl-C: the engine has just created a member's new
 * droplet (its `create-replacement` finished), so the old droplet still holds the reserved
 * IPs, the new one has not passed its pre-check, and the old one is already marked for
 * deletion in the state.
 */
export const interruptAt = (s: StepEvent): boolean =>
  s.op === "create-replacement" && typeOf(s) === DROPLET;

/**
 * The `pulumi up` run after an interrupted replacement must finish it: the interrupted
 * droplet's replacement kept (not a third droplet), both reserved-IP assignments moved to
 * it, and the old droplet deleted, last.
 */
export function judgeFinished(steps: readonly StepEvent[]): string | undefined {
  const d = ops(steps, DROPLET);
  if (d.some((o) => o === "create" || o === "create-replacement"))
    return `another droplet was created instead of finishing the replacement (its steps: ${d.join(", ")})`;
  if (!d.includes("delete-replaced"))
    return `the old droplet was not deleted (its steps: ${d.join(", ") || "none"})`;
  for (const type of ASSIGNMENTS) {
    const o = ops(steps, type);
    if (o.length > 0 && !o.some((x) => x !== "same" && x !== "read"))
      return `the ${type.split(":").pop()} did not move to the new droplet`;
  }
  const deleted = steps.findIndex((s) => typeOf(s) === DROPLET && s.op === "delete-replaced");
  return steps.some((s, i) => i > deleted && isAssignment(s) && changed(s))
    ? "the old droplet was deleted before a reserved-IP assignment moved"
    : undefined;
}

/**
 * The `pulumi up` of the drift runbook after a member's droplet was deleted: a new droplet
 * created and both reserved-IP assignments created for it.
 */
export function judgeDriftRepair(steps: readonly StepEvent[]): string | undefined {
  if (!ops(steps, DROPLET).includes("create"))
    return `no new droplet was created (its steps: ${ops(steps, DROPLET).join(", ") || "none"})`;
  const assigned = steps.filter((s) => isAssignment(s) && /create/.test(s.op));
  return assigned.length === 0 ? "no reserved-IP assignment was created" : undefined;
}

export const SCENARIOS: readonly ChangeScenario[] = [
  {
    name: "replace",
    row: "`upstreams` (droplet replaced: user_data is ForceNew)",
    kind: "up",
    settings: (c) => ({ upstreams: replaceUpstreams((c.upstreams as string[]) ?? []) }),
    judge: (r) => judgeReplacement(r.steps),
  },
  {
    name: "size",
    row: "`size` (droplet replaced: replaceOnChanges)",
    kind: "up",
    settings: (c) => ({ size: c.size === "s-2vcpu-2gb" ? "s-1vcpu-2gb" : "s-2vcpu-2gb" }),
    judge: (r) => judgeReplacement(r.steps),
  },
  {
    name: "ssh-cidrs",
    row: "`sshSourceCidrs` (firewall updated in place)",
    kind: "up",
    settings: (c) => ({
      sshSourceCidrs: [...((c.sshSourceCidrs as string[]) ?? []), "192.0.2.0/24"],
    }),
    judge: (r) => {
      const fw = ops(r.steps, FIREWALL);
      if (!fw.includes("update")) return `the firewall was not updated in place (${fw.join(", ")})`;
      const d = ops(r.steps, DROPLET).filter((o) => o !== "same");
      return d.length > 0 ? `the droplet changed (${d.join(", ")})` : undefined;
    },
  },
  {
    name: "project",
    row: "`projectName` set (a project created; then a second up with no changes)",
    kind: "up",
    settings: () => ({ projectName: "ntp-pool lab" }),
    judge: (r) =>
      r.changes?.create === 1 && ops(r.steps, DROPLET).every((o) => o === "same")
        ? undefined
        : `expected one project created and nothing else: ${JSON.stringify(r.changes)}`,
    thenNoChange: true,
  },
  {
    name: "precheck-fails",
    row: "a replacement whose new droplet fails its pre-check (the reserved IPs stay on the old droplet)",
    kind: "fails",
    // The upstreams reordered replace the droplet; SSH opened only to a network the deployer
    // is not in makes the new droplet's pre-check fail at its reach gate, within seconds.
    settings: (c) => ({
      upstreams: replaceUpstreams((c.upstreams as string[]) ?? []),
      sshSourceCidrs: ["192.0.2.0/24"],
    }),
    judge: (r) => {
      if (r.code === 0) return "pulumi up succeeded: the new droplet's pre-check did not fail";
      if (
        !/filtered from this machine while NTP answers: the cloud firewall admits SSH only from sshSourceCidrs/.test(
          r.text,
        )
      )
        return "pulumi up failed, but not at the pre-check's reach gate (SSH filtered while NTP answers)";
      if (!ops(r.steps, DROPLET).includes("create-replacement"))
        return `no new droplet was created (its steps: ${ops(r.steps, DROPLET).join(", ") || "none"})`;
      const moved = r.steps.filter((s) => isAssignment(s) && changed(s));
      return moved.length > 0
        ? `a reserved-IP assignment changed although the pre-check failed: ${moved.map((s) => `${s.name} ${s.op}`).join(", ")}`
        : undefined;
    },
  },
  {
    name: "interrupted",
    row: "`pulumi up` interrupted (Ctrl-C) mid-replacement, then run again",
    kind: "interrupted",
    settings: (c) => ({ upstreams: replaceUpstreams((c.upstreams as string[]) ?? []) }),
    judge: (r) => {
      if (r.code === 0) return "pulumi up finished although it was interrupted";
      if (!r.steps.some(interruptAt)) return "pulumi up stopped before the new droplet existed";
      const moved = r.steps.filter((s) => isAssignment(s) && changed(s));
      return moved.length > 0
        ? `a reserved-IP assignment moved after the interrupt: ${moved.map((s) => `${s.name} ${s.op}`).join(", ")}`
        : undefined;
    },
  },
  {
    name: "drift",
    row: "a member's droplet deleted through the API; `pulumi refresh`, then `pulumi up`",
    kind: "drift",
    settings: () => ({}),
    judge: () => undefined,
  },
  {
    name: "region",
    row: "`region` (refused before any resource)",
    kind: "refused",
    settings: (c) => ({
      members: ((c.members as { region: string }[]) ?? []).map((m, i) =>
        i === 0 ? { ...m, region: m.region === "fra1" ? "ams3" : "fra1" } : m,
      ),
    }),
    judge: (r) =>
      r.code !== 0 && /members\[0\]\.region: member "[^"]+" was deployed in/.test(r.text)
        ? undefined
        : `preview was not refused with the region message (exit ${r.code})`,
  },
  {
    name: "token",
    row: "an API failure before any resource: a token DigitalOcean refuses (401)",
    kind: "refused",
    token: "refused",
    settings: () => ({}),
    judge: (r) =>
      r.code !== 0 &&
      /digitalocean:token: DigitalOcean does not accept the stack's token \(401/.test(r.text) &&
      !/unhandled exception/.test(r.text)
        ? undefined
        : `preview did not fail with the one-line digitalocean:token message (exit ${r.code})`,
  },
  {
    name: "token-read-only",
    row: "a read-only token: `pulumi up` of a change fails at its first write (403), nothing changed",
    kind: "refused",
    token: "read-only",
    attempt: "up",
    // A change that needs a write (the firewall's update): an up with nothing to change
    // succeeds with a read-only token, since the preflight and the diff only read.
    settings: (c) => ({
      sshSourceCidrs: [...((c.sshSourceCidrs as string[]) ?? []), "192.0.2.0/24"],
    }),
    judge: (r) => {
      if (r.code === 0) return "pulumi up succeeded with a read-only token";
      if (!/403[^\n]*You are not authorized to perform this operation/.test(r.text))
        return "pulumi up failed, but not with DigitalOcean's 403";
      const done = r.steps.filter(changed);
      return done.length > 0
        ? `resources changed with a read-only token: ${done.map((s) => `${s.name} ${s.op}`).join(", ")}`
        : undefined;
    },
  },
  {
    name: "ipv6-off",
    row: "`ipv6: true` → `false` (the protected reserved IPv6 stops it)",
    kind: "refused",
    settings: (c) => ({
      members: ((c.members as Record<string, unknown>[]) ?? []).map((m, i) =>
        i === 0 ? { ...m, ipv6: false } : m,
      ),
    }),
    judge: (r) =>
      r.code !== 0 && /ReservedIpv6[^\n]*cannot be deleted\s+because it is protected/.test(r.text)
        ? undefined
        : `preview was not stopped by the protected reserved IPv6 (exit ${r.code})`,
  },
];

export const SCENARIO_NAMES = [...SCENARIOS.map((s) => s.name), "destroy"] as const;
