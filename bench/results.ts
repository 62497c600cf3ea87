/** Shapes of bench-results.json (pure types, shared by the measuring and rendering code). */

import type { Summary } from "./stats";
import type { Capacity, StepResult, Verdict } from "./steps";

export interface MachineInfo {
  readonly nproc: number;
  readonly cpu: string;
  readonly kernel: string;
  readonly date: string;
  readonly ntpsec: string;
  readonly chrony: string | null;
  readonly node: string;
  /** /proc/loadavg (1, 5, 15 min) when the bench started and ended: other work on the host skews figures. */
  readonly loadStart: string;
  readonly loadEnd: string | null;
}

export type SyncVariant = "ntpsec" | "chrony" | "ntpsec-default-tos";

export interface SyncRun {
  readonly variant: SyncVariant;
  readonly seconds: number;
  /** Average time per state poll (the resolution of `seconds`). */
  readonly pollSeconds: number;
}

export interface SyncResults {
  readonly runs: readonly SyncRun[];
  readonly summary: Readonly<Partial<Record<SyncVariant, Summary>>>;
}

/** When, with what command and under what host load a part was measured (parts can be re-measured alone). */
export interface Measured {
  readonly command: string;
  readonly date: string;
  /** /proc/loadavg (1, 5, 15 min) when the part started and ended. */
  readonly loadStart: string;
  readonly loadEnd: string;
  readonly seconds: number;
  /** The host it ran on (a part re-measured later may run on another machine than the full run). */
  readonly machine?: { readonly nproc: number; readonly cpu: string; readonly kernel: string };
}

/**
 * Seconds from lab start (the lab's log clock) to each step of one member's deployment, read
 * from the lab's log lines (bench/labRuns.ts parseLabTimeline). null: the line is missing.
 */
export interface MemberTimeline {
  readonly member: string;
  /** The Droplet resource is created (DigitalOcean reported `active`). */
  readonly dropletActive: number | null;
  /** Every `<member>-precheck-*` command passed (checks on the droplet's own address). */
  readonly precheckPassed: number | null;
  /** The reserved IPv4 assignment is done (`<member>-ip-assignment` ready). */
  readonly ipv4Assigned: number | null;
  /** Every `<member>-verify-*` command passed (checks on the reserved addresses). */
  readonly verified: number | null;
  /** Duration of each check command as the lab logged it, seconds (e.g. "precheck-outside"). */
  readonly commands: Readonly<Record<string, number>>;
}

/** The critical path of one run, consecutive segments that add up to start → verified. */
export interface CriticalSplit {
  /** Lab start → droplet active (topology, program start, the API's create). */
  readonly toDroplet: number;
  /** Droplet active → cloud-init's stages done (report bootSeconds). */
  readonly boot: number;
  /** Boot done → ntpd synchronised inside (report syncSeconds − bootSeconds). */
  readonly sync: number;
  /** Synchronised → every pre-check passed. */
  readonly precheckAfterSync: number;
  /** Pre-check passed → reserved IPv4 assigned. */
  readonly assignment: number;
  /** Assigned → every post-assignment check passed. */
  readonly postcheck: number;
}

export interface LabRun {
  readonly ok: boolean;
  /** Process start of `npm run lab` → exit (includes teardown). */
  readonly wallSeconds: number;
  /** The lab's own figure: run start → every member verified (report.seconds). */
  readonly labSeconds: number | null;
  /** Droplet created → ntpd inside first reported sync (the lab's own watch). */
  readonly syncSeconds: number | null;
  /** Droplet created → all cloud-init stages done. */
  readonly bootSeconds: number | null;
  /** cloud-init stages (and unit starts) of the first member, as the lab timed them. */
  readonly stages: readonly { readonly name: string; readonly seconds: number }[];
  readonly error?: string;
  readonly report?: string;
  /** The member whose checks finished last (from the lab's log), and that run's split. */
  readonly timeline?: MemberTimeline;
  readonly split?: CriticalSplit;
  /** Host load average at the end of the run. */
  readonly load?: string;
}

/** Median/min/max over verified runs of each timeline step and split segment. */
export interface LabSummaries {
  readonly dropletActive?: Summary;
  readonly precheckPassed?: Summary;
  readonly ipv4Assigned?: Summary;
  readonly verified?: Summary;
  readonly split?: Readonly<Partial<Record<keyof CriticalSplit, Summary>>>;
}

export interface LabResults {
  readonly available: boolean;
  /** Why there is no figure, when not available. */
  readonly reason?: string;
  readonly runs: readonly LabRun[];
  readonly labSeconds?: Summary;
  readonly syncSeconds?: Summary;
  readonly steps?: LabSummaries;
  readonly measured?: Measured;
}

/** One lab-tier test of a timekeeping-*.test.ts (test/lab/, test/lab-long/), from vitest's JSON report. */
export interface TimekeepingTest {
  readonly file: string;
  readonly title: string;
  /** vitest's status: passed, failed, skipped, pending, todo. */
  readonly status: string;
  readonly seconds: number | null;
  readonly failure?: string;
}

/** A `FIGURE <name>: <json>` line a time-keeping test printed. */
export interface TimekeepingFigure {
  readonly name: string;
  /** The test file whose output carried it (vitest's "stdout | <file> > …" header). */
  readonly file: string | null;
  readonly value: unknown;
}

export interface TimekeepingResults {
  readonly available: boolean;
  readonly reason?: string;
  readonly tests: readonly TimekeepingTest[];
  readonly figures: readonly TimekeepingFigure[];
  readonly measured?: Measured;
}

export interface StepRecord extends StepResult {
  readonly loss: number;
  readonly verdict: Verdict;
  readonly sendSeconds: number;
  /** Requests the member's kernel dropped because the daemon's socket buffer was full. */
  readonly memberRcvbufErrors: number;
  /** Replies the generator's own socket dropped (must be 0 for the step to be valid). */
  readonly loaderRcvbufErrors: number;
  /** The daemon's own rate-limit counter delta (ntpd "rate limited", chrony "dropped"). */
  readonly rateLimited: number | null;
}

export interface CapacityRun {
  readonly steps: readonly StepRecord[];
  readonly capacity: Capacity;
}

export interface CapacityConfig {
  readonly name: string;
  readonly kind: "ntpsec" | "chrony";
  /** Receive buffer requested (bytes); null = the kernel default (rmem_default). */
  readonly rcvbuf: number | null;
  /** The buffer the daemon's UDP socket actually had (ss -m `rb`). */
  readonly observedRcvbuf: number | null;
  readonly runs: readonly CapacityRun[];
}

export interface GeneratorCheck {
  /** Unpaced, against a target that drops every request in its raw prerouting hook. */
  readonly unpacedRate: number;
  /** Paced at the ladder's top rate against the same target. */
  readonly pacedTarget: number;
  readonly pacedAchieved: number;
  readonly seconds: number;
}

export interface CapacityResults {
  readonly sources: number;
  readonly stepSeconds: number;
  readonly pinned: boolean;
  readonly generator: GeneratorCheck;
  readonly configs: readonly CapacityConfig[];
}

export interface ProgramRow {
  readonly members: number;
  readonly resources: number;
  /** In-program time (index.ts evaluated, outputs resolved), per run. */
  readonly ms: readonly number[];
  /** Whole process (tsx start-up included), per run. */
  readonly wallMs: readonly number[];
  readonly medianMs: number;
  readonly medianWallMs: number;
}

export interface ProgramResults {
  readonly rows: readonly ProgramRow[];
  readonly growth: number | null;
  readonly linear: number;
}

export interface BenchResults {
  readonly machine: MachineInfo;
  readonly options: {
    readonly runs: number;
    readonly quick: boolean;
    readonly only: string | null;
  };
  readonly seconds: number;
  readonly sync?: SyncResults;
  readonly lab?: LabResults;
  readonly capacity?: CapacityResults;
  readonly program?: ProgramResults;
  readonly timekeeping?: TimekeepingResults;
  readonly errors: readonly string[];
}
