import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageRun, imageSpawn } from "../../lab/imageExec";
import { requireRealTools } from "../helpers/realTools";

// lab/imageExec.ts, the one way the lab and the tests run a program from an image: what it
// promises on its interface, checked from both sides (inside the command and on the host).

let tools: string;
let dir: string;

beforeAll(() => {
  tools = requireRealTools(["sh", "cat", "sleep", "ip"]);
  dir = mkdtempSync(path.join(tmpdir(), "ntppool-imageexec-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mounts = () => readFileSync("/proc/mounts", "utf8");

describe("imageExec", () => {
  it("runs chrooted in the image: the host sees /proc/<pid>/root at the image path", async () => {
    const child = imageSpawn(["sleep", "5"], { root: tools }, { stdio: "ignore" });
    const exited = new Promise((r) => child.once("exit", r));
    // Every step execs, so the spawned PID ends as the command itself, chrooted.
    let root = "";
    for (let i = 0; i < 50 && root !== tools; i++) {
      await new Promise((r) => setTimeout(r, 100));
      root = rootOf(child.pid);
    }
    child.kill("SIGKILL");
    await exited;
    expect(root).toBe(tools);
  });

  it("without CAP_SYS_TIME in the bounding set unless asked", async () => {
    const bnd = async (keep: boolean) =>
      BigInt(
        `0x${/CapBnd:\s*([0-9a-f]+)/.exec((await imageRun(["cat", "/proc/self/status"], { root: tools, keepCapSysTime: keep })).stdout)?.[1]}`,
      );
    const CAP_SYS_TIME = 1n << 25n;
    expect((await bnd(false)) & CAP_SYS_TIME).toBe(0n);
    expect((await bnd(true)) & CAP_SYS_TIME).toBe(CAP_SYS_TIME);
  });

  it("writes go to a throw-away layer: the cached root on disk is unchanged", async () => {
    const marker = `/etc/ntppool-imageexec-${process.pid}`;
    const r = await imageRun(["sh", "-c", `echo x > ${marker} && cat ${marker}`], { root: tools });
    expect(r.stdout.trim()).toBe("x");
    expect(() => readFileSync(path.join(tools, marker))).toThrow();
  });

  it("binds host paths (read-only when asked), passes env, and leaves no mount on the host", async () => {
    writeFileSync(path.join(dir, "in"), "from-host\n");
    const rw = await imageRun(["sh", "-c", `cat ${dir}/in; echo "$GREETING" > ${dir}/out`], {
      root: tools,
      binds: [{ host: dir }],
      env: { GREETING: "hello" },
    });
    expect(rw.stdout).toBe("from-host\n");
    expect(readFileSync(path.join(dir, "out"), "utf8")).toBe("hello\n");
    const ro = await imageRun(["sh", "-c", "echo y > /data/out2"], {
      root: tools,
      binds: [{ host: dir, guest: "/data", readOnly: true }],
    });
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    // Other programs on a shared machine may mount meanwhile: only ours must not show.
    expect(mounts()).not.toContain(tools);
    expect(mounts()).not.toContain(dir);
  });

  it("without a namespace, a new empty network: only a loopback that is down", async () => {
    const r = await imageRun(["ip", "-o", "link"], { root: tools });
    const links = r.stdout.trim().split("\n");
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^1: lo: .*state DOWN/);
  });
});

function rootOf(pid: number | undefined): string {
  if (pid === undefined) return "";
  try {
    return readlinkSync(`/proc/${pid}/root`);
  } catch {
    return "";
  }
}
