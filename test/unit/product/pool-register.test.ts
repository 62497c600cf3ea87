import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type NtpHeader,
  type NtpSample,
  NtpTimeoutError,
  parseHeader,
  queryNtp,
} from "../../../ntp/client";
import { runCli } from "../../../pool/cli";
import { loadStackOutputs, parseStackOutputs, parseStackOutputsText } from "../../../pool/outputs";
import {
  monthlyEgressGB,
  type ProbeOutcome,
  probeAddress,
  renderRegistration,
} from "../../../pool/register";
import { type FakeNtpServer, startFakeNtp } from "../../helpers/poolFakes";
import { tempDir } from "../../helpers/tempDir";

const servers: FakeNtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function fake(...args: Parameters<typeof startFakeNtp>) {
  const s = await startFakeNtp(...args);
  servers.push(s);
  return s;
}

function member(name: string, ipv4: string, ipv6: string | null) {
  const addresses = [{ address: ipv4, family: "IPv4" as const }];
  if (ipv6 !== null) addresses.push({ address: ipv6, family: "IPv6" as const } as never);
  return {
    name,
    region: "ams3",
    ipv4,
    ipv6,
    dropletId: "412345678",
    upstreams: ["ntp1.example.net", "ntp2.example.net", "ntp3.example.net", "ntp4.example.net"],
    registration: {
      addresses,
      url: "https://manage.ntppool.org/manage/servers",
      notes: ["Reserved IP is protected"],
    },
    verification: { ok: true },
  };
}

describe("ntp/client queryNtp against the in-process fake NTP server (loopback)", () => {
  it("gets stratum and a small offset over IPv4", async () => {
    const s = await fake({ stratum: 3 });
    const r = await queryNtp({ address: s.address, port: s.port, timeoutMs: 2000 });
    expect(r.header.stratum).toBe(3);
    // The fake answers with the local clock: the offset is the loopback round trip at most.
    expect(Math.abs(r.offsetMs)).toBeLessThan(1000);
    expect(s.arrivals).toHaveLength(1);
  });

  it("works over IPv6 (::1)", async () => {
    const s = await fake({ stratum: 1 }, "::1");
    const r = await queryNtp({ address: "::1", port: s.port, timeoutMs: 2000 });
    expect(r.header.stratum).toBe(1);
  });

  it("ignores a reply whose origin timestamp is not ours and times out", async () => {
    const s = await fake({ wrongOrigin: true });
    await expect(
      queryNtp({ address: s.address, port: s.port, timeoutMs: 300 }),
    ).rejects.toBeInstanceOf(NtpTimeoutError);
  });
});

/** A reply as ntp/client decodes it, built from real packet bytes. */
function result(stratum: number, leap = 0, kiss: string | null = null): NtpSample {
  const b = Buffer.alloc(48);
  b[0] = (leap << 6) | (4 << 3) | 4;
  b[1] = stratum;
  b.write((kiss ?? "GPS").padEnd(4, "\0"), 12, "latin1");
  const header: NtpHeader = parseHeader(b);
  return { address: "192.0.2.1", header, verdict: "ok", offsetMs: 1, delayMs: 20, sentAtMs: 0 };
}

describe("probeAddress politeness", () => {
  it("retries only after waiting the interval, and stops at the attempt limit", async () => {
    const waits: number[] = [];
    let calls = 0;
    const outcome = await probeAddress("192.0.2.7", "IPv4", {
      attempts: 3,
      intervalMs: 2000,
      sleep: async (ms) => {
        waits.push(ms);
      },
      query: async () => {
        calls++;
        throw new NtpTimeoutError("192.0.2.7", 3000);
      },
    });
    expect(calls).toBe(3);
    expect(waits).toEqual([2000, 2000]);
    expect(outcome).toMatchObject({ ok: false, queries: 3 });
    expect(outcome.reason).toMatch(/no NTP reply after 3 queries/);
  });

  it("does not retry after a kiss-o'-death", async () => {
    let calls = 0;
    const outcome = await probeAddress("192.0.2.7", "IPv4", {
      sleep: async () => {},
      query: async () => {
        calls++;
        return result(0, 3, "RATE");
      },
    });
    expect(calls).toBe(1);
    expect(outcome.reason).toMatch(/RATE/);
  });

  it("against a real socket: a lost first packet is retried >= 2 s later", async () => {
    const s = await fake({ stratum: 2, dropFirst: 1 });
    const outcome = await probeAddress(s.address, "IPv4", {
      port: s.port,
      timeoutMs: 300,
      intervalMs: 2000,
    });
    expect(outcome).toMatchObject({ ok: true, stratum: 2, queries: 2 });
    expect(s.arrivals).toHaveLength(2);
    const [a, b] = s.arrivals as [number, number];
    expect(b - a).toBeGreaterThanOrEqual(2000);
  });
});

describe("stack outputs", () => {
  it("accepts the contract shape", () => {
    const out = parseStackOutputs({ members: { a: member("a", "192.0.2.10", "2001:db8::10") } });
    expect(out.members.a?.registration.addresses).toHaveLength(2);
  });

  it("names the path and value of a bad address", () => {
    const bad = member("a", "192.0.2.10", null);
    bad.registration.addresses[0] = { address: "not-an-ip", family: "IPv4" };
    expect(() => parseStackOutputs({ members: { a: bad } })).toThrow(
      /members\.a\.registration\.addresses\.0: address "not-an-ip" is not a valid IPv4 address/,
    );
  });

  it("rejects empty members and non-JSON", () => {
    expect(() => parseStackOutputs({ members: {} })).toThrow(/members is empty/);
    expect(() => parseStackOutputsText("{", "out.json")).toThrow(/out.json: not JSON/);
  });
});

describe("loadStackOutputs via the pulumi CLI", () => {
  function withPath<T>(dir: string, fn: () => T): T {
    const saved = process.env.PATH;
    process.env.PATH = dir;
    try {
      return fn();
    } finally {
      process.env.PATH = saved;
    }
  }

  it("runs `pulumi stack output --json [--stack S]` and parses what it prints", () => {
    const dir = tempDir("pool-cli-");
    const argsFile = join(dir, "args");
    const json = JSON.stringify({ members: { a: member("a", "192.0.2.10", null) } });
    writeFileSync(
      join(dir, "pulumi"),
      `#!/bin/sh\necho "$@" > '${argsFile}'\ncat <<'EOF'\n${json}\nEOF\n`,
    );
    chmodSync(join(dir, "pulumi"), 0o755);
    const out = withPath(`${dir}:/usr/bin:/bin`, () => loadStackOutputs({ stack: "prod" }));
    expect(Object.keys(out.members)).toEqual(["a"]);
    expect(readFileSync(argsFile, "utf8").trim()).toBe("stack output --json --stack prod");
  });

  it("says what to do when the pulumi CLI is missing or fails", () => {
    const empty = tempDir("pool-cli-");
    expect(() => withPath(empty, () => loadStackOutputs({}))).toThrow(
      /pulumi CLI is not on PATH: install it, or pass --outputs FILE/,
    );
    const failing = tempDir("pool-cli-");
    writeFileSync(
      join(failing, "pulumi"),
      "#!/bin/sh\necho 'error: no stack selected' >&2\nexit 255\n",
    );
    chmodSync(join(failing, "pulumi"), 0o755);
    expect(() => withPath(`${failing}:/usr/bin:/bin`, () => loadStackOutputs({}))).toThrow(
      /exited 255: error: no stack selected/,
    );
  });
});

describe("renderRegistration", () => {
  const outputs = parseStackOutputs({
    members: {
      ams: member("ams", "192.0.2.10", "2001:db8::10"),
      nyc: member("nyc", "192.0.2.20", null),
    },
  });
  const ok = (address: string, family: "IPv4" | "IPv6"): ProbeOutcome => ({
    address,
    family,
    ok: true,
    stratum: 2,
    offset: 0.0004,
    queries: 1,
    reason: "",
  });
  const probes = new Map<string, ProbeOutcome>([
    ["192.0.2.10", ok("192.0.2.10", "IPv4")],
    ["2001:db8::10", ok("2001:db8::10", "IPv6")],
    [
      "192.0.2.20",
      { address: "192.0.2.20", family: "IPv4", ok: false, queries: 3, reason: "no NTP reply" },
    ],
  ]);
  const text = renderRegistration(outputs, probes);

  it("gives each ready address its own add-server step", () => {
    expect(text).toMatch(/Step 1: add IPv4 server 192\.0\.2\.10/);
    expect(text).toMatch(/Step 2: add IPv6 server 2001:db8::10/);
    expect(text).not.toMatch(/add IPv4 server 192\.0\.2\.20/);
    expect(text).toMatch(/skip 192\.0\.2\.20 for now/);
    expect(text).toMatch(/2 of 3 addresses ready/);
  });

  it("includes the verification step per family and a low net-speed start", () => {
    expect(text).toMatch(/curl --interface "\$AIP" https:\/\/validate4\.ntppool\.dev\/p\//);
    expect(text).toMatch(/curl --interface 2001:db8::10 https:\/\/validate6\.ntppool\.dev\/p\//);
    expect(text).toMatch(/Net speed: pick the LOWEST setting/);
    expect(text).toMatch(/tens of thousands of queries\/s/);
    expect(text).toContain("Reserved IP is protected");
  });

  it("egress estimate scales with packet size", () => {
    expect(monthlyEgressGB(1000, "IPv6") / monthlyEgressGB(1000, "IPv4")).toBeCloseTo(96 / 76, 6);
    expect(monthlyEgressGB(1, "IPv4")).toBeCloseTo((76 * 2_592_000) / 1e9, 9);
  });
});

describe("pool register CLI end to end (outputs file + fake NTP on loopback)", () => {
  function capture() {
    const io = { out: "", err: "", code: -1 };
    return {
      io,
      cli: {
        write: (t: string) => {
          io.out += t;
        },
        writeError: (t: string) => {
          io.err += t;
        },
        exit: (c: number) => {
          io.code = c;
        },
      },
    };
  }

  it("checks the address and prints the sheet; exit 0 when all are ready", async () => {
    const s4 = await fake({ stratum: 2 });
    const dir = tempDir("pool-reg-");
    const file = join(dir, "outputs.json");
    writeFileSync(file, JSON.stringify({ members: { lo: member("lo", "127.0.0.1", null) } }));
    const { io, cli } = capture();
    await runCli(["register", "--outputs", file, "--port", String(s4.port)], cli);
    expect(io.err).toBe("");
    expect(io.code).toBe(0);
    expect(io.out).toMatch(/IPv4 127\.0\.0\.1: OK: stratum 2/);
    expect(io.out).toMatch(/Step 1: add IPv4 server 127\.0\.0\.1/);
    expect(s4.arrivals).toHaveLength(1);
  });

  it("exits 1 and says why when a member answers with stratum 16", async () => {
    const s = await fake({ stratum: 16, leap: 3 });
    const dir = tempDir("pool-reg-");
    const file = join(dir, "outputs.json");
    writeFileSync(file, JSON.stringify({ members: { lo: member("lo", "127.0.0.1", null) } }));
    const { io, cli } = capture();
    await runCli(["register", "--outputs", file, "--port", String(s.port)], cli);
    expect(io.code).toBe(1);
    expect(io.out).toMatch(
      /IPv4 127\.0\.0\.1: NOT READY: answers but is not synchronised \(leap=3, stratum=16, refid=/,
    );
    expect(io.out).toMatch(/skip 127\.0\.0\.1 for now/);
  });

  it("reports a malformed outputs file with exit 2", async () => {
    const dir = tempDir("pool-reg-");
    const file = join(dir, "outputs.json");
    writeFileSync(file, JSON.stringify({ members: { x: { name: "x" } } }));
    const { io, cli } = capture();
    await runCli(["register", "--outputs", file], cli);
    expect(io.code).toBe(2);
    expect(io.err).toMatch(/stack outputs do not have the expected shape/);
    expect(io.err).toMatch(/members\.x\.region/);
  });
});
