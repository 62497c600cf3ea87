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
   * probed `pulumi up` must replace the droplet create-before-delete (judgeReplacement).
   */
  readonly kind: "up" | "refused" | "fails";
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
  /** A `digitalocean:token` to use instead of the lab's for this scenario (then restored). */
  readonly token?: string;
}

const ops = (steps: readonly StepEvent[], suffix: string): string[] =>
  steps.filter((s) => s.name.endsWith(suffix)).map((s) => s.op);

/** A droplet replacement must be create-before-delete and happen at all. */
export function judgeReplacement(steps: readonly StepEvent[]): string | undefined {
  const early = deletedBeforeReplaced(steps);
  if (early.length > 0) return `delete-before-replace of ${early.join(", ")}`;
  if (!ops(steps, "-droplet").includes("create-replacement"))
    return `the droplet was not replaced (its steps: ${ops(steps, "-droplet").join(", ") || "none"})`;
  return undefined;
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
      const fw = ops(r.steps, "-firewall");
      if (!fw.includes("update")) return `the firewall was not updated in place (${fw.join(", ")})`;
      const d = ops(r.steps, "-droplet").filter((o) => o !== "same");
      return d.length > 0 ? `the droplet changed (${d.join(", ")})` : undefined;
    },
  },
  {
    name: "project",
    row: "`projectName` set (a project created; then a second up with no changes)",
    kind: "up",
    settings: () => ({ projectName: "ntp-pool lab" }),
    judge: (r) =>
      r.changes?.create === 1 && ops(r.steps, "-droplet").every((o) => o === "same")
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
      if (!ops(r.steps, "-droplet").includes("create-replacement"))
        return `no new droplet was created (its steps: ${ops(r.steps, "-droplet").join(", ") || "none"})`;
      const moved = r.steps.filter(
        (s) => /-ipv?6?-assignment$/.test(s.name) && s.op !== "same" && s.op !== "read",
      );
      return moved.length > 0
        ? `a reserved-IP assignment changed although the pre-check failed: ${moved.map((s) => `${s.name} ${s.op}`).join(", ")}`
        : undefined;
    },
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
    token: "dop_v1_0000000000000000000000000000000000000000000000000000000000000000",
    settings: () => ({}),
    judge: (r) =>
      r.code !== 0 &&
      /digitalocean:token: DigitalOcean does not accept the stack's token \(401/.test(r.text) &&
      !/unhandled exception/.test(r.text)
        ? undefined
        : `preview did not fail with the one-line digitalocean:token message (exit ${r.code})`,
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
