import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderNtpConf } from "../../cloud-init/ntpConf";
import { renderUserData } from "../../cloud-init/userData";
import { imageSpawn, imageSpawnSync } from "../../lab/imageExec";
import { requireRealTools } from "../helpers/realTools";

const ROOT = path.join(__dirname, "..", "..");
const UPSTREAMS = ["ntp1.time.nl", "ptbtime1.ptb.de", "ptbtime2.ptb.de", "sth1.ntp.se"];
let work: string;
/** The lab's tools image: cloud-init, ntpd and shellcheck run from there, not from the host. */
let tools: string;

beforeAll(() => {
  tools = requireRealTools(["cloud-init", "ntpd", "shellcheck"]);
  work = mkdtempSync(path.join(tmpdir(), "ntppool-artifacts-"));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function schema(text: string): { ok: boolean; output: string } {
  const file = path.join(work, `user-data-${randomBytes(4).toString("hex")}.yaml`);
  writeFileSync(file, text);
  const r = imageSpawnSync(["cloud-init", "schema", "--config-file", file], {
    root: tools,
    binds: [{ host: work, readOnly: true }],
  });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe("rendered user-data passes real `cloud-init schema`", () => {
  it.each([
    ["four upstreams, IPv4 only", { upstreams: UPSTREAMS }],
    [
      "seven upstreams with IPv6",
      {
        upstreams: [...UPSTREAMS, "192.0.2.10", "2001:db8::123", "ntp.example.net"],
        reservedIpv6: "2001:db8:1::5",
      },
    ],
  ])("%s", (_what, input) => {
    const result = schema(renderUserData(input));
    expect(result.output).toMatch(/Valid cloud-config/);
    expect(result.ok).toBe(true);
  });

  it("and the same check rejects a broken document (the check can fail)", () => {
    const broken = renderUserData({ upstreams: UPSTREAMS }).replace(
      "ssh_pwauth: false",
      "ssh_pwauth: [1]",
    );
    const result = schema(broken);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/ssh_pwauth/);
  });
});

/** Starts real ntpd on `conf` in a private, empty network namespace and returns its log. */
async function ntpdLog(conf: string): Promise<string> {
  const id = randomBytes(3).toString("hex");
  const ns = `ntppool-cf-${id}`;
  const dir = mkdtempSync(path.join(work, "ntpd-"));
  const confFile = path.join(dir, "ntp.conf");
  const log = path.join(dir, "ntpd.log");
  // Same file, but the drift file inside our folder so the host's is never touched.
  writeFileSync(confFile, conf.replace("/var/lib/ntpsec/ntp.drift", path.join(dir, "ntp.drift")));
  execFileSync("ip", ["netns", "add", ns]);
  try {
    execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    // No CAP_SYS_TIME (imageExec's default): ntpd may try to discipline the clock, the
    // kernel refuses.
    const child = imageSpawn(
      ["ntpd", "-n", "-c", confFile, "-l", log, "-p", path.join(dir, "pid")],
      { root: tools, netns: ns, binds: [{ host: dir }] },
      { stdio: "ignore" },
    );
    const exited = new Promise((r) => child.once("exit", r));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !/IO: Listen normally/.test(safeRead(log))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGTERM");
    await exited;
    return safeRead(log);
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

describe("rendered ntp.conf is loaded by real ntpd (NTPsec) without a CONFIG complaint", () => {
  const complaints = (log: string) =>
    log.split("\n").filter((l) => /CONFIG:/.test(l) && !/readconfig: parsing file/.test(l));

  it("our configuration: no error, no warning, no ignored option", async () => {
    const log = await ntpdLog(renderNtpConf([...UPSTREAMS, "192.0.2.10", "2001:db8::123"]));
    expect(log).toMatch(/CONFIG: readconfig: parsing file/);
    expect(log).toMatch(/IO: Listen normally/);
    expect(complaints(log)).toEqual([]);
  });

  it("the same check catches what NTPsec ignores or rejects", async () => {
    const bad = `${renderNtpConf(UPSTREAMS).replace("noquery", "noquery nopeer notrap")}bogus 1\n`;
    const found = complaints(await ntpdLog(bad));
    expect(found.some((l) => /restrict nopeer ignored/.test(l))).toBe(true);
    expect(found.some((l) => /syntax error/.test(l))).toBe(true);
  });
});

describe("shell scripts pass shellcheck", () => {
  const scripts = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith(".sh"))
      .map((d) => path.join(d.parentPath, d.name));
  const all = [...scripts("cloud-init"), ...scripts("lab")];

  it("finds the scripts", () => {
    expect(all.some((s) => s.endsWith("ntppool-install.sh"))).toBe(true);
  });
  it.each(all.map((s) => [path.relative(ROOT, s)]))("%s", (script) => {
    // From the repository root, so that `source=` directives resolve as they are written.
    const r = imageSpawnSync(["shellcheck", "-x", "--severity=style", script], {
      root: tools,
      binds: [{ host: ROOT, readOnly: true }],
      cwd: ROOT,
    });
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.status).toBe(0);
  });
});
