/**
 * The import rules of `npm run lint` (.dependency-cruiser.cjs) catch what they are for: each
 * is run on a scratch tree laid out like the repository, with one violation planted per rule,
 * and must name that violation and no other; a tree without them must pass. So a rule whose
 * pattern stops matching (a renamed folder, a changed option) fails here, not silently.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..", "..");
const DEPCRUISE = join(ROOT, "node_modules", "dependency-cruiser", "bin", "dependency-cruise.mjs");

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * A scratch tree with `files` (path → source) and a stand-in @pulumi/pulumi package, laid out
 * as in the repository (its own node_modules/, not a link: paths must read as they do there).
 */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "import-rules-"));
  dirs.push(dir);
  const pkg = join(dir, "node_modules", "@pulumi", "pulumi");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "package.json"), '{"name":"@pulumi/pulumi","main":"index.js"}\n');
  writeFileSync(join(pkg, "index.js"), "exports.stack = 1;\n");
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "commonjs", moduleResolution: "node" } }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** What depcruise reports for the tree: [rule, from, to] per violation, sorted. */
function violations(dir: string): string[][] {
  const r = spawnSync(
    process.execPath,
    [DEPCRUISE, "--config", join(ROOT, ".dependency-cruiser.cjs"), "--output-type", "json", "."],
    { cwd: dir, encoding: "utf8" },
  );
  if (r.stdout === "") throw new Error(`depcruise printed nothing (exit ${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as {
    summary: { violations: { rule: { name: string }; from: string; to: string }[] };
  };
  return out.summary.violations.map((v) => [v.rule.name, v.from, v.to]).sort();
}

/** A clean tree: the product uses ntp/, the lab uses the product, a component uses Pulumi. */
const CLEAN = {
  "index.ts":
    'import { PoolServer } from "./components/PoolServer";\nexport const p = PoolServer;\n',
  "components/PoolServer.ts":
    'import * as pulumi from "@pulumi/pulumi";\nimport { rule } from "../ntp/rules";\nexport const PoolServer = [pulumi, rule];\n',
  "ntp/rules.ts": "export const rule = 1;\n",
  "lab/run.ts": 'import { p } from "../index";\nexport const run = p;\n',
};

// Each check starts depcruise (a second or more: it loads TypeScript), hence two runs in all
// and a bound that allows for a loaded machine.
describe("import rules (.dependency-cruiser.cjs)", { timeout: 60_000 }, () => {
  it("pass a tree that keeps them", () => {
    expect(violations(tree(CLEAN))).toEqual([]);
  });

  it("name each planted violation, and only those", () => {
    const dir = tree({
      ...CLEAN,
      // no-circular: an import cycle (a type-only import closes one too).
      "lab/a.ts": 'import { b } from "./b";\nexport const a = b;\n',
      "lab/b.ts": 'import type { a } from "./a";\nexport const b: typeof a | 1 = 1;\n',
      // product-not-lab: the product imports the lab.
      "verify/check.ts": 'import { x } from "../lab/x";\nexport const check = x;\n',
      "lab/x.ts": "export const x = 1;\n",
      // pure-no-pulumi: a renderer imports Pulumi, and one reaches it through a component.
      "ntp/render.ts": 'import * as pulumi from "@pulumi/pulumi";\nexport const r = pulumi;\n',
      "cloud-init/render.ts":
        'import { cfg } from "../components/config";\nexport const r = cfg;\n',
      "components/config.ts":
        'import * as pulumi from "@pulumi/pulumi";\nexport const cfg = pulumi;\n',
    });
    const pulumi = "node_modules/@pulumi/pulumi/index.js";
    expect(violations(dir)).toEqual([
      // A cycle is reported once, at its first edge.
      ["no-circular", "lab/a.ts", "lab/b.ts"],
      ["product-not-lab", "verify/check.ts", "lab/x.ts"],
      ["pure-no-pulumi", "cloud-init/render.ts", pulumi],
      ["pure-no-pulumi", "ntp/render.ts", pulumi],
    ]);
  });
});
