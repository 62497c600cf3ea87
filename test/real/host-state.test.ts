import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { out, runDaemons, type Seen } from "../helpers/hostState";

// The lab tier's kept run asserts that every ntpd, sshd, chronyd and cloud-init of a run has
// its root inside the lab cache (test/helpers/hostState.ts runDaemons). This shows that check
// can fail: a host program in a namespace named like a run's is reported with root /.

describe("the daemon check of test/lab/lab.test.ts", () => {
  it("the daemon check can fail: a host program named sshd in a run's namespace is reported with root /", async () => {
    const prefix = `ntpl-${randomBytes(3).toString("hex")}`;
    const ns = `${prefix}-x`;
    const dir = mkdtempSync(`${tmpdir()}/ntp-lab-fake-`);
    const fake = join(dir, "sshd");
    copyFileSync("/bin/sleep", fake);
    out(["ip", "netns", "add", ns]);
    const child = spawn("ip", ["netns", "exec", ns, fake, "30"], { stdio: "ignore" });
    try {
      let found: Seen[] = [];
      for (let i = 0; i < 50 && found.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        found = runDaemons(prefix);
      }
      expect(found.map((s) => [s.comm, s.root])).toEqual([["sshd", "/"]]);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      spawnSync("ip", ["netns", "del", ns]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
