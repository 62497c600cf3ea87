import { describe, expect, it } from "vitest";
import { assertLabPrerequisites, runLabCli } from "../helpers/labCli";
import { SCHEDULING_MS } from "../helpers/timekeeping";

// The whole lab (real program, cloud-init droplet, both verification phases) with one
// falseticker upstream (`--fault-upstream`, lab/upstreams.ts): `pulumi up` still succeeds.
// The falseticker is listed FIRST: the outside check must not take it as its reference (it
// picks the upstream nearest the median of all, verify/outsideJudge.ts pickReference) and
// names it.

describe("whole lab with a falseticker upstream", () => {
  it("upstream 1 of 4 is +2 s off: the member verifies and serves, the falseticker named", async () => {
    assertLabPrerequisites();
    const r = await runLabCli([
      "--stack-file",
      "Pulumi.dev.yaml",
      "--fault-upstream",
      "falseticker:+2",
    ]);
    expect(r.out).toMatch(/upstream ntp1\.time\.nl → \S+ \(FALSETICKER \+2 s\)/);
    expect(r.code, r.out).toBe(0);
    expect(r.report?.ok).toBe(true);
    expect(r.report?.faults.upstreamKinds).toEqual([{ kind: "falseticker", offsetSeconds: 2 }]);
    // Both phases name it, from outside and from the droplet (the stack's verification output).
    for (const phase of ["beforeAssignment", "afterAssignment"] as const) {
      const warnings = r.report?.members[0]?.phases?.[phase]?.warnings ?? [];
      expect(warnings.join("\n"), phase).toMatch(
        /outside: upstream ntp1\.time\.nl .* a falseticker/,
      );
      expect(warnings.join("\n"), phase).toMatch(/on-droplet: .*falseticker/);
    }
    const m = r.report?.members[0];
    console.log(
      `FIGURE lab-falseticker: ${JSON.stringify({ syncSeconds: m?.syncSeconds, offsetMs: m?.offset === null || m?.offset === undefined ? null : m.offset * 1000, verification: m?.verification.detail })}`,
    );
    // One query from the deployer, whose clock is the member's: one measurement.
    expect(Math.abs((m?.offset ?? 1) * 1000)).toBeLessThan(SCHEDULING_MS);
  }, 600_000);
});
