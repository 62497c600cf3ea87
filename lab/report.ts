import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Faults } from "./faults";

/**
 * The lab run's report: what `npm run lab` writes as JSON and prints (the member table, the
 * API calls, the phases), and what the tests read back.
 */

/** What the lab did with one resource the program registered. */
export interface ResourceRecord {
  readonly type: string;
  readonly name: string;
  status: "emulated" | "not emulated" | "failed" | "pending";
  detail?: string;
  seconds?: number;
  /**
   * How it was realised: "api" (the driver's provider calls against the emulated API),
   * "lab" (commands and keys, realised by the lab as the deployer) or "engine".
   */
  via?: "api" | "lab" | "engine";
  /** The DigitalOcean API calls the driver made for it, in order ("GET /v2/droplets/1"). */
  apiCalls?: string[];
}

export interface MemberReport {
  readonly name: string;
  readonly reservedIpv4: string;
  readonly reservedIpv6: string | null;
  readonly dropletId: string;
  /** Seconds from droplet creation until its boot (all cloud-init stages) finished. */
  bootSeconds: number | null;
  /** Seconds from droplet creation until ntpd inside first reported sync (leap 00, stratum < 16). */
  syncSeconds: number | null;
  stratum: number | null;
  /** Offset in seconds measured by ntpdig from the internet namespace. */
  offset: number | null;
  verification: { present: boolean; ok: boolean; detail: string };
  cloudInit: {
    stages: { name: string; rc: number; seconds: number }[];
    modules: { stage: string; module: string; result: string; detail: string }[];
  };
  peersInside?: string;
  /**
   * The stack's own `verification` output for the member: both phases (before the reserved
   * IPs moved, on the droplet's own addresses; after, on the reserved ones).
   */
  phases?: { beforeAssignment?: PhaseSummary; afterAssignment?: PhaseSummary };
  /** Copies of the droplet's logs (cloud-init, boot, units), kept after teardown. */
  logs?: string;
}

/** The part of a verification phase the lab prints (verify/summary.ts). */
interface PhaseSummary {
  readonly secondsToSync?: number;
  readonly outside?: { ipv4?: { address: string; offsetMs: number; samples: number } };
  readonly warnings?: readonly string[];
}

export interface LabReport {
  prefix: string;
  stackFile: string;
  startedAt: string;
  seconds: number;
  ok: boolean;
  error?: string;
  image: { root: string; repo: string; built: boolean };
  faults: Faults;
  resources: ResourceRecord[];
  notes: string[];
  members: MemberReport[];
  /** Requests the emulated API answered, by resource type (lab/do's own count). */
  apiRequests?: Record<string, number>;
  leftovers?: unknown;
}

/** A member as the program exports it (index.ts `members`). */
export interface MemberOutput {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string | null;
  readonly dropletId: string;
  readonly verification?: MemberReport["phases"];
}

/** What a deployment left for the lab's checks: the members and the verification commands. */
export interface Deployed {
  readonly members: readonly MemberOutput[];
  readonly verifyCommands: readonly { name: string; status: string }[];
}

/** The report's short name of a resource type ("digitalocean:Droplet"). */
export const shortType = (t: string): string =>
  t.replace(/^digitalocean:index\/\w+:/, "digitalocean:");

/** API calls per resource (the report's and the printed table's figures). */
function apiCallCounts(report: LabReport): { resource: string; calls: number }[] {
  return report.resources
    .filter((r) => r.via === "api")
    .map((r) => ({ resource: `${shortType(r.type)} ${r.name}`, calls: r.apiCalls?.length ?? 0 }));
}

/** The member table printed at the end of a run. */
export function renderTable(report: LabReport): string {
  const head = [
    "member",
    "reserved IPv4",
    "boot s",
    "sync s",
    "stratum",
    "offset ms",
    "verification",
  ];
  const rows = report.members.map((m) => [
    m.name,
    m.reservedIpv4,
    m.bootSeconds?.toFixed(1) ?? "-",
    m.syncSeconds?.toFixed(1) ?? "-",
    m.stratum?.toString() ?? "-",
    m.offset !== null ? (m.offset * 1000).toFixed(3) : "-",
    `${m.verification.ok ? "PASS" : "FAIL"}${m.verification.present ? "" : " (lab check; no verification commands)"}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The DigitalOcean API calls the driver made, per resource (printed after the member table). */
export function renderApiCalls(report: LabReport): string {
  const perResource = apiCallCounts(report);
  // With --engine pulumi the provider runs in the engine: the server counts by resource type.
  const rows =
    perResource.length > 0
      ? perResource
      : Object.entries(report.apiRequests ?? {}).map(([resource, calls]) => ({ resource, calls }));
  if (rows.length === 0) return "";
  const w = Math.max("resource".length, ...rows.map((r) => r.resource.length));
  const total = rows.reduce((a, r) => a + r.calls, 0);
  return [
    `${"resource".padEnd(w)}  API calls`,
    `${"-".repeat(w)}  ---------`,
    ...rows.map((r) => `${r.resource.padEnd(w)}  ${r.calls}`),
    `${"total".padEnd(w)}  ${total}`,
  ].join("\n");
}

/** The job-summary Markdown: the member table and the API calls, as printed. */
export function renderSummary(report: LabReport): string {
  const calls = renderApiCalls(report);
  return [
    `### Lab (${report.ok ? "PASS" : "FAIL"}, ${report.seconds.toFixed(1)} s)`,
    "",
    "```",
    renderTable(report),
    ...(calls ? ["", calls] : []),
    "```",
    "",
  ].join("\n");
}

/** The lines `--keep` prints so a user can drive the emulated cloud by hand (lab/README.md). */
export function renderKeepLines(url: string, token: string, deployerNs: string): string {
  return [
    `DIGITALOCEAN_API_URL=${url}`,
    `DIGITALOCEAN_ACCESS_TOKEN=${token}`,
    `deployer namespace: ${deployerNs}`,
  ].join("\n");
}

/** One line per verification phase of each member, from the stack's `verification` output. */
export function renderPhases(report: LabReport): string[] {
  const lines: string[] = [];
  for (const m of report.members) {
    for (const [label, p] of [
      ["before assignment", m.phases?.beforeAssignment],
      ["after assignment", m.phases?.afterAssignment],
    ] as const) {
      const v4 = p?.outside?.ipv4;
      if (v4 === undefined) continue;
      lines.push(
        `${m.name} ${label}: ${v4.address} offset ${v4.offsetMs.toFixed(3)} ms (${v4.samples} samples), synced after ${p?.secondsToSync ?? "?"} s, ${p?.warnings?.length ?? 0} warnings`,
      );
    }
  }
  return lines.length > 0 ? ["", ...lines] : [];
}

/** Writes the report as JSON; returns the path. */
export function writeReport(report: LabReport, path: string): string {
  mkdirSync(resolve(path, ".."), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

export const defaultReportPath = (cacheDir: string, prefix: string): string =>
  join(cacheDir, "reports", `lab-report-${prefix}.json`);
