/**
 * The verification summary: the last JSON line of each check, validated and combined into
 * the `verification` stack output. Only the fields declared here survive parsing (zod strips
 * unknown keys), so nothing else the commands print can leak into outputs.
 */
import { z } from "zod";

const upstreamResult = z.union([
  z.object({
    host: z.string(),
    answered: z.literal(true),
    stratum: z.number().nullable(),
    offsetMs: z.number().nullable(),
    leap: z.string(),
  }),
  z.object({ host: z.string(), answered: z.literal(false), error: z.string() }),
]);

/** Last stdout line of cloud-init/scripts/ntppool-verify.sh. */
export const onDropletSchema = z.object({
  check: z.literal("on-droplet"),
  synced: z.literal(true),
  /** Seconds the check waited until ntpd was synchronised (0–2 if it already was). */
  secondsToSync: z.number(),
  stratum: z.number(),
  /** ntpd's leap indicator bits, "00" normally. */
  leap: z.string(),
  /** Address of the upstream ntpd selected ("*" in ntpq -pn). */
  systemPeer: z.string(),
  reachableUpstreams: z.number(),
  upstreamCount: z.number(),
  /** ntpd's own offset estimate, milliseconds. */
  offsetMs: z.number().nullable(),
  /** Expiry of the leap-second file ntpd loaded, "YYYY-MM-DDTHH:MMZ". */
  leapFileExpires: z.string(),
  lastLeapSecond: z.string(),
  /** "done" or "recoverable-errors" (newer cloud-init exit 2) or "absent". */
  cloudInit: z.string(),
  /** One `ntpdate -q` per upstream, from the droplet. */
  upstreams: z.array(upstreamResult),
  warnings: z.array(z.string()),
});
type OnDropletResult = z.infer<typeof onDropletSchema>;

/** Outside view of one reserved address. */
const addressResultSchema = z.object({
  address: z.string(),
  stratum: z.number(),
  leap: z.number(),
  refid: z.string(),
  /** Member minus reference clock (see relativeTo), milliseconds. */
  offsetMs: z.number(),
  /** Round-trip delay from the deployer, milliseconds. */
  delayMs: z.number(),
  /** "upstream <host> (<ip>)" or "local clock" when no upstream answered. */
  relativeTo: z.string(),
  /** True when the mode-6 (ntpq) probe got no answer, as it must. */
  mode6Refused: z.boolean(),
  samples: z.number(),
});
export type AddressResult = z.infer<typeof addressResultSchema>;

/** Last stdout line of verify/outside.ts --json. */
export const outsideSchema = z.object({
  check: z.literal("outside"),
  ipv4: addressResultSchema,
  ipv6: addressResultSchema.optional(),
  /** Why the IPv6 address was not checked (the deployer has no IPv6 route). */
  ipv6Skipped: z.string().optional(),
  warnings: z.array(z.string()),
});
export type OutsideResult = z.infer<typeof outsideSchema>;

/** The `verification` output of a member. Everything in it is public information. */
export interface VerificationSummary {
  readonly synced: true;
  readonly secondsToSync: number;
  readonly stratum: number;
  readonly systemPeer: string;
  readonly reachableUpstreams: number;
  readonly upstreamCount: number;
  readonly offsetMs: number | null;
  readonly leapFileExpires: string;
  readonly cloudInit: string;
  readonly upstreams: OnDropletResult["upstreams"];
  readonly outside: { readonly ipv4: AddressResult; readonly ipv6?: AddressResult };
  /** Warnings of both checks, prefixed "on-droplet:" / "outside:". */
  readonly warnings: readonly string[];
}

/** The last non-empty line of a command's stdout, parsed as JSON. */
export function lastJsonLine(stdout: string, what: string): unknown {
  const line = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .at(-1);
  if (line === undefined) throw new Error(`${what}: no output (expected a JSON line)`);
  try {
    return JSON.parse(line);
  } catch (e) {
    throw new Error(
      `${what}: last line is not JSON: ${JSON.stringify(line.slice(0, 200))} (${String(e)})`,
    );
  }
}

export function combineSummary(
  onDropletStdout: string,
  outsideStdout: string,
): VerificationSummary {
  const d = onDropletSchema.parse(lastJsonLine(onDropletStdout, "on-droplet check"));
  const o = outsideSchema.parse(lastJsonLine(outsideStdout, "outside check"));
  return {
    synced: d.synced,
    secondsToSync: d.secondsToSync,
    stratum: d.stratum,
    systemPeer: d.systemPeer,
    reachableUpstreams: d.reachableUpstreams,
    upstreamCount: d.upstreamCount,
    offsetMs: d.offsetMs,
    leapFileExpires: d.leapFileExpires,
    cloudInit: d.cloudInit,
    upstreams: d.upstreams,
    outside: { ipv4: o.ipv4, ...(o.ipv6 ? { ipv6: o.ipv6 } : {}) },
    warnings: [
      ...d.warnings.map((w) => `on-droplet: ${w}`),
      ...o.warnings.map((w) => `outside: ${w}`),
    ],
  };
}
