import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type RehearsalRecord, renderRehearsalMd } from "../../../lab/engineReport";

const figures = (n: number, synced = n) => ({
  target: "198.18.64.11",
  probes: n,
  answered: n,
  synchronised: synced,
  longestGapSeconds: synced === n ? 1 : 9,
});

const record: RehearsalRecord = {
  date: "2026-12-05",
  plugins: "digitalocean 4.76.0",
  command: "npm run lab -- --engine pulumi --scenario replace drift destroy",
  seconds: 612.4,
  engine: {
    cli: "v3.248.0",
    load: [1.5, 2, 2.5],
    steps: [
      { name: "preview", code: 0, seconds: 13.6, changes: { create: 20 } },
      { name: "up", code: 0, seconds: 89.6, changes: { create: 20 } },
      { name: "second up", code: 0, seconds: 11.3, changes: { read: 1, same: 20 } },
      { name: "replace up", code: 0, seconds: 107.9, changes: { replace: 10, same: 10 } },
    ],
    scenarios: {
      replace: {
        row: "upstreams",
        code: 0,
        changes: { replace: 10, same: 10 },
        seconds: 107.9,
        ipv4: figures(106),
        ipv6: figures(106),
      },
      drift: {
        row: "drift",
        code: 0,
        changes: { create: 7 },
        seconds: 193.4,
        ipv4: figures(171, 37),
        runbook: [
          {
            step: "pulumi refresh",
            code: 1,
            errors: ["ams-ntp-1-ipv6-assignment: Error assigning\nmore"],
          },
          { step: "pulumi up", code: 0 },
        ],
        problem: "not serving at the end\nsecond line",
      },
    },
    destroy: { stoppedByProtection: true, detail: "" },
  },
};

describe("the rehearsal document (lab/engineReport.ts)", () => {
  it("renders each first step, each scenario with its probes, destroy, and the runbook", () => {
    const md = renderRehearsalMd(record);
    expect(md).toContain("Pulumi CLI v3.248.0, digitalocean 4.76.0");
    expect(md).toContain("612 s in all, load average 1.5 2 2.5 at the end");
    expect(md).toContain("Failed: drift.");
    expect(md).toContain("| preview | create 20 (exit 0) | 14 s | | | passed |");
    expect(md).toContain("| second up | read 1, same 20 (exit 0) | 11 s | | | passed |");
    // A scenario's own up is its row, not a first step.
    expect(md).not.toContain("| replace up |");
    expect(md).toContain(
      "| `replace` | replace 10, same 10 (exit 0) | 108 s | 106/106, 106, 1 s | 106/106, 106, 1 s | passed |",
    );
    expect(md).toContain(
      "| `drift` | create 7 (exit 0) | 193 s | 171/171, 37, 9 s |  | **failed**: not serving at the end |",
    );
    expect(md).toContain("| `destroy` | — | | | | passed: stopped by the protected reserved IPs |");
    expect(md).toContain(
      "- `pulumi refresh`: exit 1 — ams-ntp-1-ipv6-assignment: Error assigning\n",
    );
    expect(md).toContain("- `pulumi up`: exit 0\n");
  });

  it("docs/rehearsal.md is the rendering of docs/rehearsal.json, not edited by hand", () => {
    const dir = join(__dirname, "..", "..", "..", "docs");
    expect(existsSync(join(dir, "rehearsal.json"))).toBe(true);
    const committed = JSON.parse(
      readFileSync(join(dir, "rehearsal.json"), "utf8"),
    ) as RehearsalRecord;
    expect(readFileSync(join(dir, "rehearsal.md"), "utf8")).toBe(renderRehearsalMd(committed));
    expect(Object.keys(committed.engine.scenarios ?? {}).length).toBeGreaterThan(0);
  });
});
