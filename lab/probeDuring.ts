import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "./exec";
import type { Lab } from "./lab";
import { nsRun } from "./net";
import { type Probe, type ProbeFigures, parseProbes, probeFigures } from "./probes";
import type { MemberOutput } from "./report";

/**
 * Runs `fn` (an engine step that replaces droplets) while lab/prober.ts probes every
 * reserved address of `members` once a second from outside, as a pool monitor would.
 */
export async function probeDuring<T>(
  lab: Lab,
  repoDir: string,
  members: readonly MemberOutput[],
  log: (msg: string) => void,
  fn: () => Promise<T>,
): Promise<{ result: T; figures: Record<string, ProbeFigures>; probes: Probe[] }> {
  const sources = await lab.addProbeSources();
  const stopFile = join(lab.runDir, `probe-stop-${Date.now()}`);
  const targets = members.flatMap((m) => [
    ...(m.ipv4 ? [{ family: "ipv4", address: m.ipv4, sources: sources.ipv4 }] : []),
    ...(m.ipv6 ? [{ family: "ipv6", address: m.ipv6, sources: sources.ipv6 }] : []),
  ]);
  const prober = nsRun(
    lab.inet,
    [
      process.execPath,
      "--import",
      "tsx",
      join(repoDir, "lab", "prober.ts"),
      JSON.stringify({ targets, stopFile }),
    ],
    { cwd: repoDir, timeoutMs: 2 * 60 * 60 * 1000 },
  );
  let result: T;
  log(`probing ${targets.map((t) => t.address).join(" and ")} once a second from outside`);
  try {
    // The first probes go out before the step starts: the baseline is a serving member.
    await sleep(3000);
    result = await fn();
  } finally {
    writeFileSync(stopFile, "");
  }
  const probes = parseProbes((await prober).stdout);
  return { result, figures: probeFigures(probes), probes };
}
