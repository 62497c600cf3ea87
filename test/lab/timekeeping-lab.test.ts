import { describe, expect, it } from "vitest";
import { assertLabPrerequisites, runLabCli } from "./helpers";

// The whole lab (real program, cloud-init droplet, both verification commands) with one
// falseticker upstream (`--fault-upstream`, lab/upstreams.ts): `pulumi up` still succeeds.
// The falseticker is the second upstream: the outside check takes the FIRST upstream that
// answers as its reference (verify/outsideCheck.ts), so a falseticker listed first makes it
// fail against the wrong clock (README "Time keeping").

describe("whole lab with a falseticker upstream", () => {
  it("upstream 2 of 4 is +2 s off: the member verifies and serves", async () => {
    assertLabPrerequisites();
    const r = await runLabCli([
      "--stack-file",
      "Pulumi.dev.yaml",
      "--fault-upstream",
      "good",
      "--fault-upstream",
      "falseticker:+2",
    ]);
    expect(r.out).toMatch(/upstream ptbtime1\.ptb\.de → \S+ \(FALSETICKER \+2 s\)/);
    expect(r.code, r.out).toBe(0);
    expect(r.report?.ok).toBe(true);
    expect(r.report?.faults.upstreamKinds).toEqual([
      { kind: "good" },
      { kind: "falseticker", offsetSeconds: 2 },
    ]);
    const m = r.report?.members[0];
    console.log(
      `FIGURE lab-falseticker: ${JSON.stringify({ syncSeconds: m?.syncSeconds, offsetMs: m?.offset === null || m?.offset === undefined ? null : m.offset * 1000, verification: m?.verification.detail })}`,
    );
    expect(Math.abs((m?.offset ?? 1) * 1000)).toBeLessThan(1);
  }, 600_000);
});
