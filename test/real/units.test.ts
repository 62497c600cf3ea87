import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NOTRACK_UNIT,
  NTPSEC_RESTART_DROP_IN,
  renderReservedIpv6Unit,
} from "../../cloud-init/userData";
import { imageSpawnSync } from "../../lab/imageExec";
import { requireRealTools } from "../helpers/realTools";

let dir: string;
/** The tools image: its systemd-analyze, and Debian's own ntpsec.service and ntpd. */
let tools: string;
const NTPSEC_UNIT = "lib/systemd/system/ntpsec.service";

beforeAll(() => {
  tools = requireRealTools(["systemd-analyze", "ntpd"]);
  if (!existsSync(path.join(tools, NTPSEC_UNIT))) {
    throw new Error(`${tools} has no ${NTPSEC_UNIT}: the tools image lacks Debian's ntpsec`);
  }
  dir = mkdtempSync(path.join(tmpdir(), "ntppool-units-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `systemd-analyze verify` with only our folder (then the defaults) on the unit path. */
function verify(unit: string): { status: number | null; output: string } {
  // --man=no: the tools image has no man pages (debootstrap minbase); Debian's ntpsec.service
  // names `man:ntpd(8)` in Documentation=, which is not what this checks.
  const r = imageSpawnSync(["systemd-analyze", "verify", "--man=no", unit], {
    root: tools,
    binds: [{ host: dir, readOnly: true }],
    cwd: dir,
    env: { SYSTEMD_UNIT_PATH: `${dir}:` },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

describe("systemd units in the user-data pass `systemd-analyze verify`", () => {
  it("ntppool-notrack.service", () => {
    writeFileSync(path.join(dir, "ntppool-notrack.service"), NOTRACK_UNIT);
    expect(verify("ntppool-notrack.service")).toEqual({ status: 0, output: "" });
  });

  it("ntppool-reserved-ipv6.service", () => {
    writeFileSync(
      path.join(dir, "ntppool-reserved-ipv6.service"),
      renderReservedIpv6Unit("2001:db8::5"),
    );
    expect(verify("ntppool-reserved-ipv6.service")).toEqual({ status: 0, output: "" });
  });

  it("the restart drop-in on Debian's own ntpsec.service", () => {
    copyFileSync(path.join(tools, NTPSEC_UNIT), path.join(dir, "ntpsec.service"));
    mkdirSync(path.join(dir, "ntpsec.service.d"), { recursive: true });
    writeFileSync(
      path.join(dir, "ntpsec.service.d", "10-ntppool-restart.conf"),
      NTPSEC_RESTART_DROP_IN,
    );
    expect(verify("ntpsec.service")).toEqual({ status: 0, output: "" });
  });

  it("and the same check reports a broken drop-in (the check can fail)", () => {
    const bad = path.join(dir, "ntpsec.service.d", "20-bad.conf");
    writeFileSync(bad, "[Service]\nRestart=sometimes\n");
    try {
      expect(verify("ntpsec.service").output).toMatch(/Failed to parse service restart specifier/);
    } finally {
      rmSync(bad);
    }
  });
});
