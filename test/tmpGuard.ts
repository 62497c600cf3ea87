/**
 * vitest global setup of the unit and mocks tiers: their tests' temporary folder (TMPDIR,
 * set per project in vitest.config.mts) is one folder of this run, and the run fails if
 * anything is left in it when the tier ends. The suite leaves no file behind on the user's
 * machine (docs/host-safety.md); a test makes its folders with test/helpers/tempDir.ts.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import type { TestProject } from "vitest/node";

/**
 * The compile caches tsx (`tsx-<uid>`) and ts-node (`ts-node-<hash>`, under @pulumi/pulumi)
 * keep in the temporary folder for any run of a .ts file, tests or not: not a test's files,
 * and removed with the folder all the same.
 */
const TOOL_CACHES = /^(tsx-\d+|ts-node-[0-9a-f]{64})$/;

export default function setup(project: TestProject): () => void {
  const dir = project.config.env.TMPDIR;
  if (dir === undefined) throw new Error(`project ${project.name}: no TMPDIR in its env`);
  mkdirSync(dir, { recursive: true });
  return () => {
    const left = readdirSync(dir).filter((name) => !TOOL_CACHES.test(name));
    rmSync(dir, { recursive: true, force: true });
    if (left.length === 0) return;
    // vitest reports an error thrown here but still exits 0; the exit code is what CI reads.
    process.exitCode = 1;
    console.error(
      `FAIL: the ${project.name} tests left ${left.join(", ")} in their temporary folder: a test removes what it makes (test/helpers/tempDir.ts)`,
    );
  };
}
