/**
 * Pool operations CLI: `npm run pool -- register`, `npm run pool -- status [--watch]` and
 * `npm run pool -- monitor <address>…`.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { POOL_DEFAULTS } from "./defaults";
import { runMonitor } from "./monitor";
import { loadStackOutputs, type StackOutputs } from "./outputs";
import { allReady, probeMembers, renderRegistration } from "./register";
import { statusOnce, watchStatus } from "./status";

export interface CliIo {
  write: (text: string) => void;
  writeError: (text: string) => void;
  /** Receives the exit code (process.exitCode in production). */
  exit: (code: number) => void;
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive number, got "${value}"`);
    }
    return n;
  };
}

function finiteNumber(name: string) {
  // A parser, so commander prints the error (one thrown from the action is not printed).
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) {
      throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
    }
    return n;
  };
}

function positiveInteger(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got "${v}"`);
    }
    return n;
  };
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new InvalidArgumentError(`--port must be an integer 1–65535, got "${value}"`);
  }
  return n;
}

function memberAddresses(outputs: StackOutputs): string[] {
  return Object.values(outputs.members).flatMap((m) =>
    m.registration.addresses.map((a) => a.address),
  );
}

export function buildProgram(io: CliIo): Command {
  const program = new Command("pool")
    .description("NTP Pool operations for the members of this stack")
    .exitOverride()
    .configureOutput({ writeOut: io.write, writeErr: io.writeError });

  program
    .command("register")
    .description(
      "check each member address answers NTP as the pool requires (stratum 1–5, synchronised, offset ≤ 100 ms), then print what to enter at manage.ntppool.org",
    )
    .option("--outputs <file>", "saved `pulumi stack output --json` (default: run the pulumi CLI)")
    .option("--stack <name>", "stack to read outputs from when running the pulumi CLI")
    .addOption(
      new Option("--port <n>", "NTP port to query (tests only; the pool always uses 123)")
        .argParser(port)
        .hideHelp(),
    )
    .action(async (opts: { outputs?: string; stack?: string; port?: number }) => {
      const outputs = loadStackOutputs({ file: opts.outputs, stack: opts.stack });
      const probes = await probeMembers(outputs, { port: opts.port });
      io.write(renderRegistration(outputs, probes));
      io.exit(allReady(probes) ? 0 : 1);
    });

  program
    .command("status")
    .description(
      "show each address's pool score, per-monitor scores and offsets, and a chart; exit 1 when below the threshold",
    )
    .argument("[ip...]", "addresses to check (default: every address in the stack outputs)")
    .option("--outputs <file>", "saved `pulumi stack output --json` (default: run the pulumi CLI)")
    .option("--stack <name>", "stack to read outputs from when running the pulumi CLI")
    .option(
      "--threshold <score>",
      "exit 1 when a score is below this",
      finiteNumber("--threshold"),
      POOL_DEFAULTS.threshold,
    )
    .option(
      "--limit <n>",
      "history entries to fetch",
      positiveNumber("--limit"),
      POOL_DEFAULTS.historyLimit,
    )
    .option("--svg <file>", "also write the chart as SVG ({ip} in the name is replaced)")
    .option("--api-base <url>", "score API base URL", POOL_DEFAULTS.apiBase)
    .option(
      "--timeout <seconds>",
      "HTTP timeout per request",
      positiveNumber("--timeout"),
      POOL_DEFAULTS.httpTimeoutMs / 1000,
    )
    .option("--watch", "repeat until interrupted")
    .option(
      "--interval <seconds>",
      `seconds between rounds with --watch (minimum ${POOL_DEFAULTS.watchIntervalSeconds}: the API caches ~2 min)`,
      positiveNumber("--interval"),
    )
    .option("--rounds <n>", "with --watch, stop after n rounds", positiveNumber("--rounds"))
    .action(
      async (
        ips: string[],
        opts: {
          outputs?: string;
          stack?: string;
          threshold: number;
          limit: number;
          svg?: string;
          apiBase: string;
          timeout: number;
          watch?: boolean;
          interval?: number;
          rounds?: number;
        },
      ) => {
        if (!Number.isFinite(opts.threshold)) {
          throw new InvalidArgumentError("--threshold must be a number");
        }
        const addresses =
          ips.length > 0
            ? ips
            : memberAddresses(loadStackOutputs({ file: opts.outputs, stack: opts.stack }));
        const common = {
          apiBase: opts.apiBase,
          limit: opts.limit,
          timeoutMs: opts.timeout * 1000,
          threshold: opts.threshold,
          svg: opts.svg,
          write: io.write,
          writeError: io.writeError,
        };
        if (opts.watch) {
          const controller = new AbortController();
          const stop = () => controller.abort();
          process.once("SIGINT", stop);
          try {
            io.exit(
              await watchStatus(addresses, {
                ...common,
                intervalSeconds: opts.interval,
                maxRounds: opts.rounds,
                signal: controller.signal,
              }),
            );
          } finally {
            process.removeListener("SIGINT", stop);
          }
        } else {
          io.exit(await statusOnce(addresses, common));
        }
      },
    );
  program
    .command("monitor")
    .description(
      "score addresses from this machine the way the pool's monitors do (3 samples 2 s apart per check); exit 1 when the final score is below the threshold",
    )
    .argument("<address...>", "IP addresses (or names) to check")
    .option(
      "--reference <host>",
      "judge offsets against this server (e.g. one of the member's upstreams) instead of this machine's clock",
    )
    .option(
      "--checks <n>",
      "checks per address",
      positiveInteger("--checks"),
      POOL_DEFAULTS.monitorChecks,
    )
    .option(
      "--interval <seconds>",
      "seconds from one check's start to the next (default: an active pool monitor's pace)",
      positiveNumber("--interval"),
      POOL_DEFAULTS.monitorIntervalSeconds,
    )
    .option(
      "--threshold <score>",
      "exit 1 when the final score is below this",
      finiteNumber("--threshold"),
      POOL_DEFAULTS.threshold,
    )
    .option("--svg <file>", "also write the chart as SVG ({ip} in the name is replaced)")
    .addOption(
      new Option("--port <n>", "NTP port to query (tests only; the pool always uses 123)")
        .argParser(port)
        .hideHelp(),
    )
    .action(
      async (
        addresses: string[],
        opts: {
          reference?: string;
          checks: number;
          interval: number;
          threshold: number;
          svg?: string;
          port?: number;
        },
      ) => {
        io.exit(
          await runMonitor({
            addresses,
            reference: opts.reference,
            checks: opts.checks,
            intervalSeconds: opts.interval,
            threshold: opts.threshold,
            svg: opts.svg,
            port: opts.port,
            write: io.write,
          }),
        );
      },
    );
  return program;
}

/** Parses argv and runs; every failure becomes a one-line message and a non-zero code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<void> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === "string" && e.code.startsWith("commander.")) {
      // Commander has already printed its message (help, usage error).
      io.exit(e.exitCode ?? 2);
      return;
    }
    io.writeError(`pool: ${e.message ?? String(err)}\n`);
    io.exit(2);
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2), {
    write: (t) => process.stdout.write(t),
    writeError: (t) => process.stderr.write(t),
    exit: (code) => {
      process.exitCode = code;
    },
  });
}
