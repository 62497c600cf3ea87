/**
 * Part 5: time keeping (issue 13). Runs the lab-tier scenarios timekeeping-*.test.ts of
 * test/lab/ and test/lab-long/ through vitest and collects the `FIGURE <name>: <json>` lines
 * they print, with each test's result from vitest's JSON reporter.
 *
 * Why vitest and not the harness (test/helpers/timekeeping.ts TimeWorld) called from here:
 * TimeWorld is only the world (namespaces, daemons, checks); each scenario — what is started,
 * how long it waits, what is measured and asserted — is the body of its test, with vitest's
 * `expect` between the steps. Calling TimeWorld from the bench would mean a second copy of
 * every scenario, free to drift from the one the tests assert. Running the tests measures
 * exactly the asserted scenarios, and a figure comes with its test's pass/fail.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { runBounded } from "./labRuns";
import type { TimekeepingFigure, TimekeepingResults, TimekeepingTest } from "./results";
import { ROOT } from "./tools";

const VITEST = path.join(ROOT, "node_modules", "vitest", "vitest.mjs");
/** The lab tier's two projects (vitest.config.mts): quick and long scenarios. */
const LAB_PROJECTS = ["lab", "lab-long"] as const;
const LAB_TESTS = LAB_PROJECTS.map((p) => path.join(ROOT, "test", p));

/** The scenario files of both lab projects, sorted (timekeeping-*.test.ts). */
export function timekeepingFiles(dirs: readonly string[] = LAB_TESTS): string[] {
  return dirs
    .flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => /^timekeeping-.+\.test\.ts$/.test(f))
        .map((f) => path.relative(ROOT, path.join(dir, f))),
    )
    .sort();
}

/**
 * Every `FIGURE <name>: <json>` line of vitest's output, in order, with the test file of the
 * "stdout | <file> > …" header vitest prints before a test's console output.
 */
export function parseFigures(output: string): TimekeepingFigure[] {
  const out: TimekeepingFigure[] = [];
  let file: string | null = null;
  // vitest colours its output even into a pipe (the header and the line's start carry SGR codes).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts an ANSI escape sequence
  const plain = output.replace(/\u001b\[[0-9;]*m/g, "");
  for (const raw of plain.split("\n")) {
    const line = raw.trimEnd();
    const head = /^std(?:out|err) \| (\S+\.test\.ts)/.exec(line);
    if (head) {
      file = head[1] ?? null;
      continue;
    }
    const m = /^FIGURE ([\w.-]+): (.+)$/.exec(line.trim());
    if (!m) continue;
    let value: unknown;
    try {
      value = JSON.parse(m[2] as string);
    } catch (e) {
      throw new Error(`FIGURE ${m[1]}: the value is not JSON (${(e as Error).message})`);
    }
    out.push({ name: m[1] as string, file, value });
  }
  return out;
}

/** The tests of vitest's JSON report (`--reporter=json`): file, title, status, seconds. */
export function readVitestReport(text: string): TimekeepingTest[] {
  const r = JSON.parse(text) as {
    testResults?: {
      name?: unknown;
      message?: unknown;
      assertionResults?: {
        title?: unknown;
        status?: unknown;
        duration?: unknown;
        failureMessages?: unknown;
      }[];
    }[];
  };
  if (!Array.isArray(r.testResults))
    throw new Error("vitest report: expected { testResults: [...] }");
  return r.testResults.flatMap((f) => {
    const file = typeof f.name === "string" ? path.relative(ROOT, f.name) : "?";
    const tests = f.assertionResults ?? [];
    // A file that failed before any test ran (import error, hook) has no assertion results.
    if (tests.length === 0)
      return [
        {
          file,
          title: "(file)",
          status: "failed",
          seconds: null,
          failure: typeof f.message === "string" ? f.message.slice(0, 400) : "no tests ran",
        },
      ];
    return tests.map((t) => {
      const failures = Array.isArray(t.failureMessages) ? t.failureMessages : [];
      const first = typeof failures[0] === "string" ? failures[0].split("\n")[0] : undefined;
      return {
        file,
        title: typeof t.title === "string" ? t.title : "?",
        status: typeof t.status === "string" ? t.status : "?",
        seconds: typeof t.duration === "number" ? t.duration / 1000 : null,
        ...(first !== undefined ? { failure: first.slice(0, 400) } : {}),
      };
    });
  });
}

export async function measureTimekeeping(
  dir: string,
  limitMinutes: number,
  log: (m: string) => void,
): Promise<Omit<TimekeepingResults, "measured">> {
  const files = timekeepingFiles();
  if (files.length === 0)
    return {
      available: false,
      reason: "no test/lab*/timekeeping-*.test.ts",
      tests: [],
      figures: [],
    };
  const json = path.join(dir, "timekeeping-vitest.json");
  const logFile = path.join(dir, "timekeeping.log");
  rmSync(json, { force: true });
  log(
    `time keeping: vitest run ${LAB_PROJECTS.map((p) => `--project ${p}`).join(" ")} ${files.join(" ")} (output: ${logFile})`,
  );
  const { code, tail } = await runBounded(
    [
      process.execPath,
      VITEST,
      "run",
      ...LAB_PROJECTS.flatMap((p) => ["--project", p]),
      ...files,
      "--reporter=default",
      "--reporter=json",
      `--outputFile.json=${json}`,
    ],
    logFile,
    limitMinutes * 60_000,
  );
  const figures = parseFigures(readFileSync(logFile, "utf8"));
  if (!existsSync(json))
    return {
      available: false,
      reason: `vitest exit ${code}, no JSON report; last output: ${tail}`,
      tests: [],
      figures,
    };
  const tests = readVitestReport(readFileSync(json, "utf8"));
  for (const t of tests)
    log(
      `time keeping: ${t.status} ${t.file} › ${t.title}${t.seconds === null ? "" : ` (${t.seconds.toFixed(0)} s)`}`,
    );
  log(`time keeping: ${figures.length} figures (${figures.map((f) => f.name).join(", ")})`);
  return { available: true, tests, figures };
}
