import { execFileSync } from "node:child_process";

/** Debian packages the real-tool and lab tiers use (README "Tests", .ci/run). */
export const DEBIAN_PACKAGES =
  "ntpsec ntpsec-ntpdate cloud-init openssh-server openssh-client nftables conntrack iproute2 libcap2-bin util-linux shellcheck debootstrap dpkg-dev gcc libc6-dev librsvg2-bin";

/**
 * Throws — never skips — when a prerequisite of the real-tool tier is missing, so that a
 * run without them fails loudly instead of passing with a tier left out.
 */
export function requireRealTools(commands: readonly string[]): void {
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    throw new Error(
      `the real-tool tier needs Linux and root (network namespaces, ntpd); run as root: sudo npm test`,
    );
  }
  const missing = commands.filter((c) => {
    try {
      execFileSync("sh", ["-c", `command -v ${c}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.join(", ")}: apt-get install -y ${DEBIAN_PACKAGES} (or run .ci/run)`,
    );
  }
}
