import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { toolsRoot } from "../../lab/image";

/** Host commands every real-tool test uses (lab/prereqs.ts HOST_PACKAGES brings them). */
const HOST_COMMANDS = ["ip", "unshare", "capsh"];
const IMAGE_PATH = ["usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin"];

/**
 * Throws — never skips — when a prerequisite of the real-tool tier is missing, so that a
 * run without them fails loudly instead of passing with a tier left out. `commands` are
 * looked up in the lab's tools image (where every daemon and client of the tests runs from,
 * lab/imageExec.ts); returns that image's root.
 */
export function requireRealTools(commands: readonly string[]): string {
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    throw new Error(
      "the real-tool tier needs Linux and root (network namespaces, mounts); run as root: sudo npm test",
    );
  }
  const missingHost = HOST_COMMANDS.filter((c) => {
    try {
      execFileSync("sh", ["-c", `command -v ${c}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missingHost.length > 0) {
    throw new Error(
      `missing host commands ${missingHost.join(", ")}: run \`sudo npm test\` (its setup installs lab/prereqs.ts HOST_PACKAGES)`,
    );
  }
  const root = toolsRoot();
  const missing = commands.filter((c) => !IMAGE_PATH.some((d) => existsSync(join(root, d, c))));
  if (missing.length > 0) {
    throw new Error(
      `the tools image ${root} has no ${missing.join(", ")}: add its package to lab/imageRecipe.ts TOOLS_PACKAGES`,
    );
  }
  return root;
}
