import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  engineSetup,
  engineSteps,
  findPulumi,
  prepareEngine,
  renderEngineConfig,
  replaceUpstreams,
  setStackSetting,
} from "../../../lab/engine";
import { changesIn, parseChangeSummary, resourcesIn } from "../../../lab/engineOutput";
import type { StackConfig } from "../../../lab/stack";
import { tempDir } from "../../helpers/tempDir";

// `--engine pulumi` cannot run here (no Pulumi CLI can be installed on this machine): these
// tests cover what the lab builds for the engine and how it reads the engine's answers.

const stack: StackConfig = {
  project: "ntp-pool",
  stack: "dev",
  config: {
    "ntp-pool:members": JSON.stringify([{ name: "ams-ntp-1", region: "ams3" }]),
    "ntp-pool:upstreams": JSON.stringify(["a.example", "b.example", "c.example", "d.example"]),
    "ntp-pool:ipv6": "true",
    "ntp-pool:size": "s-1vcpu-1gb",
  },
  skippedSecrets: [],
};

describe("lab --engine pulumi", () => {
  it("finds pulumi on PATH only where it is", () => {
    const dir = tempDir("ntp-lab-path-");
    expect(findPulumi(dir)).toBeUndefined();
    expect(findPulumi("")).toBeUndefined();
  });

  it("keeps the state in a file backend inside the run directory, with a lab passphrase", () => {
    const s = engineSetup("/run/lab/ntpl-abc", "lab", "pass-1");
    expect(s.env.PULUMI_BACKEND_URL).toBe("file:///run/lab/ntpl-abc/pulumi-state");
    expect(s.env.PULUMI_CONFIG_PASSPHRASE).toBe("pass-1");
    expect(s.projectDir).toBe("/run/lab/ntpl-abc/project");
    expect(s.configFile).toBe("/run/lab/ntpl-abc/project/Pulumi.lab.yaml");
  });

  it("points the DigitalOcean provider at the emulated API, keeps structured settings, writes no token", () => {
    const doc = parse(renderEngineConfig(stack, "http://127.0.0.1:8080")) as {
      config: Record<string, unknown>;
    };
    expect(doc.config["digitalocean:apiEndpoint"]).toBe("http://127.0.0.1:8080");
    expect(doc.config["ntp-pool:members"]).toEqual([{ name: "ams-ntp-1", region: "ams3" }]);
    expect(doc.config["ntp-pool:upstreams"]).toHaveLength(4);
    expect(doc.config["ntp-pool:size"]).toBe("s-1vcpu-1gb");
    expect(doc.config["digitalocean:token"]).toBeUndefined();
  });

  it("links the project into the run directory without the user's stack files, and edits settings in place", () => {
    const repo = tempDir("ntp-lab-repo-");
    for (const f of ["Pulumi.yaml", "index.ts", "Pulumi.dev.yaml"])
      writeFileSync(join(repo, f), "x");
    mkdirSync(join(repo, "components"));
    const dir = tempDir("ntp-lab-engine-");
    const setup = engineSetup(dir, "lab", "p");
    prepareEngine(setup, stack, "http://127.0.0.1:8080", repo);
    expect(readdirSync(setup.projectDir).sort()).toEqual([
      "Pulumi.lab.yaml",
      "Pulumi.yaml",
      "components",
      "index.ts",
    ]);
    expect(lstatSync(join(setup.projectDir, "index.ts")).isSymbolicLink()).toBe(true);
    // What the engine adds (salt, the token's ciphertext) survives a scenario's edit.
    const doc = parse(readFileSync(setup.configFile, "utf8")) as Record<string, unknown>;
    writeFileSync(
      setup.configFile,
      stringify({
        ...doc,
        encryptionsalt: "v1:abc",
        config: { ...(doc.config as object), "digitalocean:token": { secure: "v1:xyz" } },
      }),
    );
    setStackSetting(setup.configFile, "ntp-pool:upstreams", ["b", "a"]);
    const after = parse(readFileSync(setup.configFile, "utf8")) as {
      encryptionsalt: string;
      config: Record<string, unknown>;
    };
    expect(after.encryptionsalt).toBe("v1:abc");
    expect(after.config["digitalocean:token"]).toEqual({ secure: "v1:xyz" });
    expect(after.config["ntp-pool:upstreams"]).toEqual(["b", "a"]);
    expect(after.config["digitalocean:apiEndpoint"]).toBe("http://127.0.0.1:8080");
  });

  it("runs preview with the policy pack, then up, then a second up; the token only on stdin", () => {
    const setup = engineSetup("/r", "lab", "p");
    const steps = engineSteps(setup, "dop_v1_secret");
    expect(steps.map((s) => s.name)).toEqual(["stack init", "token", "preview", "up", "second up"]);
    const preview = steps[2]?.argv ?? [];
    expect(preview.slice(0, 3)).toEqual(["preview", "--policy-pack", "policy"]);
    expect(preview).toContain("--json");
    expect(preview).toEqual(expect.arrayContaining(["--stack", "lab", "--non-interactive"]));
    expect(steps[3]?.argv.slice(0, 2)).toEqual(["up", "--yes"]);
    for (const s of steps) expect(s.argv.join(" ")).not.toContain("dop_v1_secret");
    expect(steps[1]?.stdin).toBe("dop_v1_secret");
    expect(steps[1]?.argv).toEqual(
      expect.arrayContaining(["config", "set", "--secret", "digitalocean:token"]),
    );
  });

  it("reads the change summary of preview --json", () => {
    const out = JSON.stringify({ steps: [], changeSummary: { create: 14 } }, null, 2);
    expect(parseChangeSummary(out)).toEqual({ create: 14 });
    expect(resourcesIn({ create: 14 })).toBe(14);
  });

  it("reads the summary event of engine events, one per line", () => {
    const out = [
      JSON.stringify({ sequence: 1, preludeEvent: { config: {} } }),
      JSON.stringify({ sequence: 9, summaryEvent: { resourceChanges: { same: 15 } } }),
    ].join("\n");
    expect(parseChangeSummary(out)).toEqual({ same: 15 });
    expect(changesIn({ same: 15 })).toBe(0);
  });

  it("reads the human summary, and counts every change but 'same'", () => {
    const out =
      "Updating (lab):\n...\nResources:\n    + 1 to create\n    +-1 to replace\n    13 unchanged\n\nDuration: 2m";
    const s = parseChangeSummary(out);
    expect(s).toEqual({ create: 1, replace: 1, same: 13 });
    expect(changesIn(s ?? {})).toBe(2);
    expect(parseChangeSummary("error: no summary")).toBeUndefined();
  });

  it("counts neither 'same' nor 'read' as a change (the stack reference is read on every run)", () => {
    // What the real engine's second `up` summed to (issue 17): the StackReference read.
    expect(changesIn({ read: 1, same: 20 })).toBe(0);
    expect(changesIn({ read: 1, same: 19, update: 1 })).toBe(1);
  });

  it("replaces the droplet by reordering the upstreams, and says why when it cannot", () => {
    expect(replaceUpstreams(["a", "b", "c", "d"])).toEqual(["b", "c", "d", "a"]);
    expect(() => replaceUpstreams(["a"])).toThrow(/ntp-pool:upstreams needs 2 or more .* got 1/);
  });
});
