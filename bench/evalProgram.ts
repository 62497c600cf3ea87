/**
 * Evaluates index.ts under Pulumi's mock runtime with N generated members and prints one
 * JSON line: { members, resources, ms }. Run in a fresh process per measurement so module
 * caches and the SDK's global state never carry over.
 */
import * as pulumi from "@pulumi/pulumi";
import { account, recorded, testMocks } from "../test/helpers/mocks";

async function main(): Promise<void> {
  const count = Number.parseInt(process.argv[2] ?? "", 10);
  if (!Number.isInteger(count) || count < 1 || count > 500) {
    throw new Error(`members: must be a whole number from 1 to 500 (got ${process.argv[2]})`);
  }
  pulumi.runtime.setMocks(testMocks, "ntp-pool", "bench", false, "organization");
  // An account whose limits fit the fleet: the bench measures the program, not the quota.
  account.limits = { dropletLimit: 2 * count, floatingIpLimit: count };
  const members = Array.from({ length: count }, (_, i) => ({ name: `m-${i}`, region: "ams3" }));
  pulumi.runtime.setAllConfig({
    "ntp-pool:members": JSON.stringify(members),
    "ntp-pool:upstreams": JSON.stringify([
      "ntp1.time.nl",
      "ptbtime1.ptb.de",
      "ptbtime2.ptb.de",
      "sth1.ntp.se",
    ]),
    "ntp-pool:sshSourceCidrs": JSON.stringify(["198.51.100.0/24"]),
  });
  const start = process.hrtime.bigint();
  const program = require("../index") as { members: pulumi.Output<unknown> };
  await new Promise((resolve) => program.members.apply(resolve));
  // Registration of resources not feeding the outputs (firewalls) may still be in flight.
  let last = -1;
  while (recorded.length !== last) {
    last = recorded.length;
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6 - 5;
  process.stdout.write(`${JSON.stringify({ members: count, resources: recorded.length, ms })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
