/**
 * The reach gate of the outside check (`verify/outside.ts --reach-only`, Verification's
 * `-reach` command): {@link waitForReach} waits until NTP answers and the SSH port opens.
 */
import { isIP } from "node:net";
import type { NtpSample } from "../ntp/client";
import { round3 } from "./outsideJudge";
import {
  CheckFailure,
  definedOnly,
  type Limits,
  OUTSIDE_DEFAULTS,
  type OutsideDeps,
  type OutsideOptions,
  type TcpProbe,
} from "./outsideOptions";
import { ask, type Ctx, defaultDeps } from "./outsideQueries";

/** What {@link waitForReach} found. */
export interface ReachResult {
  readonly check: "reach";
  readonly address: string;
  /** The first answer's verdict ("ok", "unsynchronised": ntpd runs, not synced yet). */
  readonly ntp: string;
  /** "open", or "not probed" without ssh. */
  readonly ssh: string;
  /** Seconds until both held. */
  readonly seconds: number;
}

/**
 * The gate before the SSH check (Verification's `-reach` command): waits until the IPv4
 * address accepts a TCP connection on the SSH port. A port that times out (no answer, not
 * even a refusal) while NTP answers — the droplet is up — is filtered by the cloud
 * firewall, which admits SSH only from `sshSourceCidrs`: that fails at once, naming them,
 * instead of letting the SSH check dial for `verifyTimeoutSeconds`.
 */
export async function waitForReach(
  opts: OutsideOptions,
  deps: OutsideDeps = defaultDeps(opts.gapMs),
): Promise<ReachResult> {
  if (isIP(opts.ipv4) !== 4)
    throw new CheckFailure(`--ipv4: ${JSON.stringify(opts.ipv4)} is not an IPv4 address`);
  const o: Limits = { ...OUTSIDE_DEFAULTS, ...definedOnly(opts) };
  const ssh = opts.ssh ?? { port: 22, sources: [] };
  const ctx: Ctx = { opts, deps, warnings: [], reference: undefined };
  const t0 = deps.now();
  const deadline = t0 + o.waitSeconds * 1000;
  let ntp: NtpSample | undefined;
  let sshState: TcpProbe = "timeout";
  let queries = 0;
  while (true) {
    if (ntp === undefined) {
      ntp = await ask(ctx, opts.ipv4);
      queries++;
    }
    sshState = await deps.tcp(opts.ipv4, ssh.port, o.sshConnectTimeoutMs);
    if (sshState === "open") {
      return {
        check: "reach",
        address: opts.ipv4,
        ntp: ntp?.verdict ?? "no answer yet",
        ssh: "open",
        seconds: round3((deps.now() - t0) / 1000),
      };
    }
    // The droplet is up (ntpd answers), yet SSH gets no answer at all, not even a refusal:
    // something between drops it, and the cloud firewall admits SSH only from its sources.
    if (sshState === "timeout" && ntp !== undefined) {
      throw new CheckFailure(
        `SSH to ${opts.ipv4} port ${ssh.port} is filtered from this machine while NTP answers: the cloud firewall admits SSH only from sshSourceCidrs (${ssh.sources.join(", ")}), and this machine's public address is not in it — add it (e.g. "$(curl -4s https://ifconfig.me)/32") and run pulumi up again`,
      );
    }
    if (deps.now() >= deadline) break;
    // Without an NTP answer, ask() paces the loop; after one, wait the same gap.
    if (ntp !== undefined) await deps.sleep(o.gapMs);
  }
  if (sshState === "refused") {
    throw new CheckFailure(
      `nothing accepts SSH on ${opts.ipv4} port ${ssh.port} (connection refused for ${o.waitSeconds} s): sshd is not running on the droplet`,
    );
  }
  throw new CheckFailure(
    `neither NTP nor SSH answers from ${opts.ipv4} within ${o.waitSeconds} s (${queries} NTP queries, SSH timing out): did the droplet boot, and does the cloud firewall admit this machine?`,
  );
}
