import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEFAULTS } from "../../../components/defaults";
import { parseFleetConfig } from "../../../components/validate";

/**
 * `Pulumi.yaml`'s config block as the engine reads it. The engine requires every declared key
 * of the project's namespace that has neither a value nor a default ("Stack 'dev' is missing
 * configuration value 'x'"), and sets each default onto the stack config before the program
 * runs (pulumi/pulumi sdk/go/common/workspace/config.go, mergeConfig).
 */
const project = parse(readFileSync(`${__dirname}/../../../Pulumi.yaml`, "utf8")) as {
  config: Record<string, { type: string; default?: unknown; value?: unknown }>;
};

/**
 * The declared keys without a default, each required by design: there is no safe value to
 * assume. `sshSourceCidrs`: the verification logs in over SSH from the machine running
 * `pulumi up`, so only the user knows what to open, and opening TCP 22 to the world is not a
 * default (components/validate.ts refuses an empty list too).
 */
const REQUIRED_BY_DESIGN: Readonly<Record<string, string>> = {
  sshSourceCidrs: "the deployer's own addresses, which only the user knows",
};

/** What the engine hands the program for a stack that sets only `stack`'s keys. */
function asTheEngineMergesIt(stack: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...stack };
  const missing: string[] = [];
  for (const [key, decl] of Object.entries(project.config)) {
    if (key in merged) continue;
    if (decl.default !== undefined && decl.default !== null) merged[key] = decl.default;
    else if (decl.value !== undefined && decl.value !== null) merged[key] = decl.value;
    else missing.push(key);
  }
  if (missing.length > 0)
    throw new Error(`Stack 'dev' is missing configuration value(s) ${missing.join(", ")}`);
  return merged;
}

describe("Pulumi.yaml's declared config, as the engine applies it", () => {
  it("gives every declared key a default unless it is required by design", () => {
    const withoutDefault = Object.entries(project.config)
      .filter(([, d]) => d.default === undefined || d.default === null)
      .map(([k]) => k)
      .sort();
    expect(withoutDefault).toEqual(Object.keys(REQUIRED_BY_DESIGN).sort());
  });

  it("declares each default with the value of components/defaults.ts", () => {
    const checked: string[] = [];
    for (const [key, decl] of Object.entries(project.config)) {
      if (key in REQUIRED_BY_DESIGN) continue;
      expect(decl.default, key).toEqual(DEFAULTS[key as keyof typeof DEFAULTS]);
      checked.push(key);
    }
    // Every default was compared: an unread or emptied config block must not pass.
    expect(checked.sort()).toEqual(Object.keys(DEFAULTS).sort());
  });

  // The smallest stack README's "Configuration" allows: members with their own upstreams,
  // the SSH sources, and nothing else (projectName and the fleet-wide upstreams unset).
  const minimal = {
    members: [
      {
        name: "ams-ntp-1",
        region: "ams3",
        upstreams: ["ntp1.time.nl", "ptbtime1.ptb.de", "ptbtime2.ptb.de", "sth1.ntp.se"],
      },
    ],
    sshSourceCidrs: ["203.0.113.7/32"],
  };

  it("runs a stack that leaves projectName and the fleet-wide upstreams unset, with no project", () => {
    const { config } = parseFleetConfig(asTheEngineMergesIt(minimal));
    expect(config.projectName).toBeUndefined();
    expect(config.members[0]?.upstreams).toHaveLength(4);
  });

  it("still takes `pulumi config set projectName X` and a fleet-wide list", () => {
    const { config } = parseFleetConfig(
      asTheEngineMergesIt({
        ...minimal,
        members: [{ name: "ams-ntp-1", region: "ams3" }],
        upstreams: minimal.members[0]?.upstreams,
        projectName: "ntp-pool",
      }),
    );
    expect(config.projectName).toBe("ntp-pool");
    expect(config.members[0]?.upstreams).toHaveLength(4);
  });

  it("names the missing fleet-wide upstreams when a member has none of its own", () => {
    expect(() =>
      parseFleetConfig(
        asTheEngineMergesIt({ ...minimal, members: [{ name: "ams-ntp-1", region: "ams3" }] }),
      ),
    ).toThrow(/members\[0\]\.upstreams: no upstreams — set the fleet-wide "upstreams"/);
  });
});
