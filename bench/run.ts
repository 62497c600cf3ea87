/**
 * `npm run bench`: every measured part of issue 7 in one run (as root, Linux), then a
 * Markdown table on stdout, bench-results.json and BENCHMARKS.md.
 *
 *   npm run bench -- [--runs N] [--quick] [--only sync|capacity|program] [--out DIR]
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { ensureToolsImage, defaultCacheDir as labCacheDir } from "../lab/image";
import { ensurePackages } from "../lab/prereqs";
import { capacityVariants, measureCapacity } from "./capacity";
import { BenchNet } from "./daemons";
import { abortLab, measureLab } from "./labRuns";
import { loadAverage, machineInfo } from "./machine";
import { measureProgram } from "./program";
import { renderBenchmarksMd, summaryTable } from "./render";
import type {
  BenchResults,
  CapacityResults,
  LabResults,
  ProgramResults,
  SyncResults,
} from "./results";
import { measureSync } from "./sync";
import { compile, defaultCacheDir, missingPrerequisites, ROOT } from "./tools";

type Part = "sync" | "capacity" | "program";

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 50)
    throw new InvalidArgumentError(`--runs must be a whole number from 1 to 50, got ${v}`);
  return n;
}

async function main(): Promise<number> {
  const program = new Command()
    .name("npm run bench --")
    .description(
      "Time to serve, capacity and program cost of an NTP Pool member (issue 7). Root, Linux.",
    )
    .option("--runs <n>", "runs of each timed part (sync, lab, program)", positiveInt)
    .option("--quick", "smoke test: 2 runs, short capacity ladder, no lab, no reference variants")
    .addOption(
      new Option("--only <part>", "measure one part only").choices(["sync", "capacity", "program"]),
    )
    .option("--out <dir>", "where bench-results.json and BENCHMARKS.md are written", ROOT)
    .option(
      "--cache-dir <dir>",
      "chrony and compiled tools (default .bench-cache or $NTP_BENCH_CACHE)",
    )
    .option(
      "--render <json>",
      "measure nothing: re-render BENCHMARKS.md from a bench-results.json (after editing bench/decisions.md)",
    );
  program.parse();
  const o = program.opts<{
    runs?: number;
    quick?: boolean;
    only?: Part;
    out: string;
    cacheDir?: string;
    render?: string;
  }>();
  if (o.render !== undefined) {
    const saved = JSON.parse(readFileSync(o.render, "utf8")) as BenchResults & { command?: string };
    const md = path.join(path.resolve(o.out), "BENCHMARKS.md");
    const decisions = readFileSync(path.join(__dirname, "decisions.md"), "utf8");
    writeFileSync(md, renderBenchmarksMd(saved, decisions, saved.command ?? "npm run bench"));
    console.log(`${summaryTable(saved)}\n\nreport: ${md}`);
    return 0;
  }
  const quick = o.quick === true;
  const runs = o.runs ?? (quick ? 2 : 5);
  const want = (p: Part) => o.only === undefined || o.only === p;

  const t0 = Date.now();
  const log = (m: string) =>
    console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);
  const needsRoot = want("sync") || want("capacity");
  if (needsRoot) {
    if (process.getuid?.() !== 0) {
      console.error(
        "bench: the sync and capacity parts need root (network namespaces); run as root or use --only program",
      );
      return 2;
    }
    // As the lab does: the host's build tools (announced), then the daemons' image.
    ensurePackages(log);
    const missing = missingPrerequisites();
    if (missing.length > 0) {
      console.error(`bench: missing: ${missing.join(", ")}`);
      return 2;
    }
  }
  const cacheDir = path.resolve(o.cacheDir ?? defaultCacheDir());
  const tools = needsRoot ? await ensureToolsImage(labCacheDir(), log) : undefined;
  const machine = machineInfo(tools);
  log(
    `machine: ${machine.nproc} CPUs, ${machine.cpu}, kernel ${machine.kernel}, load ${machine.loadStart}`,
  );

  const errors: string[] = [];
  let sync: SyncResults | undefined;
  let lab: LabResults | undefined;
  let capacity: CapacityResults | undefined;
  let programResults: ProgramResults | undefined;

  let bn: BenchNet | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: tearing down`);
    abortLab();
    bn?.teardown();
    process.exit(sig === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  if (needsRoot) {
    const ntpload = compile(cacheDir, "ntpload", false);
    const rcvbufShim = compile(cacheDir, "rcvbuf", true);
    bn = new BenchNet({ rcvbufShim });
    try {
      await bn.up();
      log(`namespaces ${bn.prefix}-*: 4 upstreams stratum 1`);
      if (want("sync")) {
        try {
          sync = await measureSync(
            bn,
            runs,
            quick ? ["ntpsec", "chrony"] : ["ntpsec", "chrony", "ntpsec-default-tos"],
            log,
          );
        } catch (e) {
          errors.push(`sync: ${(e as Error).message}`);
        }
      }
      if (want("capacity")) {
        try {
          capacity = await measureCapacity(
            bn,
            {
              plan: quick
                ? { ladder: [10_000, 40_000, 160_000], refine: 0, quantum: 1000 }
                : {
                    ladder: [
                      5000, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000,
                      120_000, 160_000,
                    ],
                    refine: 2,
                    quantum: 1000,
                  },
              stepSeconds: quick ? 2 : 3,
              repeats: quick ? 1 : 2,
              variants: capacityVariants(quick ? [4_194_304] : [1_048_576, 4_194_304]),
              ntpload,
              nproc: machine.nproc,
            },
            log,
          );
        } catch (e) {
          errors.push(`capacity: ${(e as Error).message}`);
        }
      }
    } finally {
      bn.teardown();
      const left = bn.net.leftovers();
      if (left.length > 0) errors.push(`namespaces left behind: ${left.join(", ")}`);
      bn = undefined;
    }
  }
  if (want("sync") && !quick) {
    lab = await measureLab(runs, cacheDir, 180, log).catch((e: Error) => ({
      available: false,
      reason: e.message,
      runs: [],
    }));
  }
  if (want("program")) {
    try {
      programResults = measureProgram(quick ? 1 : Math.min(runs, 3), log);
    } catch (e) {
      errors.push(`program: ${(e as Error).message}`);
    }
  }

  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const results: BenchResults & { command: string } = {
    command,
    machine: { ...machine, loadEnd: loadAverage() },
    options: { runs, quick, only: o.only ?? null },
    seconds: (Date.now() - t0) / 1000,
    ...(sync ? { sync } : {}),
    ...(lab ? { lab } : {}),
    ...(capacity ? { capacity } : {}),
    ...(programResults ? { program: programResults } : {}),
    errors,
  };
  const out = path.resolve(o.out);
  const jsonPath = path.join(out, "bench-results.json");
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  const decisions = readFileSync(path.join(__dirname, "decisions.md"), "utf8");
  const mdPath = path.join(out, "BENCHMARKS.md");
  writeFileSync(mdPath, renderBenchmarksMd(results, decisions, command));
  console.log(`\n${summaryTable(results)}\n`);
  for (const e of errors) console.log(`error: ${e}`);
  console.log(
    `results: ${jsonPath}\nreport:  ${mdPath}\n(${(results.seconds / 60).toFixed(1)} min)`,
  );
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`bench: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
