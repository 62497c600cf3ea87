/**
 * Runs the Node NTP client inside a network namespace for the real-tool tests (the test
 * process itself lives in the host namespace and cannot reach the lab addresses):
 *
 *   ip netns exec NS node tsx/cli.mjs test/helpers/ntpClientProbe.ts query ADDRESS COUNT
 *   ip netns exec NS node tsx/cli.mjs test/helpers/ntpClientProbe.ts mode6 ADDRESS
 *
 * `query` sends COUNT requests back to back (no pacing: the KoD test needs a flood) and
 * prints one JSON line per request; `mode6` prints the probe result.
 */
import { NtpTimeoutError, probeMode6, queryNtp } from "../../ntp/client";

async function main(): Promise<void> {
  const [what, address, count] = process.argv.slice(2);
  if (!address) throw new Error("usage: query|mode6 ADDRESS [COUNT]");
  if (what === "mode6") {
    process.stdout.write(`${JSON.stringify(await probeMode6({ address, timeoutMs: 2000 }))}\n`);
    return;
  }
  for (let i = 0; i < Number(count ?? 1); i++) {
    try {
      const s = await queryNtp({ address, timeoutMs: 1000 });
      const { referenceTs, originTs, receiveTs, transmitTs, ...h } = s.header;
      process.stdout.write(
        `${JSON.stringify({ ...h, verdict: s.verdict, offsetMs: s.offsetMs, delayMs: s.delayMs })}\n`,
      );
    } catch (e) {
      if (!(e instanceof NtpTimeoutError)) throw e;
      process.stdout.write(`${JSON.stringify({ verdict: "timeout" })}\n`);
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exitCode = 1;
});
