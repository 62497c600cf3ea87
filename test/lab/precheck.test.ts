import { readFileSync, writeFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { assertLabPrerequisites, at, expectClean, runLabCli, stackWith } from "../helpers/labCli";

// Issue 10 in the lab: a deployer outside sshSourceCidrs is told so at once. (The order of
// the two phases and a failing pre-check are test/lab/lab.test.ts's: the dev stack's run
// and the run without outbound UDP 123.)

describe("pre-assignment check (lab)", () => {
  beforeAll(() => assertLabPrerequisites());

  it("SSH filtered while NTP answers: fails in seconds, naming sshSourceCidrs", async () => {
    // An SSH source that does not contain the deployer (the lab's internet namespace).
    const file = stackWith("");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(/203\.0\.113\.0\/24/, "2001:db8:77::/48"),
    );
    const run = await runLabCli(["--stack-file", file]);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /SSH to 198\.19\.\d+\.2 port 22 is filtered from this machine while NTP answers: the cloud firewall admits SSH only from sshSourceCidrs \(2001:db8:77::\/48\)/,
    );
    const failedAt = at(run, /FAILED command:local:Command \S+-precheck-reach/);
    const booted = at(run, /droplet \S+ \(id \d+\): booting/);
    console.log(
      `SSH filtered: reach gate failed ${(failedAt ?? 0) - (booted ?? 0)} s after the droplet was created`,
    );
    // Bounded by the boot (ntpd must answer first), far below verifyTimeoutSeconds (600).
    expect((failedAt as number) - (booted as number)).toBeLessThan(300);
    expect(run.out).not.toMatch(/reserved IP \S+ → anchor/);
    expectClean(run);
  });
});
