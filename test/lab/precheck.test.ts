import { readFileSync, writeFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { leftovers } from "../../lab/teardown";
import { assertLabPrerequisites, type CliRun, runLabCli, stackWith } from "./helpers";

// Issue 10 in the lab: the new droplet is verified on its own public address before either
// reserved IP moves to it, and a deployer outside sshSourceCidrs is told so at once.

function expectClean(run: CliRun): void {
  expect(leftovers(run.prefix)).toEqual({
    namespaces: [],
    etcNetns: [],
    processes: [],
    mounts: [],
  });
}

/** Seconds from the start of the run to the first log line matching `re`, or undefined. */
function at(run: CliRun, re: RegExp): number | undefined {
  const line = run.out.split("\n").find((l) => re.test(l));
  const s = line && /^\[\s*([\d.]+) s\]/.exec(line)?.[1];
  return s ? Number(s) : undefined;
}

describe("pre-assignment check (lab)", () => {
  beforeAll(() => assertLabPrerequisites());

  it("checks the droplet's own address first; the reserved IPs move only after it passed", async () => {
    const run = await runLabCli([]);
    expect(run.code, run.out.slice(-4000)).toBe(0);
    const pre = at(run, /precheck-outside ready/);
    const assigned = at(run, /reserved IP \S+ → anchor/);
    const post = at(run, /verify-outside ready/);
    console.log(
      `precheck passed at ${pre} s, IPv4 assigned at ${assigned} s, verified at ${post} s`,
    );
    expect(pre).toBeDefined();
    expect(assigned).toBeGreaterThanOrEqual(pre as number);
    expect(post).toBeGreaterThanOrEqual(assigned as number);
    // The pre-check ran against the droplet's primary address, not the reserved one.
    const primary = /booting, primary (\S+),/.exec(run.out)?.[1];
    expect(primary).toMatch(/^198\.19\./);
    expectClean(run);
  });

  it("a failing pre-check leaves the reserved IPs unassigned, and says why from the droplet", async () => {
    const stack = stackWith("  ntp-pool:verifyTimeoutSeconds: 120\n");
    const run = await runLabCli(["--stack-file", stack, "--fault-drop-outbound-ntp"]);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /precheck-on-droplet: .*0 of 4 upstreams reachable|0 of 4 upstreams reachable/,
    );
    expect(run.out).not.toMatch(/reserved IP \S+ → anchor/);
    expect(run.out).not.toMatch(/ReservedIpAssignment \S+ ready/);
    expectClean(run);
  });

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
