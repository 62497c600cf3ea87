/**
 * What one attack run does, as plain JSON (so the test process can hand it to a process
 * inside a namespace), and the dispatcher. `probes` are named, not shipped as bytes: the
 * builders in packets.ts are the single source.
 */
import { reflectionProbes } from "./packets";
import { flood, manyClients, reflect, scheduledClient, tcpScan, udpScan } from "./senders";

export type AttackSpec =
  | { kind: "reflect"; target: string; port?: number; sources?: string[]; waitMs?: number }
  | {
      kind: "flood";
      target: string;
      port?: number;
      source?: string;
      count: number;
      durationMs: number;
      waitMs?: number;
    }
  | {
      kind: "client";
      target: string;
      port?: number;
      source?: string;
      timesMs: number[];
      timeoutMs?: number;
    }
  | {
      kind: "many";
      target: string;
      port?: number;
      sources: string[];
      perSource: number;
      windowMs: number;
      timeoutMs?: number;
    }
  | {
      kind: "tcp-scan" | "udp-scan";
      target: string;
      ports: number[];
      source?: string;
      timeoutMs?: number;
    };

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
