/**
 * CLI of the outside check (see verify/outsideCheck.ts; --reach-only: verify/outsideReach.ts),
 * run by the Verification component's local.Command on the deployer's machine:
 *
 *   node --import tsx verify/outside.ts --ipv4 203.0.113.7 [--ipv6 2001:db8::7] \
 *     --upstream ntp1.example ... [--wait-seconds 600 --ssh-port 22 --ssh-source CIDR ...] --json
 *
 * Progress goes to stderr. Exit 0: passed, and with --json the last stdout line is the JSON
 * result. Exit 1: failed, "outside check: FAIL: <reason>" on stderr. Exit 2: bad arguments.
 */
import { Command, InvalidArgumentError } from "commander";
import { runOutsideCheck } from "./outsideCheck";
import { CheckFailure, OUTSIDE_DEFAULTS } from "./outsideOptions";
import { waitForReach } from "./outsideReach";

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a whole number >= 1, got ${v}`);
    return n;
  };
}

function nonNegativeInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isInteger(n))
      throw new InvalidArgumentError(`${name} must be a whole number >= 0, got ${v}`);
    return n;
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name("outside")
    .description("Check an NTP Pool member from outside: time served, offset, mode 6 refused.")
    .requiredOption("--ipv4 <address>", "reserved IPv4 of the member")
    .option("--ipv6 <address>", "reserved IPv6 of the member")
    .option(
      "--upstream <host>",
      "an upstream of the member (repeatable); the first that answers is the reference",
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .option(
      "--samples <n>",
      "good samples per address",
      positiveInt("--samples"),
      OUTSIDE_DEFAULTS.samples,
    )
    .option(
      "--retries <n>",
      "extra queries for lost answers",
      positiveInt("--retries"),
      OUTSIDE_DEFAULTS.retries,
    )
    .option(
      "--wait-seconds <n>",
      "wait this long for a first synchronised answer (a droplet that is still booting)",
      nonNegativeInt("--wait-seconds"),
      OUTSIDE_DEFAULTS.waitSeconds,
    )
    .option(
      "--ssh-port <n>",
      "with --reach-only: the SSH port to wait for; filtered while NTP answers = not in sshSourceCidrs",
      positiveInt("--ssh-port"),
    )
    .option(
      "--ssh-source <cidr>",
      "the firewall's SSH sources, named when SSH is filtered (repeatable)",
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .option("--require-ipv6", "fail instead of skipping IPv6 when this machine has no IPv6 route")
    .option(
      "--reach-only",
      "only wait until the IPv4 address accepts SSH (the gate before the SSH check)",
    )
    .option("--json", "print the result as one JSON line on stdout", false)
    .exitOverride();
  try {
    program.parse(argv as string[], { from: "user" });
  } catch (e) {
    return (e as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const o = program.opts<{
    ipv4: string;
    ipv6?: string;
    upstream: string[];
    samples: number;
    retries: number;
    waitSeconds: number;
    sshPort?: number;
    sshSource: string[];
    requireIpv6?: boolean;
    reachOnly?: boolean;
    json: boolean;
  }>();
  try {
    if (o.reachOnly === true) {
      const reach = await waitForReach({
        ipv4: o.ipv4,
        upstreams: [],
        waitSeconds: o.waitSeconds,
        ...(o.sshPort !== undefined ? { ssh: { port: o.sshPort, sources: o.sshSource } } : {}),
      });
      process.stdout.write(`${JSON.stringify(reach)}\n`);
      return 0;
    }
    const result = await runOutsideCheck({
      ipv4: o.ipv4,
      ...(o.ipv6 !== undefined ? { ipv6: o.ipv6 } : {}),
      upstreams: o.upstream,
      samples: o.samples,
      retries: o.retries,
      waitSeconds: o.waitSeconds,
      requireIpv6: o.requireIpv6 === true,
    });
    for (const w of result.warnings) process.stderr.write(`outside check: warning: ${w}\n`);
    process.stdout.write(
      o.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`,
    );
    return 0;
  } catch (e) {
    const msg =
      e instanceof CheckFailure
        ? e.message
        : `internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    process.stderr.write(`outside check: FAIL: ${msg}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
