import { describe, expect, it } from "vitest";
import { criticalPath } from "../../../bench/criticalPath";
import {
  criticalSplit,
  LAB_TARGET_SECONDS,
  parseLabTimeline,
  runTimeline,
  summarizeSteps,
} from "../../../bench/labRuns";
import { mergeResults } from "../../../bench/merge";
import { remeasured, renderBenchmarksMd, summaryTable } from "../../../bench/render";
import { commandDurations, targetVerdict } from "../../../bench/renderLab";
import { figureSummary, timekeepingSection } from "../../../bench/renderTimekeeping";
import type { BenchResults, LabRun } from "../../../bench/results";
import { parseFigures, readVitestReport, timekeepingFiles } from "../../../bench/timekeeping";

// A real `npm run lab` log of the dev stack (one member, both verification phases) on this
// machine, 2026-12-01; lines the timeline does not use are kept, as the lab prints them.
const LAB_LOG = `
[   0.0 s] run ntpl-817c5b: stack ntp-pool/dev from /work/wt/hbench/Pulumi.dev.yaml
[   0.0 s] droplet image from cache: /work/lab-cache/image-33b4eca92a28/root
[   0.3 s] topology up: switch ntpl-817c5b-sw, edge ntpl-817c5b-edge, internet ntpl-817c5b-inet
[   0.3 s] running the program /work/wt/hbench/index.ts under Pulumi's mock runtime
[   0.5 s] pulumi:pulumi:StackReference organization/ntp-pool/dev ready (0.0 s)
[   0.6 s] digitalocean:ReservedIp ams-ntp-1-ip ready (0.0 s)
[   0.6 s] digitalocean:ReservedIpv6 ams-ntp-1-ipv6 ready (0.0 s)
[   0.6 s] digitalocean:Tag ams-ntp-1-tag ready (0.0 s)
[   0.6 s] tls:index/privateKey:PrivateKey ams-ntp-1-deploy-key ready (0.0 s)
[   0.6 s] digitalocean:SshKey ams-ntp-1-deploy-sshkey ready (0.0 s)
[   0.6 s] deployer (internet namespace) uses 203.0.113.1, inside the firewall's SSH sources 203.0.113.0/24
[   0.7 s] upstream ntp1.time.nl → 198.18.0.11 (stratum 1, orphan mode)
[   0.7 s] upstream ptbtime1.ptb.de → 198.18.0.12 (stratum 1, orphan mode)
[   0.8 s] upstream ptbtime2.ptb.de → 198.18.0.13 (stratum 1, orphan mode)
[   0.9 s] firewall ntppool-ams-ntp-1: 3 inbound, 6 outbound rules (nftables table ntplab_fw on the edge)
[   0.9 s] digitalocean:Firewall ams-ntp-1-firewall ready (0.3 s)
[   0.9 s] upstream sth1.ntp.se → 198.18.0.14 (stratum 1, orphan mode)
[   1.2 s] droplet ams-ntp-1 (id 470000001): booting, primary 198.19.1.2, anchor 10.10.1.2, 2001:db8:1:1::2
[   1.2 s] digitalocean:Droplet ams-ntp-1-droplet ready (0.6 s)
[   4.8 s] command:local:Command ams-ntp-1-precheck-reach ready (3.6 s)
[  20.3 s] command:remote:Command ams-ntp-1-precheck-on-droplet ready (15.5 s)
[  20.6 s] command:remote:Command ams-ntp-1-admin-keys ready (0.3 s)
[  27.3 s] command:local:Command ams-ntp-1-precheck-outside ready (22.5 s)
[  27.4 s] reserved IP 198.18.64.11 → anchor 10.10.1.2 of ams-ntp-1 (1:1 NAT on the edge)
[  27.4 s] digitalocean:ReservedIpAssignment ams-ntp-1-ip-assignment ready (0.1 s)
[  27.4 s] reserved IPv6 2001:db8:2::11 routed to ams-ntp-1
[  27.4 s] digitalocean:ReservedIpv6Assignment ams-ntp-1-ipv6-assignment ready (0.0 s)
[  27.7 s] command:local:Command ams-ntp-1-verify-reach ready (0.3 s)
[  28.9 s] command:remote:Command ams-ntp-1-verify-on-droplet ready (1.2 s)
[  34.1 s] command:local:Command ams-ntp-1-verify-outside ready (6.3 s)
[  34.1 s] program finished: every resource realised
[  34.1 s] ams-ntp-1: boot finished in 10.0 s
[  34.2 s] ams-ntp-1: OK: verification commands passed (ams-ntp-1-precheck-reach, ams-ntp-1-precheck-outside, ams-ntp-1-precheck-on-droplet, ams-ntp-1-admin-keys, ams-ntp-1-verify-reach, ams-ntp-1-verify-outside, ams-ntp-1-verify-on-droplet)
[  34.2 s] teardown
`;

const REPORT = {
  ok: true,
  seconds: 34.174,
  members: [{ name: "ams-ntp-1", bootSeconds: 10.014, syncSeconds: 19.138 }],
};

describe("lab timeline (both verification phases)", () => {
  it("reads each step of a member from the lab log's ready lines", () => {
    expect(parseLabTimeline(LAB_LOG, ["ams-ntp-1"])).toEqual([
      {
        member: "ams-ntp-1",
        dropletActive: 1.2,
        precheckPassed: 27.3,
        ipv4Assigned: 27.4,
        verified: 34.1,
        commands: {
          "precheck-reach": 3.6,
          "precheck-on-droplet": 15.5,
          "precheck-outside": 22.5,
          "verify-reach": 0.3,
          "verify-on-droplet": 1.2,
          "verify-outside": 6.3,
        },
      },
    ]);
  });

  it("does not take another member's lines whose name starts the same", () => {
    const other = LAB_LOG.replaceAll("ams-ntp-1", "ams-ntp-10");
    expect(parseLabTimeline(other, ["ams-ntp-1"])[0]).toMatchObject({
      dropletActive: null,
      precheckPassed: null,
      verified: null,
      commands: {},
    });
  });

  it("splits the critical path into segments that add up to start → verified", () => {
    const { timeline, split } = runTimeline(LAB_LOG, JSON.stringify(REPORT));
    expect(split).toEqual({
      toDroplet: 1.2,
      boot: 10,
      sync: 9.1,
      precheckAfterSync: 7,
      assignment: 0.1,
      postcheck: 6.7,
    });
    const sum = Object.values(split ?? {}).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(timeline?.verified ?? 0, 5);
  });

  it("gives no split when a step is missing (a run without the pre-check)", () => {
    const noPre = LAB_LOG.split("\n")
      .filter((l) => !l.includes("precheck"))
      .join("\n");
    const t = parseLabTimeline(noPre, ["ams-ntp-1"])[0];
    expect(t?.precheckPassed).toBeNull();
    expect(t && criticalSplit(t, 10, 19)).toBeNull();
    expect(runTimeline("", JSON.stringify({ members: [] }))).toEqual({});
  });
});

const labRun = (verified: number, precheck: number): LabRun => ({
  ok: true,
  wallSeconds: verified + 3,
  labSeconds: verified,
  syncSeconds: 19,
  bootSeconds: 10,
  stages: [],
  timeline: {
    member: "m",
    dropletActive: 1,
    precheckPassed: precheck,
    ipv4Assigned: precheck + 0.1,
    verified,
    commands: { "precheck-outside": precheck - 5, "verify-outside": 6 },
  },
  split: {
    toDroplet: 1,
    boot: 10,
    sync: 9,
    precheckAfterSync: precheck - 20,
    assignment: 0.1,
    postcheck: verified - precheck - 0.1,
  },
  load: "3.1 2.0 1.5",
});

describe("the on-paper path takes the lab's measured check times", () => {
  it("plugs part 1b's medians into the two verification steps, and says when there are none", () => {
    const src = (p: ReturnType<typeof criticalPath>, start: string) =>
      p.find((x) => x.step.startsWith(start))?.source ?? "";
    const measured = criticalPath(9.1, { precheckAfterSync: 6.04, postcheck: 7.4 });
    expect(src(measured, "pre-check")).toContain(
      "measured here: passed after the first sync in 6.0 s median (part 1b)",
    );
    expect(src(measured, "post-check")).toContain(
      "measured here: assigned → passed in 7.4 s median",
    );
    expect(src(criticalPath(9.1), "post-check")).toContain("not measured in this run");
    // The assignment is serial now (after the pre-check): only the firewall overlaps the boot.
    expect(
      measured.filter((x) => x.source.includes("off the critical path")).map((x) => x.step),
    ).toEqual(["firewall attach (by tag)"]);
  });
});

describe("lab summaries and the target", () => {
  const runs = [labRun(34, 27), labRun(36, 28), labRun(33, 26.5)];

  it("summarises each step and segment over the runs", () => {
    const s = summarizeSteps(runs);
    expect(s.verified).toEqual({ n: 3, median: 34, min: 33, max: 36 });
    expect(s.precheckPassed).toEqual({ n: 3, median: 27, min: 26.5, max: 28 });
    expect(s.split?.precheckAfterSync).toEqual({ n: 3, median: 7, min: 6.5, max: 8 });
    expect(commandDurations({ available: true, runs })).toEqual([
      ["precheck-outside", 22],
      ["verify-outside", 6],
    ]);
  });

  it("says whether issue 10's median target is met, with the excess", () => {
    expect(LAB_TARGET_SECONDS).toBe(25);
    expect(targetVerdict({ n: 5, median: 34.1, min: 33, max: 36 })).toContain(
      "NOT met, 9.1 s over",
    );
    expect(targetVerdict({ n: 5, median: 24.9, min: 20, max: 30 })).toMatch(/: met$/);
    expect(targetVerdict(undefined)).toContain("no figure");
  });
});

// vitest's default reporter prints a test's console output under a "stdout | <file> > …" header.
const VITEST_OUT = `
 RUN  v4.1.12 /work/ntp-pool

stdout | test/lab/timekeeping-restart.test.ts > member ntpd restart and late DNS (real ntpd, shipped ntp.conf) > after a restart it serves again on IPv4 and IPv6 within a measured bound
FIGURE restart: {"firstBootServingSeconds":10.4,"afterRestartServingSeconds":{"ipv4":10.9,"ipv6":12.3},"driftFilePpm":-7.25,"frequencyAfterRestartPpm":0,"driftLog":[]}

stdout | test/lab/timekeeping-restart.test.ts > member ntpd restart and late DNS (real ntpd, shipped ntp.conf) > an upstream whose name resolves only later is picked up without a restart
FIGURE late-dns: {"nameResolvableAfterStartSeconds":30,"answeringPeerAfterPublishSeconds":null,"limitSeconds":330}

 ✓ test/lab/timekeeping-restart.test.ts (2 tests) 99000ms
`;

describe("time-keeping figures", () => {
  it("lists the scenario files", () => {
    const files = timekeepingFiles();
    expect(files).toContain("test/lab/timekeeping-restart.test.ts");
    expect(files).toContain("test/lab-long/timekeeping-upstreams.test.ts");
    expect(files.every((f) => /^test\/lab(-long)?\/timekeeping-.+\.test\.ts$/.test(f))).toBe(true);
  });

  it("collects FIGURE lines with the file they came from", () => {
    const f = parseFigures(VITEST_OUT);
    expect(f.map((x) => [x.name, x.file])).toEqual([
      ["restart", "test/lab/timekeeping-restart.test.ts"],
      ["late-dns", "test/lab/timekeeping-restart.test.ts"],
    ]);
    expect(f[0]?.value).toMatchObject({ afterRestartServingSeconds: { ipv4: 10.9 } });
    expect(() => parseFigures("FIGURE x: {not json")).toThrow(/FIGURE x: the value is not JSON/);
  });

  it("reads them through the colour codes vitest writes even into a pipe", () => {
    // As captured from `vitest run --project lab` with its output going to a file.
    const coloured =
      '\u001b[90mstdout\u001b[2m | test/lab/timekeeping-restart.test.ts\u001b[2m > \u001b[22m\u001b[2mmember ntpd restart\n\u001b[22m\u001b[39mFIGURE late-dns: {"nameResolvableAfterStartSeconds":30,"answeringPeerAfterPublishSeconds":6.863,"limitSeconds":330}\n';
    expect(parseFigures(coloured)).toEqual([
      {
        name: "late-dns",
        file: "test/lab/timekeeping-restart.test.ts",
        value: {
          nameResolvableAfterStartSeconds: 30,
          answeringPeerAfterPublishSeconds: 6.863,
          limitSeconds: 330,
        },
      },
    ]);
  });

  it("reads vitest's JSON report, a file that ran no test counting as failed", () => {
    const tests = readVitestReport(
      JSON.stringify({
        testResults: [
          {
            name: "/abs/test/lab/timekeeping-paths.test.ts",
            assertionResults: [
              {
                title: "syncs",
                status: "failed",
                duration: 12_345,
                failureMessages: ["AssertionError: expected 9 < 8\n    at ..."],
              },
            ],
          },
          { name: "/abs/test/lab/timekeeping-soak.test.ts", message: "hook timed out" },
        ],
      }),
    );
    expect(tests[0]).toMatchObject({
      title: "syncs",
      status: "failed",
      seconds: 12.345,
      failure: "AssertionError: expected 9 < 8",
    });
    expect(tests[1]).toMatchObject({
      title: "(file)",
      status: "failed",
      failure: "hook timed out",
    });
    expect(() => readVitestReport("{}")).toThrow(/expected \{ testResults/);
  });

  it("puts each known figure in words and an unknown one as JSON", () => {
    const [restart, late] = parseFigures(VITEST_OUT);
    expect(restart && figureSummary(restart)).toBe(
      "ntpd restart: first start serving after 10.4 s; after a restart (drift file -7.25 ppm) serving again after 10.9 s (IPv4), 12.3 s (IPv6)",
    );
    expect(late && figureSummary(late)).toContain("not picked up within 330 s");
    expect(
      figureSummary({
        name: "reboot",
        file: null,
        value: {
          rebootActionCompletedSeconds: 5.06,
          servingAgainSeconds: { ipv4: 12.117, ipv6: 12.137 },
          probeEverySeconds: 2,
        },
      }),
    ).toBe(
      "droplet reboot through the API (doctl droplet-action reboot): serving again after 12.1 s (IPv4), 12.1 s (IPv6) from the request (the reboot action completed after 5.1 s; probes every 2 s)",
    );
    expect(
      figureSummary({
        name: "falseticker-1of4",
        file: null,
        value: {
          secondsToFirstSync: 10.9,
          falsetickerTallies: ["x"],
          falsetickerOffsetMs: 2000.01,
          systemPeer: "10.77.0.12",
          outsideOffsetMsVsGoodUpstream: { ipv4: -0.101, ipv6: 0.078 },
          warnings: ["upstream 10.77.0.11 is a falseticker"],
        },
      }),
    ).toBe(
      "1 of 4 upstreams +2 s: first sync 10.9 s, system peer 10.77.0.12, the falseticker's tallies `x` at +2000.0 ms; outside offset against a good upstream -0.101 ms (IPv4), +0.078 ms (IPv6); 1 warning(s): `upstream 10.77.0.11 is a falseticker`",
    );
    expect(
      figureSummary({
        name: "falseticker-2of4",
        file: null,
        value: { synchronisedWithin45s: false, leap: 3, stratum: 16, message: "FAIL: x" },
      }),
    ).toBe(
      "2 of 4 agreeing +2 s: synchronised within 45 s: no (leap 11, stratum 16); the on-droplet check fails with `FAIL: x`",
    );
    expect(figureSummary({ name: "new-one", file: null, value: { a: 1 } })).toBe('`{"a":1}`');
  });
});

const base: BenchResults & { command: string } = {
  command: "npm run bench",
  machine: {
    nproc: 2,
    cpu: "Xeon",
    kernel: "6.18",
    date: "2026-11-27T08:00:00.000Z",
    ntpsec: "ntpd ntpsec-1.2.2",
    chrony: null,
    node: "v20.19.0",
    loadStart: "0.5 0.6 0.7",
    loadEnd: "1.0 0.9 0.8",
  },
  options: { runs: 5, quick: false, only: null },
  seconds: 600,
  program: { rows: [], growth: null, linear: 49 / 9 },
  errors: ["capacity: old failure"],
};

describe("--only merges into the saved results", () => {
  const measured = {
    command: "npm run bench -- --only lab",
    date: "2026-12-01T23:10:00.000Z",
    loadStart: "3.1 2.5 2.0",
    loadEnd: "3.5 2.8 2.1",
    seconds: 200,
    machine: { nproc: 2, cpu: "Intel Xeon", kernel: "6.18.44-fc-v1045" },
  };
  const fresh: BenchResults & { command: string } = {
    ...base,
    command: "npm run bench -- --only lab",
    options: { runs: 3, quick: false, only: "lab" },
    program: undefined,
    lab: { available: true, runs: [labRun(34, 27)], measured },
    errors: ["namespaces left behind: x"],
  };

  it("replaces only the part measured and keeps the others, the machine and their errors", () => {
    const m = mergeResults(base, fresh, "lab");
    expect(m.program).toEqual(base.program);
    expect(m.machine).toEqual(base.machine);
    expect(m.command).toBe("npm run bench");
    expect(m.lab?.measured?.loadStart).toBe("3.1 2.5 2.0");
    expect(m.errors).toEqual(["capacity: old failure", "lab: namespaces left behind: x"]);
    expect(mergeResults(base, fresh, undefined)).toBe(fresh);
    expect(mergeResults(undefined, fresh, "lab")).toBe(fresh);
  });

  it("names a re-measured part with its command and load in BENCHMARKS.md", () => {
    const m = mergeResults(base, fresh, "lab");
    expect(remeasured(m, m.command)).toEqual([
      "The lab part: `npm run bench -- --only lab` on 2026-12-01T23:10Z on 2 CPUs (Intel Xeon), kernel 6.18.44-fc-v1045, load average 3.1 2.5 2.0 → 3.5 2.8 2.1 (merged into the saved results; the machine line below is the full run's).",
    ]);
    const { machine: _, ...older } = measured;
    expect(
      remeasured({ ...m, lab: { available: true, runs: [], measured: older } }, m.command)[0],
    ).toContain("on a host this result did not record,");
    const md = renderBenchmarksMd(m, "## What the figures led to\n", m.command);
    expect(md).toContain("| → droplet active s | → pre-check passed s |");
    expect(md).toContain(
      "| 1 | verified | 1.0 | 27.0 | 27.1 | 34.0 | 34.0 | 19.0 | 10.0 | 3.1 2.0 1.5 |  |",
    );
    expect(summaryTable(m)).toContain("lab start → verified member");
  });

  it("renders the Time keeping section with each test's result", () => {
    const s = timekeepingSection({
      available: true,
      tests: [
        {
          file: "test/lab/timekeeping-restart.test.ts",
          title: "restart",
          status: "passed",
          seconds: 40.2,
        },
        {
          file: "test/lab/timekeeping-restart.test.ts",
          title: "late DNS",
          status: "failed",
          seconds: 330,
          failure: "expected null not to be null",
        },
      ],
      figures: parseFigures(VITEST_OUT),
      measured: { ...measured, command: "npm run bench -- --only timekeeping" },
    });
    expect(s).toMatch(/^## Time keeping/);
    expect(s).toContain("| `test/lab/timekeeping-restart.test.ts` | restart | passed | 40 |");
    expect(s).toContain("| late DNS | **failed**: expected null not to be null | 330 |");
    expect(s).toContain("| `restart` | ntpd restart: first start serving after 10.4 s;");
    expect(s).toContain("load average (1/5/15 min) 3.1 2.5 2.0 at the start");
  });
});
