/**
 * What one attack run does, as plain JSON (so the test process can hand it to a process
 * inside a namespace), and the dispatcher. `probes` are named, not shipped as bytes: the
 * builders in packets.ts are the single source.
 */
import { reflectionProbes } from "./packets";
import { tcpScan, udpScan } from "./scan";
import { flood, manyClients, reflect, scheduledClient } from "./senders";

type Options<F extends (opts: never) => unknown> = Parameters<F>[0];

// Each kind carries exactly its sender's options, so the two cannot drift apart; reflect's
// probes are rebuilt inside the namespace from packets.ts instead of shipped as bytes.
export type AttackSpec =
  | ({ kind: "reflect" } & Omit<Options<typeof reflect>, "probes">)
  | ({ kind: "flood" } & Options<typeof flood>)
  | ({ kind: "client" } & Options<typeof scheduledClient>)
  | ({ kind: "many" } & Options<typeof manyClients>)
  | ({ kind: "tcp-scan" | "udp-scan" } & Options<typeof tcpScan>);

export async function runAttackSpec(spec: AttackSpec): Promise<unknown> {
  switch (spec.kind) {
    case "reflect":
      return reflect({ ...spec, probes: reflectionProbes() });
    case "flood":
      return flood(spec);
    case "client":
      return scheduledClient(spec);
    case "many":
      return manyClients(spec);
    case "tcp-scan":
      return tcpScan(spec);
    case "udp-scan":
      return udpScan(spec);
    default:
      throw new Error(`unknown attack kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }
}
