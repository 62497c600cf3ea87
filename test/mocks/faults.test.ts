import { describe, expect, it } from "vitest";
import { BASE_CONFIG, ofType, runProgram } from "../helpers/mockProgram";
import { resetRecorder } from "../helpers/mocks";

// Issue 5, "droplet replaced": two runs of the program, before and after a change that
// replaces the droplet (new upstreams → new user-data). The lab cannot express an update of
// a live stack (each run is a fresh `pulumi up`), so this compares what the engine would
// diff: every input of the reserved IPs and the firewall stays the same (no diff, so they are
// kept), the droplet's user-data changes (a replacement, docs/decisions.md#replacement), and everything that must
// follow the new droplet — the IP assignments and both verification commands — takes its id.
// Pulumi's diff engine itself is not run here: there is no Pulumi CLI on these machines.

const T = {
  droplet: "digitalocean:index/droplet:Droplet",
  ip: "digitalocean:index/reservedIp:ReservedIp",
  ip6: "digitalocean:index/reservedIpv6:ReservedIpv6",
  ipAssign: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  ip6Assign: "digitalocean:index/reservedIpv6Assignment:ReservedIpv6Assignment",
  firewall: "digitalocean:index/firewall:Firewall",
  remote: "command:remote:Command",
  local: "command:local:Command",
};

const only = <R extends { type: string }>(rs: readonly R[], type: string): R => {
  const found = rs.filter((r) => r.type === type);
  expect(found, type).toHaveLength(1);
  return found[0] as R;
};

describe("droplet replaced (new user-data): the reserved IP stays, the new droplet is verified", () => {
  it("two runs differ only where the new droplet must be followed", async () => {
    const before = (await runProgram(BASE_CONFIG)).resources;
    const changed = {
      ...BASE_CONFIG,
      upstreams: [...BASE_CONFIG.upstreams.slice(0, 3), "ntp2.time.nl"],
    };
    resetRecorder();
    const after = (await runProgram(changed)).resources;

    // Same URNs, same inputs, still protected: nothing for the engine to replace.
    for (const type of [T.ip, T.ip6, T.firewall]) {
      const a = only(before, type);
      const b = only(after, type);
      expect(b.urn, type).toBe(a.urn);
      expect(b.inputs, type).toEqual(a.inputs);
    }
    expect(only(after, T.ip).protect).toBe(true);
    expect(only(after, T.ip6).protect).toBe(true);

    // The droplet's user-data changed: DigitalOcean replaces a droplet for that.
    const d0 = only(before, T.droplet);
    const d1 = only(after, T.droplet);
    expect(d1.urn).toBe(d0.urn);
    expect(d1.inputs.userData).not.toEqual(d0.inputs.userData);
    expect(String(d1.inputs.userData)).toContain("server ntp2.time.nl iburst");

    // The assignments and the verification follow the droplet: they take its id (so a new
    // droplet means a new assignment and a re-run of both checks).
    const newId = Number(d1.state.id ?? String(d1.state.dropletUrn).split(":")[2]);
    expect(only(after, T.ipAssign).inputs.dropletId).toBe(newId);
    expect(only(after, T.ipAssign).inputs.ipAddress).toBe(only(after, T.ip).state.ipAddress);
    expect(only(after, T.ip6Assign).inputs.dropletId).toBe(newId);
    expect(only(after, T.ipAssign).dependencies).toContain(d1.urn);
    const commands = after.filter((r) => r.type === T.remote || r.type === T.local);
    expect(commands.map((c) => c.name).sort()).toEqual([
      "ams-1-admin-keys",
      "ams-1-precheck-on-droplet",
      "ams-1-precheck-outside",
      "ams-1-precheck-reach",
      "ams-1-verify-on-droplet",
      "ams-1-verify-outside",
      "ams-1-verify-reach",
    ]);
    for (const c of commands) {
      expect(c.inputs.triggers, c.name).toEqual([String(newId)]);
      // Through the firewall (the admin keys after the pre-check, which waited for it).
      if (c.name !== "ams-1-admin-keys")
        expect(c.dependencies, c.name).toContain(only(after, T.firewall).urn);
      const phase2 = c.name.includes("-verify-");
      // Phase 1 runs before the address moves to the new droplet; phase 2 after.
      expect(c.dependencies.includes(only(after, T.ipAssign).urn), c.name).toBe(phase2);
    }
    expect(only(after, T.ipAssign).dependencies).toContain(
      commands.find((c) => c.name === "ams-1-precheck-on-droplet")?.urn,
    );
    const verifyOnDroplet = (rs: typeof after) =>
      rs.find((r) => r.name === "ams-1-verify-on-droplet");
    expect(String(verifyOnDroplet(after)?.inputs.create)).toContain("--upstream ntp2.time.nl");
    // The droplets of the two runs have different ids (the mocks hand out new ones), so the
    // triggers differ: a replacement re-runs the checks.
    expect(verifyOnDroplet(before)?.inputs.triggers).not.toEqual(
      verifyOnDroplet(after)?.inputs.triggers,
    );
    expect(ofType(after, T.droplet)).toHaveLength(1);
  });
});
