/**
 * An ssh client that may only try a password (never a key), for proving a server refuses
 * passwords. SSH_ASKPASS (forced, with setsid so there is no terminal) answers any prompt,
 * and the askpass script can record that it was called: a server that never prompts is
 * one that never offered password or keyboard-interactive login.
 */
export function passwordOnlySshArgv(opts: {
  /** Executable script printing the guessed password. */
  readonly askpass: string;
  readonly host: string;
  /** Default: 22. */
  readonly port?: number;
  /** Seconds. */
  readonly connectTimeout: number;
}): string[] {
  return [
    "env",
    `SSH_ASKPASS=${opts.askpass}`,
    "SSH_ASKPASS_REQUIRE=force",
    "DISPLAY=:0",
    "setsid",
    "-w",
    "ssh",
    "-F",
    "/dev/null",
    "-p",
    String(opts.port ?? 22),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "PubkeyAuthentication=no",
    "-o",
    "PreferredAuthentications=password,keyboard-interactive",
    "-o",
    "NumberOfPasswordPrompts=1",
    "-o",
    `ConnectTimeout=${opts.connectTimeout}`,
    `root@${opts.host}`,
    "true",
  ];
}
