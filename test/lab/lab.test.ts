import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { leftovers } from "../../lab/teardown";
import {
  assertLabPrerequisites,
  at,
  type CliRun,
  hostTimex,
  runLabCli,
  stackWith,
} from "../helpers/labCli";

// The lab tier: `npm run lab` end to end, as root. Each run is its own process (one Pulumi
// program per process). These tests fail, never skip, when root or packages are missing.

function expectClean(run: CliRun): void {
  expect(run.prefix, `no run prefix in output:\n${run.out.slice(0, 2000)}`).toMatch(/^ntpl-/);
  expect(leftovers(run.prefix)).toEqual({
    namespaces: [],
    etcNetns: [],
    processes: [],
    mounts: [],
  });
}

describe("lab", () => {
  beforeAll(() => {
    assertLabPrerequisites();
  });

  it("brings the dev stack up, verifies it, leaves the host clock and the host clean", async () => {
    const before = hostTimex();
    const run = await runLabCli([]);
    const after = hostTimex();
    expect(run.code, run.out.slice(-4000)).toBe(0);
    const m = run.report?.members ?? [];
    expect(m).toHaveLength(1);
    expect(m[0]?.verification.present).toBe(true);
    expect(m[0]?.verification.ok).toBe(true);
    expect(m[0]?.stratum).toBeGreaterThanOrEqual(2);
    expect(m[0]?.stratum).toBeLessThanOrEqual(5);
    // Real cloud-init ran the user-data's write_files, packages and runcmd without failure.
    const modules = m[0]?.cloudInit.modules ?? [];
    for (const mod of ["write-files", "package-update-upgrade-install", "scripts-user"]) {
      expect(modules.find((x) => x.module === mod)?.result, mod).toBe("SUCCESS");
    }
    expect(run.out).toMatch(/PASS/);
    // Realised only through the emulated API, with the provider's call sequences.
    const res = run.report?.resources ?? [];
    const doRes = res.filter((r) => r.type.startsWith("digitalocean:") && r.name !== "(invoke)");
    expect(doRes.length).toBeGreaterThanOrEqual(8);
    for (const r of doRes) {
      expect(r.via, r.type).toBe("api");
      expect(
        r.apiCalls?.some((c) => c.startsWith("POST /v2/")),
        r.type,
      ).toBe(true);
    }
    const calls = (t: string) => res.find((r) => r.type.endsWith(`:${t}`))?.apiCalls ?? [];
    expect(calls("Droplet")[0]).toBe("POST /v2/droplets");
    expect(
      calls("Droplet")
        .slice(1)
        .every((c) => /^GET \/v2\/droplets\/\d+$/.test(c)),
    ).toBe(true);
    expect(calls("ReservedIpAssignment")).toEqual([
      expect.stringMatching(/^GET \/v2\/droplets\/\d+\/actions\?per_page=50$/),
      expect.stringMatching(/^POST \/v2\/reserved_ips\/[\d.]+\/actions$/),
      ...calls("ReservedIpAssignment")
        .slice(2, -1)
        .map(() => expect.stringMatching(/^GET \/v2\/reserved_ips\/[\d.]+\/actions\/\d+$/)),
      expect.stringMatching(/^GET \/v2\/reserved_ips\/[\d.]+$/),
    ]);
    expect(run.out).toMatch(/^total\s+\d+$/m);
    // cloud-init's own DigitalOcean datasource configured the droplet from the metadata
    // service (DMI identity, hostname, root's keys), not a NoCloud seed.
    const ciLog = readFileSync(join(m[0]?.logs ?? "", "cloud-init.log"), "utf8");
    expect(ciLog).toMatch(/system identified via SMBIOS as DigitalOcean Droplet: \d+/);
    expect(ciLog).toMatch(/Read from http:\/\/169\.254\.169\.254\/metadata\/v1\.json \(200/);
    expect(ciLog).toMatch(/Loaded datasource DataSourceDigitalOcean/);
    expect(ciLog).toMatch(/Setting the hostname to ams-ntp-1/);
    expect(ciLog).toMatch(/Writing to \/root\/\.ssh\/authorized_keys - wb: \[600\] [1-9]\d* bytes/);
    expect(ciLog).not.toMatch(/DataSourceNoCloud/);
    expect(run.out).toMatch(/^lab run: [\d.]+ s$/m);
    // Issue 10: the droplet's own address is checked first; the reserved IPs move after.
    const pre = at(run, /precheck-outside ready/);
    const assigned = at(run, /reserved IP \S+ → anchor/);
    const post = at(run, /verify-outside ready/);
    console.log(
      `precheck passed at ${pre} s, IPv4 assigned at ${assigned} s, verified at ${post} s`,
    );
    expect(pre).toBeDefined();
    expect(assigned).toBeGreaterThanOrEqual(pre as number);
    expect(post).toBeGreaterThanOrEqual(assigned as number);
    expect(run.out).toMatch(/ams-ntp-1 before assignment: 198\.19\.\d+\.2 offset /);
    expect(run.out).toMatch(/ams-ntp-1 after assignment: 198\.18\.64\.\d+ offset /);
    expect(after).toEqual(before);
    expectClean(run);
  });

  it("brings three members up in parallel", async () => {
    const run = await runLabCli(["--members", "3"]);
    expect(run.code, run.out.slice(-4000)).toBe(0);
    const m = run.report?.members ?? [];
    expect(m.map((x) => x.verification.ok)).toEqual([true, true, true]);
    expect(new Set(m.map((x) => x.reservedIpv4)).size).toBe(3);
    // In parallel: the three droplets were all created before any verification finished.
    const created = run.out
      .split("\n")
      .filter((l) => /digitalocean:Droplet .* ready/.test(l)).length;
    const firstVerify = run.out.indexOf("verify-on-droplet ready");
    // The last droplet's "ready" line (the API-call table at the end names droplets too).
    const lastDroplet = Math.max(
      ...[...run.out.matchAll(/digitalocean:Droplet \S+ ready/g)].map((x) => x.index ?? -1),
    );
    expect(created).toBe(3);
    expect(lastDroplet).toBeLessThan(firstVerify);
    expectClean(run);
  });

  it("fails within its bound, saying the upstreams are unreachable, when the firewall lacks outbound UDP 123", async () => {
    // The bound covers the boot too (cloud-init first, then the sync wait): 120 s leaves room
    // on a busy 2-core machine while keeping the test short.
    const stack = stackWith("  ntp-pool:verifyTimeoutSeconds: 120\n");
    const run = await runLabCli(["--stack-file", stack, "--fault-drop-outbound-ntp"]);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/FAULT INJECTION: removed 1 outbound UDP 123 rule/);
    expect(run.out).toMatch(/0 of 4 upstreams reachable/);
    // The pre-check failed, so the reserved IP was never assigned (issue 10).
    expect(run.out).toMatch(/precheck-on-droplet/);
    expect(run.out).not.toMatch(/reserved IP \S+ → anchor/);
    expectClean(run);
  });

  it("still verifies with one upstream down", async () => {
    const run = await runLabCli(["--fault-upstreams-down", "1"]);
    expect(run.code, run.out.slice(-4000)).toBe(0);
    expect(run.out).toMatch(/FAULT INJECTION: upstream \S+ is kept down/);
    expect(run.report?.members[0]?.verification.ok).toBe(true);
    expectClean(run);
  });

  it("leaves nothing behind when stopped with SIGTERM mid-run", async () => {
    let sent = false;
    const run = await runLabCli([], {
      onLine: (line, child) => {
        if (!sent && /droplet \S+ \(id \d+\): booting/.test(line)) {
          sent = true;
          // Mid-boot: namespaces, mounts and daemons all exist at this point.
          setTimeout(() => child.kill("SIGTERM"), 3000);
        }
      },
    });
    expect(sent).toBe(true);
    expect(run.code).toBe(143);
    expect(run.out).toMatch(/SIGTERM: tearing down/);
    expectClean(run);
  });
});
