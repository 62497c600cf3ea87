/**
 * The outside prober of `--engine pulumi`'s replacing scenarios, run inside the lab's
 * internet namespace: one NTP request a second to each reserved address, as a pool monitor
 * would send, from several source addresses in turn, so that no single source exceeds
 * NTPsec's `limited` rate (average 1 packet/s per source, with a guard time: a once-a-second
 * client would be sent RATE kisses and be counted as a failure of the member). One JSON line
 * per probe on stdout (lab/probes.ts reads them); it stops when `stopFile` exists.
 *
 *   node --import tsx lab/prober.ts '{"targets":[{"family":"ipv4","address":"…","sources":["…"]}],"stopFile":"…"}'
 */
import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import { existsSync } from "node:fs";
import { buildClientRequest, classify, NTP_PACKET_BYTES, parseHeader } from "../ntp/client";

interface Spec {
  readonly targets: { family: string; address: string; sources: string[] }[];
  readonly stopFile: string;
  readonly everyMs?: number;
  readonly timeoutMs?: number;
  /** Safety bound, milliseconds (default one hour). */
  readonly maxMs?: number;
}

function probe(
  family: string,
  target: string,
  source: string,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const t = Date.now();
    const sock = dgram.createSocket(family === "ipv6" ? "udp6" : "udp4");
    const nonce = randomBytes(8).readBigUInt64BE(0);
    let done = false;
    const finish = (r: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve({ t, family, target, source, ...r });
    };
    const timer = setTimeout(() => finish({ answered: false }), timeoutMs);
    sock.on("error", (e) => finish({ answered: false, error: e.message }));
    sock.on("message", (msg) => {
      if (msg.length < NTP_PACKET_BYTES || msg.readBigUInt64BE(24) !== nonce) return;
      const h = parseHeader(msg);
      finish({ answered: true, verdict: classify(h), stratum: h.stratum, leap: h.leap });
    });
    sock.bind({ address: source, port: 0 }, () => {
      sock.send(buildClientRequest(nonce), 123, target);
    });
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as Spec;
  const every = spec.everyMs ?? 1000;
  const timeout = spec.timeoutMs ?? 900;
  const end = Date.now() + (spec.maxMs ?? 3_600_000);
  const turn = new Map<string, number>();
  for (let tick = Date.now(); !existsSync(spec.stopFile) && Date.now() < end; tick += every) {
    for (const target of spec.targets) {
      const i = turn.get(target.address) ?? 0;
      turn.set(target.address, i + 1);
      const source = target.sources[i % target.sources.length] as string;
      void probe(target.family, target.address, source, timeout).then((r) =>
        process.stdout.write(`${JSON.stringify(r)}\n`),
      );
    }
    await new Promise((r) => setTimeout(r, Math.max(0, tick + every - Date.now())));
  }
  await new Promise((r) => setTimeout(r, timeout + 100));
}

void main();
