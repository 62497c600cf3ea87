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
}

/**
 * `sh -s -- --timeout N --upstream A ...`: the script itself arrives on stdin (see
 * verify/paths.ts), so it needs no file on the droplet.
 */
export function renderRemoteVerifyCommand(args: RemoteVerifyCommandArgs): string {
  checkTimeout(args.timeoutSeconds);
  const words = ["sh", "-s", "--", "--timeout", String(args.timeoutSeconds)];
  for (const u of args.upstreams) words.push("--upstream", u);
  return shellJoin(words);
}

export interface LocalVerifyCommandArgs {
  /** Absolute path of the node binary that runs the check. */
  readonly node: string;
  /** Absolute path of tsx's CLI (`require.resolve("tsx/cli")`). */
  readonly tsxCli: string;
  /** Absolute path of verify/outside.ts. */
  readonly outsideScript: string;
  readonly ipv4: string;
  readonly ipv6?: string;
  readonly upstreams: readonly string[];
}

/** `node tsx/cli.mjs verify/outside.ts --ipv4 A [--ipv6 B] --upstream U ... --json`. */
export function renderLocalVerifyCommand(args: LocalVerifyCommandArgs): string {
  const words = [args.node, args.tsxCli, args.outsideScript, "--ipv4", args.ipv4];
  if (args.ipv6 !== undefined) words.push("--ipv6", args.ipv6);
  for (const u of args.upstreams) words.push("--upstream", u);
  words.push("--json");
  return shellJoin(words);
}
