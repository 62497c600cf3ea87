/**
 * Runs one bounded attack inside a lab namespace and prints its result as one JSON line:
 *
 *   ip netns exec <ns> node <tsx cli> lab/attacks/cli.ts '<spec JSON>'
 *
 * It refuses to run in the network namespace it was launched from (passed by the harness as
 * NTP_ATTACK_LAUNCH_NETNS) or in PID 1's, when readable: from inside a namespace the run
 * created, packets can reach only that run's namespaces, never the host's networks.
 */
import { readlinkSync } from "node:fs";
import { type AttackSpec, runAttackSpec } from "./spec";

function inHostNetns(): boolean {
  const launch = process.env.NTP_ATTACK_LAUNCH_NETNS;
  let own: string;
  try {
    own = readlinkSync("/proc/self/ns/net");
  } catch {
    // Cannot tell (no /proc): refuse, as if it were the host's.
    return true;
  }
  if (launch === undefined || launch === own) return true;
  try {
    return own === readlinkSync("/proc/1/ns/net");
  } catch {
    // PID 1 may belong to another user; the launcher's namespace was checked above.
    return false;
  }
}

async function main(): Promise<number> {
  if (inHostNetns()) {
    console.error(
      "lab/attacks: refusing to send from the host's network namespace; run it through lab/attacks/harness.ts runAttack (ip netns exec <lab namespace>)",
    );
    return 2;
  }
  const text = process.argv[2];
  if (text === undefined) {
    console.error("lab/attacks: usage: cli.ts '<spec JSON>'");
    return 2;
  }
  const spec = JSON.parse(text) as AttackSpec;
  const result = await runAttackSpec(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`lab/attacks: ${(e as Error).message}`);
    process.exit(1);
  },
);
