/**
 * `npm run bench`: every measured part of issue 7 in one run (as root, Linux), then a
 * Markdown table on stdout, bench-results.json and BENCHMARKS.md.
 *
 *   npm run bench -- [--runs N] [--quick] [--only sync|lab|capacity|program|timekeeping] [--out DIR]
 *
 * With --only, the part measured replaces its own entry in the existing bench-results.json
 * of --out and every other part is kept (each part records when and under what load it was
 * measured), so one part can be re-measured without losing the others.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { ensureToolsImage, defaultCacheDir as labCacheDir } from "../lab/image";
import { ensurePackages } from "../lab/prereqs";
import { capacityVariants, measureCapacity } from "./capacity";
import { BenchNet } from "./daemons";
import { abortLab, measureLab } from "./labRuns";
import { loadAverage, machineInfo } from "./machine";
import { mergeResults, PARTS, type Part } from "./merge";
import { measureProgram } from "./program";
import { renderBenchmarksMd, summaryTable } from "./render";
import type {
  BenchResults,
  CapacityResults,
  LabResults,
  Measured,
  ProgramResults,
  SyncResults,
  TimekeepingResults,
} from "./results";
import { measureSync } from "./sync";
import { measureTimekeeping } from "./timekeeping";
import { compile, defaultCacheDir, missingPrerequisites, ROOT } from "./tools";

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
      "Time to serve, capacity and program cost of an NTP Pool member (issue 7), lab start → verified (issue 10) and time keeping (issue 13). Root, Linux.",
    )
    .option("--runs <n>", "runs of each timed part (sync, lab, program)", positiveInt)
    .option(
      "--quick",
      "smoke test: 2 runs, short capacity ladder, no lab, no time keeping, no reference variants",
    )
    .addOption(
      new Option(
        "--only <part>",
        "measure one part only (merged into the existing bench-results.json of --out)",
      ).choices(PARTS),
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
  if ((want("lab") || want("timekeeping")) && process.getuid?.() !== 0) {
    console.error("bench: the lab and time-keeping parts need root (network namespaces)");
    return 2;
  }
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
  /** When, by what command and under what load a part was measured. */
  const timed = async <T>(f: () => Promise<T>): Promise<T & { measured: Measured }> => {
    const date = new Date().toISOString();
    const loadStart = loadAverage();
    const s0 = Date.now();
    const r = await f();
    return {
      ...r,
      measured: {
        command: commandLine(),
        date,
        loadStart,
        loadEnd: loadAverage(),
        seconds: (Date.now() - s0) / 1000,
        machine: { nproc: machine.nproc, cpu: machine.cpu, kernel: machine.kernel },
      },
    };
  };
  if (want("lab") && !quick) {
    lab = await timed(() =>
      measureLab(runs, cacheDir, 180, log).catch(
        (e: Error): LabResults => ({ available: false, reason: e.message, runs: [] }),
      ),
    );
  }
  let timekeeping: TimekeepingResults | undefined;
  if (want("timekeeping") && !quick) {
    timekeeping = await timed(() =>
      measureTimekeeping(cacheDir, 90, log).catch(
        (e: Error): TimekeepingResults => ({
          available: false,
          reason: e.message,
          tests: [],
          figures: [],
        }),
      ),
    );
    if (!timekeeping.available) errors.push(`timekeeping: ${timekeeping.reason ?? "?"}`);
    for (const t of timekeeping.tests)
      if (t.status !== "passed")
        errors.push(`timekeeping: ${t.file} › ${t.title}: ${t.status} ${t.failure ?? ""}`.trim());
  }
  if (want("program")) {
    try {
      programResults = measureProgram(quick ? 1 : Math.min(runs, 3), log);
    } catch (e) {
      errors.push(`program: ${(e as Error).message}`);
    }
  }

  const command = commandLine();
  const measured: BenchResults & { command: string } = {
    command,
    machine: { ...machine, loadEnd: loadAverage() },
    options: { runs, quick, only: o.only ?? null },
    seconds: (Date.now() - t0) / 1000,
    ...(sync ? { sync } : {}),
    ...(lab ? { lab } : {}),
    ...(capacity ? { capacity } : {}),
    ...(programResults ? { program: programResults } : {}),
    ...(timekeeping ? { timekeeping } : {}),
    errors,
  };
  const out = path.resolve(o.out);
  const jsonPath = path.join(out, "bench-results.json");
  const saved = existsSync(jsonPath)
    ? (JSON.parse(readFileSync(jsonPath, "utf8")) as BenchResults & { command?: string })
    : undefined;
  const results = mergeResults(saved, measured, o.only);
  if (o.only !== undefined && saved !== undefined)
    log(`--only ${o.only}: merged into the saved ${jsonPath} (other parts kept)`);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  const decisions = readFileSync(path.join(__dirname, "decisions.md"), "utf8");
  const mdPath = path.join(out, "BENCHMARKS.md");
  writeFileSync(mdPath, renderBenchmarksMd(results, decisions, results.command));
  console.log(`\n${summaryTable(results)}\n`);
  for (const e of errors) console.log(`error: ${e}`);
  console.log(
    `results: ${jsonPath}\nreport:  ${mdPath}\n(${(measured.seconds / 60).toFixed(1)} min)`,
  );
  return errors.length > 0 ? 1 : 0;
}

function commandLine(): string {
  return `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`bench: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
