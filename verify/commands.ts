/**
 * Pure renderers for the two verification command lines (no Pulumi import).
 *
 * Every value is single-quoted for POSIX sh, so a hostile upstream name or address cannot
 * inject shell: inside '...' nothing is special except the quote itself, which is written
 * as '\'' (POSIX.1-2017 XCU 2.2.2). The remote line is run by the droplet's login shell
 * over SSH, the local one by /bin/sh -c (@pulumi/command's local default).
 */
/** Quotes one word for POSIX sh. NUL cannot be passed in an argv, so it is refused. */
export function shellQuote(word: string): string {
  if (word.includes("\0"))
    throw new Error(`shellQuote: value ${JSON.stringify(word)} contains NUL`);
  // Bare words only from characters no shell treats specially ("=" is left out: a first
  // word "A=b" would be an assignment).
  if (/^[A-Za-z0-9_./:@%+,-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}

function checkTimeout(timeoutSeconds: number): void {
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
    throw new Error(
      `verification timeoutSeconds: must be a whole number of seconds >= 1, got ${timeoutSeconds}`,
    );
  }
}

export interface RemoteVerifyCommandArgs {
  /** Bound on waiting for cloud-init plus the first sync, seconds. */
  readonly timeoutSeconds: number;
  readonly upstreams: readonly string[];
  /** The reserved IPv6 the guest must have configured (on `lo`). Default: none. */
  readonly reservedIpv6?: string;
}

/**
 * `sh -s -- --timeout N [--reserved-ipv6 A] --upstream A ...`: the script itself arrives on stdin (see
 * verify/paths.ts), so it needs no file on the droplet.
 */
export function renderRemoteVerifyCommand(args: RemoteVerifyCommandArgs): string {
  checkTimeout(args.timeoutSeconds);
  const words = ["sh", "-s", "--", "--timeout", String(args.timeoutSeconds)];
  if (args.reservedIpv6 !== undefined) words.push("--reserved-ipv6", args.reservedIpv6);
  for (const u of args.upstreams) words.push("--upstream", u);
  return shellJoin(words);
}

/** The outside check's entry point, relative to the project directory. */
const OUTSIDE_SCRIPT = "verify/outside.ts";

export interface LocalVerifyCommandArgs {
  readonly ipv4: string;
  readonly ipv6?: string;
  readonly upstreams: readonly string[];
  /** Seconds to wait for a first synchronised answer (0: the member must already serve). */
  readonly waitSeconds?: number;
  /** Probe SSH once NTP answers; `sources` are named when it is filtered. */
  readonly ssh?: { readonly port: number; readonly sources: readonly string[] };
  /** Fail instead of skipping IPv6 on a deployer without an IPv6 route. */
  readonly requireIpv6?: boolean;
  /** Only the gate: NTP answers at all and SSH opens (verify/outsideReach.ts waitForReach). */
  readonly reachOnly?: boolean;
}

/**
 * `node --import tsx verify/outside.ts --ipv4 A [--ipv6 B] --upstream U ... --json`.
 *
 * The same text on every machine: no absolute path, because a command whose text differs
 * between two checkouts is an update (and a re-run) on every `pulumi up` from the other one.
 * `node` comes from PATH and the script from the working directory, which is the project
 * directory: the engine starts the command provider there, next to Pulumi.yaml. The guard
 * turns a wrong directory into one clear line instead of a module-not-found trace.
 */
export function renderLocalVerifyCommand(args: LocalVerifyCommandArgs): string {
  const words = ["node", "--import", "tsx", OUTSIDE_SCRIPT, "--ipv4", args.ipv4];
  if (args.ipv6 !== undefined) words.push("--ipv6", args.ipv6);
  for (const u of args.upstreams) words.push("--upstream", u);
  if (args.waitSeconds !== undefined && args.waitSeconds > 0) {
    checkTimeout(args.waitSeconds);
    words.push("--wait-seconds", String(args.waitSeconds));
  }
  if (args.ssh !== undefined) {
    words.push("--ssh-port", String(args.ssh.port));
    for (const c of args.ssh.sources) words.push("--ssh-source", c);
  }
  if (args.requireIpv6 === true) words.push("--require-ipv6");
  if (args.reachOnly === true) words.push("--reach-only");
  words.push("--json");
  const guard = `test -f ${OUTSIDE_SCRIPT} || { echo "outside check: ${OUTSIDE_SCRIPT} not found in $PWD: run pulumi from the project directory" >&2; exit 2; }`;
  return `${guard}; ${shellJoin(words)}`;
}
