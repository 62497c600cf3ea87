import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";

/**
 * A fresh directory under the system's temporary folder that goes when the calling test
 * ends, passed or failed: the suite leaves no file behind on the user's machine
 * (docs/host-safety.md). Call it inside a test; a directory that lives longer than one test
 * is made and removed by the file's own hooks. Not for concurrent tests: vitest's global
 * onTestFinished cannot tell them apart (they use the one of their test context).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
