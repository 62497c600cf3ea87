import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { type Recorded, recorded } from "./mocks";

/** A valid fleet; tests change one thing at a time. */
export const BASE_CONFIG = {
  members: [{ name: "ams-1", region: "ams3" }],
  upstreams: ["ntp1.time.nl", "ptbtime1.ptb.de", "ptbtime2.ptb.de", "sth1.ntp.se"],
  sshSourceCidrs: ["198.51.100.7/32"],
} as const;

function setStackConfig(config: Readonly<Record<string, unknown>>): void {
  pulumi.runtime.setAllConfig(
    Object.fromEntries(
      Object.entries(config).map(([k, v]) => [
        k.includes(":") ? k : `ntp-pool:${k}`,
        typeof v === "string" ? v : JSON.stringify(v),
      ]),
    ),
  );
}

/** Imports a fresh copy of index.ts with `config`, and waits until registration settles. */
export async function runProgram(
  config: Readonly<Record<string, unknown>>,
): Promise<{ outputs: Record<string, unknown>; resources: Recorded[] }> {
  setStackConfig(config);
  vi.resetModules();
  const program = (await import("../../index")) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  // A failing program (preflight) rejects every promise inside its outputs; the engine
  // reports the error once (cmd/run/run.js uncaughtHandler), so the tests see it once too:
  // from the value, below.
  for (const value of Object.values(program)) {
    if (!pulumi.Output.isInstance(value)) continue;
    const o = value as unknown as {
      isKnown: Promise<unknown>;
      isSecret: Promise<unknown>;
      allResources?: () => Promise<unknown>;
    };
    o.isKnown.catch(() => undefined);
    o.isSecret.catch(() => undefined);
    o.allResources?.().catch(() => undefined);
  }
  for (const [key, value] of Object.entries(program)) {
    outputs[key] = pulumi.Output.isInstance(value) ? await outputValue(value) : value;
  }
  await settle();
  return { outputs, resources: [...recorded] };
}

/** An Output's value; rejects with the program's error (e.g. a preflight RunError). */
function outputValue<T>(output: pulumi.Output<T>): Promise<T> {
  return (output as unknown as { promise: () => Promise<T> }).promise();
}

async function settle(): Promise<void> {
  let last = -1;
  let stable = 0;
  while (stable < 5) {
    await new Promise((r) => setTimeout(r, 10));
    stable = recorded.length === last ? stable + 1 : 0;
    last = recorded.length;
  }
}

export function ofType(resources: readonly Recorded[], type: string): Recorded[] {
  return resources.filter((r) => r.type === type);
}
