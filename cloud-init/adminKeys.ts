/** The admin-keys command (pure; no Pulumi import): cloud-init/scripts/ntppool-admin-keys.sh. */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { shellJoin } from "../verify/commands";

const ADMIN_KEYS_SCRIPT_PATH = path.join(__dirname, "scripts", "ntppool-admin-keys.sh");

export function readAdminKeysScript(): string {
  return readFileSync(ADMIN_KEYS_SCRIPT_PATH, "utf8");
}

/** `sh -s -- KEY ...`: the script arrives on stdin; each key is one quoted argument. */
export function renderAdminKeysCommand(publicKeys: readonly string[]): string {
  return shellJoin(["sh", "-s", "--", ...publicKeys.map((k) => k.trim())]);
}
