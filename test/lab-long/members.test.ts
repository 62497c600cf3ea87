import { beforeAll, describe, expect, it } from "vitest";
import { assertLabPrerequisites, expectClean, runLabCli } from "../helpers/labCli";

// Several members of one stack, deployed together: a run of its own (three droplets booting
// at once on a 2-core machine take minutes), hence the long project.

describe("lab", () => {
  beforeAll(() => {
    assertLabPrerequisites();
  });

  it("brings three members up in parallel", async () => {
    const run = await runLabCli(["--members", "3"]);
    expect(run.code, run.out.slice(-4000)).toBe(0);
    const m = run.report?.members ?? [];
    expect(m.map((x) => x.verification.ok)).toEqual([true, true, true]);
    expect(new Set(m.map((x) => x.reservedIpv4)).size).toBe(3);
    // In parallel: the three droplets were all created before any verification finished.
    const created = run.out
      .split("\n")
      .filter((l) => /digitalocean:Droplet .* ready/.test(l)).length;
    const firstVerify = run.out.indexOf("verify-on-droplet ready");
    // The last droplet's "ready" line (the API-call table at the end names droplets too).
    const lastDroplet = Math.max(
      ...[...run.out.matchAll(/digitalocean:Droplet \S+ ready/g)].map((x) => x.index ?? -1),
    );
    expect(created).toBe(3);
    expect(lastDroplet).toBeLessThan(firstVerify);
    expectClean(run);
  });
});
