/** Where the verification's files are, resolved from this module (not the cwd). */
import { readFileSync } from "node:fs";
import * as path from "node:path";

/** The on-droplet check, sent as the remote command's stdin. */
const VERIFY_SCRIPT_PATH = path.join(__dirname, "..", "cloud-init", "scripts", "ntppool-verify.sh");

export function readVerifyScript(): string {
  return readFileSync(VERIFY_SCRIPT_PATH, "utf8");
}
