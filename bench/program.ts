/**
 * Part 3: the cost of evaluating the program (index.ts) under Pulumi's mock runtime for
 * 1, 10 and 50 members, each measurement in a fresh process (bench/evalProgram.ts).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import type { ProgramResults, ProgramRow } from "./results";
import { growthFactor, LINEAR_GROWTH, median } from "./stats";
import { ROOT } from "./tools";

const TSX_CLI = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const PROGRAM_SIZES = [1, 10, 50] as const;

/** Parses evalProgram's line `{ members, resources, ms }`. */
export function parseEvalLine(text: string): { members: number; resources: number; ms: number } {
  const line = text.trim().split("\n").at(-1) ?? "";
  const o = JSON.parse(line) as Record<string, unknown>;
  for (const k of ["members", "resources", "ms"]) {
    if (typeof o[k] !== "number")
      throw new Error(`evalProgram output: ${k} must be a number in ${JSON.stringify(line)}`);
  }
  return o as { members: number; resources: number; ms: number };
}

export function measureProgram(runs: number, log: (m: string) => void): ProgramResults {
  const rows: ProgramRow[] = [];
  for (const n of PROGRAM_SIZES) {
    const ms: number[] = [];
    const wallMs: number[] = [];
    let resources = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(
        process.execPath,
        [TSX_CLI, path.join(__dirname, "evalProgram.ts"), String(n)],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 300_000,
        },
      );
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0)
        throw new Error(`evalProgram ${n} failed (exit ${r.status}): ${r.stderr.trim()}`);
      const o = parseEvalLine(r.stdout);
      ms.push(o.ms);
      wallMs.push(wall);
      resources = o.resources;
    }
    rows.push({
      members: n,
      resources,
      ms,
      wallMs,
      medianMs: median(ms),
      medianWallMs: median(wallMs),
    });
    log(
      `program, ${n} member(s): ${resources} resources, ${median(ms).toFixed(0)} ms in program, ${median(wallMs).toFixed(0)} ms process`,
    );
  }
  const t = (n: number) => rows.find((r) => r.members === n)?.medianMs ?? Number.NaN;
  let growth: number | null = null;
  try {
    growth = growthFactor(t(1), t(10), t(50));
  } catch {
    growth = null;
  }
  return { rows, growth, linear: LINEAR_GROWTH };
}
