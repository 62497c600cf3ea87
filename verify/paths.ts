/** Where the verification's files are, resolved from this module (not the cwd). */
import { readFileSync } from "node:fs";
import * as path from "node:path";

/** The on-droplet check, sent as the remote command's stdin. */
export const VERIFY_SCRIPT_PATH = path.join(
  __dirname,
  "..",
  "cloud-init",
  "scripts",
  "ntppool-verify.sh",
);

/** Entry point of the outside check (run with tsx). */
export const OUTSIDE_SCRIPT_PATH = path.join(__dirname, "outside.ts");

export function readVerifyScript(): string {
  return readFileSync(VERIFY_SCRIPT_PATH, "utf8");
}

/** tsx's CLI; tsx must be installed wherever `pulumi up` runs (see README "Verification"). */
export function resolveTsxCli(): string {
  return require.resolve("tsx/cli");
}
