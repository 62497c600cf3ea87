import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readAdminKeysScript, renderAdminKeysCommand } from "../../cloud-init/adminKeys";
import { imageSpawnSync } from "../../lab/imageExec";
import { requireRealTools } from "../helpers/realTools";

// cloud-init/scripts/ntppool-admin-keys.sh run as `<member>-admin-keys` runs it (the rendered
// command line by /bin/sh, the script on stdin), from the tools image with a scratch /root,
// so the host's own /root/.ssh is never touched.

let tools: string;
let scratch: string;
const DEPLOY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeploy ntp-pool-deploy";
const ALICE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@laptop";
const BOB = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQBob bob";

beforeAll(() => {
  tools = requireRealTools(["sh", "awk", "mktemp"]);
  scratch = mkdtempSync(path.join(tmpdir(), "ntppool-admin-keys-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh /root holding what cloud-init wrote (the deploy key), or nothing. */
function root(withDeployKey: boolean): string {
  const dir = mkdtempSync(path.join(scratch, "root-"));
  if (withDeployKey) {
    mkdirSync(path.join(dir, ".ssh"), { mode: 0o700 });
    writeFileSync(path.join(dir, ".ssh/authorized_keys"), `${DEPLOY}\n`, { mode: 0o600 });
  }
  return dir;
}

function run(home: string, keys: readonly string[]) {
  return imageSpawnSync(
    ["sh", "-c", renderAdminKeysCommand(keys)],
    { root: tools, binds: [{ host: home, guest: "/root" }] },
    { input: readAdminKeysScript() },
  );
}

const keysOf = (home: string) => readFileSync(path.join(home, ".ssh/authorized_keys"), "utf8");

describe("ntppool-admin-keys.sh", () => {
  it("adds the keys in a marked block and keeps the deploy key", () => {
    const home = root(true);
    const r = run(home, [ALICE, BOB]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('{"check":"admin-keys","keys":2}');
    const lines = keysOf(home).trim().split("\n");
    expect(lines[0]).toBe(DEPLOY);
    expect(lines.slice(2, 4)).toEqual([ALICE, BOB]);
    expect(lines[1]).toMatch(/^# ntp-pool sshKeyFingerprints: begin/);
    expect(lines[4]).toBe("# ntp-pool sshKeyFingerprints: end");
    expect(statSync(path.join(home, ".ssh/authorized_keys")).mode & 0o777).toBe(0o600);
  });

  it("a rerun replaces the block: a removed key loses access, nothing is duplicated", () => {
    const home = root(true);
    expect(run(home, [ALICE, BOB]).status).toBe(0);
    expect(run(home, [BOB]).status).toBe(0);
    expect(keysOf(home)).not.toContain(ALICE);
    expect(keysOf(home).split(BOB).length - 1).toBe(1);
    expect(run(home, []).status).toBe(0);
    expect(keysOf(home)).not.toContain(BOB);
    expect(keysOf(home)).toContain(DEPLOY);
  });

  it("works without an authorized_keys file, and refuses what is not a public key", () => {
    const home = root(false);
    expect(run(home, [ALICE]).status).toBe(0);
    expect(keysOf(home)).toContain(ALICE);
    const bad = run(home, ['command="/bin/sh" ssh-ed25519 AAAA evil']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("ntppool-admin-keys: FAIL: not an OpenSSH public key");
    expect(keysOf(home)).toContain(ALICE);
  });
});
