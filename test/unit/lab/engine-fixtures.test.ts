/**
 * The lab's engine parsers against what the real engine printed: Pulumi CLI v3.248.0 with
 * the digitalocean 4.76.0, tls 5.5.1 and command 1.2.1 plugins, rehearsing the unchanged dev
 * stack against the emulated API (test/fixtures/pulumi-3.248.0/README.md).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  changesIn,
  deletedBeforeReplaced,
  diagnosticsText,
  errorDiagnostics,
  parseChangeSummary,
  parseFailedUrns,
  parseStepEvents,
  resourcesIn,
} from "../../../lab/engineOutput";
import {
  interruptAt,
  judgeDriftRepair,
  judgeFinished,
  judgeReplacement,
  SCENARIO_NAMES,
  SCENARIOS,
} from "../../../lab/scenarios";

const out = (step: string): string =>
  gunzipSync(
    readFileSync(
      join(__dirname, "..", "..", "fixtures", "pulumi-3.248.0", `${step}.stdout.txt.gz`),
    ),
  ).toString("utf8");

/** A step event as the engine prints it: the URN carries the parent's and the resource's type. */
const step = (op: string, type: string, name: string) => ({
  op,
  urn: `urn:pulumi:lab::ntp-pool::ntppool:index:PoolServer$digitalocean:index/${type}::${name}`,
  name,
});

describe("lab --engine pulumi, on the engine's real output", () => {
  it("preview --json: 20 resources to create", () => {
    const s = parseChangeSummary(out("preview"));
    expect(s).toEqual({ create: 20 });
    expect(resourcesIn(s ?? {})).toBe(20);
  });

  it("up --json: the first up creates them and reads the stack reference", () => {
    const s = parseChangeSummary(out("up"));
    expect(s?.create).toBe(20);
    expect(changesIn(s ?? {})).toBe(20);
  });

  it("second up --json: the stack reference's read is no change", () => {
    const s = parseChangeSummary(out("second-up"));
    expect(s).toEqual({ read: 1, same: 20 });
    expect(changesIn(s ?? {})).toBe(0);
  });

  it("replace up --json: create-before-delete — every old instance deleted after its replacement", () => {
    const text = out("replace-up");
    expect(parseChangeSummary(text)).toEqual({ replace: 10, same: 10 });
    const steps = parseStepEvents(text);
    expect(deletedBeforeReplaced(steps)).toEqual([]);
    const at = (op: string, name: string) => steps.findIndex((s) => s.op === op && s.name === name);
    // The new droplet, then the addresses moved, then the old droplet deleted last.
    expect(at("create-replacement", "ams-ntp-1-droplet")).toBeGreaterThanOrEqual(0);
    expect(at("create-replacement", "ams-ntp-1-droplet")).toBeLessThan(
      at("create-replacement", "ams-ntp-1-ip-assignment"),
    );
    expect(at("create-replacement", "ams-ntp-1-ip-assignment")).toBeLessThan(
      at("create-replacement", "ams-ntp-1-ipv6-assignment"),
    );
    expect(at("create-replacement", "ams-ntp-1-ipv6-assignment")).toBeLessThan(
      at("delete-replaced", "ams-ntp-1-droplet"),
    );
    expect(steps.filter((s) => s.op !== "same").pop()).toMatchObject({
      op: "delete-replaced",
      name: "ams-ntp-1-droplet",
    });
  });

  it("names a delete-before-replace", () => {
    const urn = "urn:pulumi:lab::ntp-pool::x::ams-ntp-1-droplet";
    expect(
      deletedBeforeReplaced([
        { op: "delete-replaced", urn, name: "ams-ntp-1-droplet" },
        { op: "create-replacement", urn, name: "ams-ntp-1-droplet" },
      ]),
    ).toEqual(["ams-ntp-1-droplet"]);
  });

  it("destroy: stopped by the protected reserved IPs, nothing deleted", () => {
    const text = out("destroy");
    expect(text).toMatch(/cannot be deleted\s+because it is protected/);
    expect(text).toContain("pulumi state unprotect");
    // The summary is the destroy's preview, which failed: nothing was deleted.
    expect(text).toContain("error: preview failed");
    expect(parseChangeSummary(text)).toEqual({ delete: 16 });
  });
});

describe("lab --engine pulumi scenarios (lab/scenarios.ts), judged on real output", () => {
  const judge = (name: string, step: string, code = 0) => {
    const sc = SCENARIOS.find((s) => s.name === name);
    const text = out(step);
    return sc?.judge({
      changes: parseChangeSummary(text),
      steps: parseStepEvents(text),
      text: diagnosticsText(text),
      code,
    });
  };

  it("replace and size pass on a create-before-delete replacement, fail when nothing was replaced", () => {
    expect(judge("replace", "replace-up")).toBeUndefined();
    expect(judge("size", "replace-up")).toBeUndefined();
    expect(judge("replace", "second-up")).toMatch(
      /^the droplet was not replaced \(its steps: same/,
    );
  });

  it("pass on what the engine did in each scenario's rehearsal", () => {
    expect(judge("size", "size-up")).toBeUndefined();
    expect(judge("ssh-cidrs", "ssh-cidrs-up")).toBeUndefined();
    expect(judge("project", "project-up")).toBeUndefined();
    expect(parseChangeSummary(out("ssh-cidrs-up"))).toEqual({ read: 1, same: 17, update: 3 });
    expect(parseChangeSummary(out("project-up"))).toEqual({ create: 1, same: 20 });
    // preview --json escapes the message's quotes: it is matched on the decoded diagnostics.
    expect(judge("region", "region-preview", 1)).toBeUndefined();
    expect(judge("token", "token-preview", 255)).toBeUndefined();
    expect(judge("ipv6-off", "ipv6-off-preview", 255)).toBeUndefined();
    expect(diagnosticsText(out("token-preview"))).not.toContain("unhandled exception");
    expect(diagnosticsText(out("region-preview"))).toContain(
      'members[0].region: member "ams-ntp-1" was deployed in "ams3" and its reserved IPs cannot move region',
    );
  });

  it("precheck-fails: the real failed up passes the judge, the rerun is create-before-delete", () => {
    expect(judge("precheck-fails", "precheck-fails-up", 1)).toBeUndefined();
    // What the failed up did: a new droplet, the firewall updated, no assignment touched.
    const steps = parseStepEvents(out("precheck-fails-up"));
    expect(steps.filter((s) => s.name.endsWith("-droplet")).map((s) => s.op)).toContain(
      "create-replacement",
    );
    expect(steps.filter((s) => /-ipv?6?-assignment$/.test(s.name)).map((s) => s.op)).not.toContain(
      "create-replacement",
    );
    expect(judgeReplacement(parseStepEvents(out("precheck-fails-rerun-up")))).toBeUndefined();
    expect(parseChangeSummary(out("precheck-fails-rerun-up"))).toEqual({
      replace: 10,
      same: 9,
      update: 1,
    });
  });

  it("precheck-fails wants a failure at the reach gate, with no assignment moved", () => {
    expect(judge("precheck-fails", "replace-up", 0)).toBe(
      "pulumi up succeeded: the new droplet's pre-check did not fail",
    );
    expect(judge("precheck-fails", "replace-up", 1)).toBe(
      "pulumi up failed, but not at the pre-check's reach gate (SSH filtered while NTP answers)",
    );
    const sc = SCENARIOS.find((s) => s.name === "precheck-fails");
    expect(
      sc?.judge({
        steps: [
          step("create-replacement", "droplet:Droplet", "ams-ntp-1-droplet"),
          step(
            "create-replacement",
            "reservedIpAssignment:ReservedIpAssignment",
            "ams-ntp-1-ip-assignment",
          ),
        ],
        text: "SSH to 198.19.2.2 port 22 is filtered from this machine while NTP answers: the cloud firewall admits SSH only from sshSourceCidrs (192.0.2.0/24)",
        code: 1,
      }),
    ).toBe(
      "a reserved-IP assignment changed although the pre-check failed: ams-ntp-1-ip-assignment create-replacement",
    );
  });

  it("ssh-cidrs wants the firewall updated in place; project one creation; region a refusal", () => {
    expect(judge("ssh-cidrs", "second-up")).toBe("the firewall was not updated in place (same)");
    expect(judge("project", "second-up")).toMatch(/^expected one project created/);
    expect(judge("region", "second-up")).toBe(
      "preview was not refused with the region message (exit 0)",
    );
  });

  it("each changes only its settings, from the current ones", () => {
    const c = {
      upstreams: ["a", "b", "c", "d"],
      sshSourceCidrs: ["203.0.113.0/24"],
      members: [{ name: "m", region: "ams3" }],
    };
    const set = (name: string) => SCENARIOS.find((s) => s.name === name)?.settings(c);
    expect(set("replace")).toEqual({ upstreams: ["b", "c", "d", "a"] });
    expect(set("size")).toEqual({ size: "s-2vcpu-2gb" });
    expect(set("ssh-cidrs")).toEqual({ sshSourceCidrs: ["203.0.113.0/24", "192.0.2.0/24"] });
    expect(set("region")).toEqual({ members: [{ name: "m", region: "fra1" }] });
    // Always a CIDR the list lacks, also after ssh-cidrs added its own.
    expect(set("token-read-only")).toEqual({
      sshSourceCidrs: ["203.0.113.0/24", "198.51.100.0/24"],
    });
    const afterSshCidrs = {
      ...c,
      sshSourceCidrs: ["203.0.113.0/24", "192.0.2.0/24", "198.51.100.0/24"],
    };
    expect(SCENARIOS.find((s) => s.name === "token-read-only")?.settings(afterSshCidrs)).toEqual({
      sshSourceCidrs: ["203.0.113.0/24", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.128/25"],
    });
    expect(set("precheck-fails")).toEqual({
      upstreams: ["b", "c", "d", "a"],
      sshSourceCidrs: ["192.0.2.0/24"],
    });
    expect(SCENARIO_NAMES).toEqual([
      "replace",
      "size",
      "ssh-cidrs",
      "project",
      "precheck-fails",
      "interrupted",
      "drift",
      "region",
      "token",
      "token-read-only",
      "ipv6-off",
      "destroy",
    ]);
  });

  it("interrupted: Ctrl-C right after the new droplet was created; the engine cancels, no assignment moved", () => {
    const text = out("interrupted-up");
    const steps = parseStepEvents(text);
    // The Ctrl-C went in at the droplet's create-replacement, the last step the engine finished.
    expect(steps.filter((s) => s.op !== "same" && s.op !== "read")).toEqual([
      expect.objectContaining({ op: "create-replacement", name: "ams-ntp-1-droplet" }),
    ]);
    expect(steps.findIndex(interruptAt)).toBe(steps.length - 1);
    expect(text).toContain("^C received; cancelling.");
    expect(errorDiagnostics(text)).toEqual(["update canceled"]);
    expect(judge("interrupted", "interrupted-up", 1)).toBeUndefined();
    // An up that ran through, or one stopped before any droplet, is not the scenario.
    expect(judge("interrupted", "replace-up", 0)).toBe(
      "pulumi up finished although it was interrupted",
    );
    expect(judge("interrupted", "second-up", 1)).toBe(
      "pulumi up stopped before the new droplet existed",
    );
  });

  it("interrupted: the next up keeps the interrupted droplet, moves both addresses to it, deletes the old one last", () => {
    const steps = parseStepEvents(out("interrupted-rerun-up"));
    expect(judgeFinished(steps)).toBeUndefined();
    const droplet = steps.filter((s) => s.name === "ams-ntp-1-droplet").map((s) => s.op);
    expect(droplet).toEqual(["same", "delete-replaced"]);
    // A plain replacement creates a droplet: not a finished interrupted one.
    expect(judgeFinished(parseStepEvents(out("replace-up")))).toMatch(
      /^another droplet was created instead of finishing the replacement/,
    );
    expect(judgeFinished(parseStepEvents(out("second-up")))).toMatch(
      /^the old droplet was not deleted/,
    );
  });

  it("drift: after a droplet deleted through the API, the refresh fails on the IPv6 assignment's read and changes nothing", () => {
    const text = out("drift-refresh");
    // `pulumi refresh --yes` previews first; the preview's failed read stops it all.
    expect(parseFailedUrns(text).map((u) => u.split("::").pop())).toEqual([
      "ams-ntp-1-ipv6-assignment",
    ]);
    expect(errorDiagnostics(text)).toEqual([
      expect.stringMatching(
        /^ams-ntp-1-ipv6-assignment: .*Error assigning reserved IPv6 2001:db8:2::11 to dropletID 470000001/,
      ),
      expect.stringMatching(/^ams-ntp-1-ipv6-assignment: Preview failed: refreshing urn:/),
      "preview failed",
    ]);
    expect(parseStepEvents(text)).toEqual([]);
    expect(parseFailedUrns(out("up"))).toEqual([]);
  });

  it("drift: after the IPv6 assignment left the state, the refresh drops the droplet and the IPv4 assignment, and the up rebuilds the member", () => {
    const refreshed = parseStepEvents(out("drift-refresh-again"));
    expect(
      refreshed
        .filter((s) => s.op !== "same" && s.op !== "refresh")
        .map((s) => `${s.op} ${s.name}`),
    ).toEqual(["delete ams-ntp-1-droplet", "delete ams-ntp-1-ip-assignment"]);
    expect(errorDiagnostics(out("drift-refresh-again"))).toEqual([]);
    const up = parseStepEvents(out("drift-up"));
    expect(judgeDriftRepair(up)).toBeUndefined();
    expect(up.filter((s) => s.op === "create").map((s) => s.name)).toEqual([
      "ams-ntp-1-droplet",
      "ams-ntp-1-ip-assignment",
      "ams-ntp-1-ipv6-assignment",
      "ams-ntp-1-verify-reach",
      "ams-ntp-1-verify-on-droplet",
      "ams-ntp-1-verify-outside",
      "ams-ntp-1-verify",
    ]);
    expect(judgeDriftRepair(parseStepEvents(out("second-up")))).toBe(
      "no new droplet was created (its steps: same)",
    );
  });

  it("token-read-only: the up of a change fails at its first write with DigitalOcean's 403, nothing changed", () => {
    const text = out("token-read-only-up");
    expect(errorDiagnostics(text)[0]).toMatch(
      /^ams-ntp-1-firewall: .*Error updating firewall: PUT \S+: 403 .*You are not authorized to perform this operation\./,
    );
    expect(judge("token-read-only", "token-read-only-up", 255)).toBeUndefined();
    expect(judge("token-read-only", "second-up", 0)).toBe(
      "pulumi up succeeded with a read-only token",
    );
    // A failure that is not the 403, or a change made before it, fails the scenario.
    expect(judge("token-read-only", "precheck-fails-up", 255)).toBe(
      "pulumi up failed, but not with DigitalOcean's 403",
    );
  });
});
