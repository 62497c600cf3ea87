import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..", "..");
const PACK = join(ROOT, "policy");

interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  dependencies?: Record<string, string>;
}
const readJson = (p: string): PackageJson => JSON.parse(readFileSync(p, "utf8")) as PackageJson;

describe("policy/ as the engine loads it (`pulumi preview --policy-pack policy`)", () => {
  // @pulumi/policy's PolicyPack constructor reads `${process.cwd()}/package.json` for the
  // pack's version (node_modules/@pulumi/policy/policy.js), and the engine starts the pack
  // with the pack's folder as working directory (pulumi/pulumi
  // sdk/go/common/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer).
  it("has its own package.json with a version and a main file that exists", () => {
    const file = join(PACK, "package.json");
    expect(existsSync(file), file).toBe(true);
    const pkg = readJson(file);
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.main).toBeDefined();
    expect(existsSync(join(PACK, pkg.main ?? ""))).toBe(true);
  });

  it("names the root's versions of what it uses (its modules resolve from the root's node_modules)", () => {
    const pkg = readJson(join(PACK, "package.json"));
    const root = readJson(join(ROOT, "package.json"));
    expect(Object.keys(pkg.dependencies ?? {})).toEqual(
      expect.arrayContaining(["@pulumi/policy", "@pulumi/pulumi"]),
    );
    for (const [name, version] of Object.entries(pkg.dependencies ?? {})) {
      expect(version, name).toBe(root.dependencies?.[name]);
    }
  });

  // The language host runs `node <@pulumi/pulumi/cmd/run-policy-pack> … <pack dir>` from the
  // pack's folder (sdk/nodejs/cmd/pulumi-language-nodejs/main.go, RunPlugin): the pack is
  // compiled by the SDK's ts-node and serves once it prints its gRPC port.
  it("starts under the SDK's own launcher and prints its port", async () => {
    const launcher = createRequire(join(PACK, "index.ts")).resolve(
      "@pulumi/pulumi/cmd/run-policy-pack",
    );
    const child = spawn(process.execPath, [launcher, "127.0.0.1:1", "."], {
      cwd: PACK,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const result = await new Promise<string>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (/^\d+\s*$/m.test(stdout)) resolve("serving");
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.on("exit", (code) => resolve(`exited ${code}`));
    });
    child.kill();
    expect(result, stderr).toBe("serving");
  }, 90_000);
});
