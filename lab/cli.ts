import { appendFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { findPulumi, NO_PULUMI } from "./engine";
import type { Scenario } from "./engineRun";
import { defaultCacheDir } from "./image";
import type { Lab } from "./lab";
import { ensurePackages, notRunnable } from "./prereqs";
import {
  defaultReportPath,
  type LabReport,
  renderApiCalls,
  renderKeepLines,
  renderPhases,
  renderSummary,
  renderTable,
  writeReport,
} from "./report";
import { runLab } from "./run";
import { SCENARIO_NAMES } from "./scenarios";
import { parseUpstreamKind, type UpstreamKind } from "./upstreams";

/** Commander parser: a factor > 0 and ≤ 1 (the provider's waits shortened, never lengthened). */
function waitScale(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1)
    throw new InvalidArgumentError(`--wait-scale must be a number > 0 and ≤ 1, got "${v}"`);
  return n;
}

/** Commander parser: a whole number ≥ 1, or one clear error naming the option (issue 5). */
function wholeNumber(option: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${option} must be a whole number ≥ 1, got "${v}"`);
    }
    return n;
  };
}

/** The lab CLI's settings, as parsed from its arguments. */
export interface LabCliOptions {
  stackFile: string;
  members?: number;
  report?: string;
  cacheDir?: string;
  syncTimeout?: number;
  waitScale?: number;
  engine: "mock" | "pulumi";
  scenario?: Scenario[];
  engineOutput?: string;
  summary?: string;
  keep?: boolean;
  faultDropOutboundNtp?: boolean;
  faultUpstreamsDown?: number;
  faultUpstream?: UpstreamKind[];
}

/** Where the parser writes help and errors (the process's stdout and stderr when run). */
export interface LabCliIo {
  write: (text: string) => void;
  writeError: (text: string) => void;
}

/**
 * Parses the lab's arguments, or throws commander's error after writing its one line: bad
 * input is refused here, before anything is checked, installed or created.
 */
export function parseLabArgs(argv: readonly string[], io: LabCliIo): LabCliOptions {
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeOut: io.write, writeErr: io.writeError })
    .name("npm run lab --")
    .description(
      "Runs the real program (index.ts) against an emulated DigitalOcean: the API (lab/do/) realises droplets as namespaces booted by real cloud-init, reserved IPs as 1:1 NAT, firewalls as nftables; upstreams are stratum-1 NTPsec servers. The program runs under Pulumi's mock runtime, whose resources become the DigitalOcean provider's API calls (lab/provider/).",
    )
    .option("--stack-file <file>", "stack settings to use", "Pulumi.dev.yaml")
    .option(
      "--members <n>",
      "use the first N members (copies of the first member fill up)",
      wholeNumber("--members"),
    )
    .option("--report <file>", "where to write the JSON report (default: under the cache dir)")
    .option("--cache-dir <dir>", "image/apt cache (default .lab-cache, or $NTP_LAB_CACHE)")
    .option(
      "--keep",
      "keep the lab up after the run, until Ctrl-C (to look around with ip netns exec)",
    )
    .addOption(
      new Option(
        "--engine <engine>",
        "mock: the program under Pulumi's mock runtime; pulumi: the real Pulumi CLI from PATH (preview --policy-pack policy, up, a second up that must change nothing)",
      )
        .choices(["mock", "pulumi"])
        .default("mock"),
    )
    .addOption(
      new Option(
        "--scenario <name...>",
        "with --engine pulumi, after the second up, in this order: replace (reordered upstreams), size (s-2vcpu-2gb): the droplet replaced; ssh-cidrs: the firewall updated in place; project: a project created, then no change; precheck-fails: a new droplet failing its pre-check leaves the addresses on the old one, then the undone change deploys; interrupted: a replacing up gets Ctrl-C once the new droplet exists, then an up finishes it; drift: a droplet deleted through the API, then pulumi refresh and the runbook's steps bring it back; region: refused at preview; token: a refused token is one line naming digitalocean:token; token-read-only: the up fails at its first writes, nothing created; ipv6-off: stopped at preview by the protected reserved IPv6; destroy: stopped by the protected reserved IPs. Every up is probed once a second on each reserved address; an unanswered or unsynchronised probe fails it (lab/scenarios.ts)",
      ).choices([...SCENARIO_NAMES]),
    )
    .option(
      "--engine-output <dir>",
      "with --engine pulumi: keep each engine step's stdout and stderr in this folder",
    )
    .option(
      "--summary <file>",
      "append the member table and API call counts (Markdown) to this file, e.g. $GITHUB_STEP_SUMMARY",
    )
    .option(
      "--wait-scale <factor>",
      "multiply the DigitalOcean provider's waits (StateChangeConf delays and back-offs) by this factor; 1 = the provider's own timing",
      waitScale,
    )
    .option(
      "--sync-timeout <seconds>",
      "bound for each member's first sync (default: verifyTimeoutSeconds)",
      wholeNumber("--sync-timeout"),
    )
    .addOption(
      new Option(
        "--fault-drop-outbound-ntp",
        "FAULT INJECTION: remove outbound UDP 123 from the firewalls",
      ).hideHelp(),
    )
    .addOption(
      new Option("--fault-upstreams-down <n>", "FAULT INJECTION: keep N upstreams down")
        .argParser(Number)
        .hideHelp(),
    )
    .addOption(
      new Option(
        "--fault-upstream <kind...>",
        "FAULT INJECTION: upstream 1, 2, ... behaves as good, falseticker:<±s>, leap, unsynchronised or kod",
      )
        .argParser((v: string, prev: UpstreamKind[] | undefined) => {
          try {
            return [...(prev ?? []), parseUpstreamKind(v)];
          } catch (e) {
            throw new InvalidArgumentError((e as Error).message);
          }
        })
        .hideHelp(),
    );
  program.parse([...argv], { from: "user" });
  const o = program.opts<LabCliOptions>();
  if ((o.scenario ?? []).length > 0 && o.engine !== "pulumi")
    program.error(
      "error: --scenario needs --engine pulumi (the mock runtime has no second deployment)",
    );
  return o;
}

async function main(argv: readonly string[]): Promise<number> {
  let o: LabCliOptions;
  try {
    o = parseLabArgs(argv, {
      write: (t) => process.stdout.write(t),
      writeError: (t) => process.stderr.write(t),
    });
  } catch (e) {
    // Commander has written the message (or the help); its exit code is 0 for --help.
    return (e as { exitCode?: number }).exitCode ?? 2;
  }
  const scenarios = o.scenario ?? [];
  let pulumi: string | undefined;
  if (o.engine === "pulumi") {
    pulumi = findPulumi();
    if (!pulumi) {
      console.error(NO_PULUMI);
      return 2;
    }
  }
  const why = notRunnable();
  if (why) {
    console.error(`lab: ${why}`);
    return 2;
  }
  const t0 = Date.now();
  const log = (msg: string) =>
    console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
  ensurePackages(log);

  let lab: Lab | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: tearing down`);
    lab?.td.run();
    process.exit(sig === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => lab?.td.run());

  const cacheDir = resolve(o.cacheDir ?? defaultCacheDir());
  let report: LabReport | undefined;
  let code = 0;
  try {
    report = await runLab({
      stackFile: resolve(o.stackFile),
      members: o.members,
      cacheDir,
      syncTimeoutSeconds: o.syncTimeout,
      waitScale: o.waitScale,
      engine: pulumi
        ? {
            pulumi,
            scenarios,
            ...(o.engineOutput ? { outputDir: resolve(o.engineOutput) } : {}),
          }
        : undefined,
      faults: {
        dropOutboundNtp: o.faultDropOutboundNtp,
        upstreamsDown: o.faultUpstreamsDown,
        ...(o.faultUpstream ? { upstreamKinds: o.faultUpstream } : {}),
      },
      log,
      onLab: (l) => {
        lab = l;
      },
      beforeTeardown: o.keep
        ? (l, api) => {
            log(
              `--keep: lab ${l.prefix} stays up (namespaces ${l.prefix}-*); Ctrl-C tears it down`,
            );
            console.log(renderKeepLines(api.url, api.endpoint.token, l.inet));
            // A line on stdin ends the wait like a normal run (teardown, table, report): lets a
            // script (test/lab-long/attacks.test.ts) work on the live lab and still get the report.
            return new Promise<void>((done) => {
              process.stdin.once("data", () => {
                process.stdin.pause();
                done();
              });
            });
          }
        : undefined,
    });
  } catch (e) {
    report = (e as { report?: LabReport }).report;
    console.error(`\nlab: FAILED: ${(e as Error).message}`);
    code = 1;
  }
  if (report) {
    console.log(`\n${renderTable(report)}`);
    const calls = renderApiCalls(report);
    if (calls) console.log(`\n${calls}`);
    console.log(`\nlab run: ${report.seconds.toFixed(1)} s`);
    if (o.summary) appendFileSync(o.summary, renderSummary(report));
    const notEmulated = report.resources.filter((r) => r.status === "not emulated");
    if (notEmulated.length)
      console.log(`\nnot emulated: ${notEmulated.map((r) => `${r.type} ${r.name}`).join(", ")}`);
    for (const line of renderPhases(report)) console.log(line);
    for (const n of report.notes) console.log(`note: ${n}`);
    const path = writeReport(
      report,
      resolve(o.report ?? defaultReportPath(cacheDir, report.prefix)),
    );
    console.log(`\nreport: ${path}`);
  }
  return code;
}

if (require.main === module)
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`lab: ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
