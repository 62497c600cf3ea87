import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { Verification } from "../../components/Verification";
import { readVerifyScript } from "../../verify/paths";
import { recorded, testMocks } from "../helpers/mocks";

// Realistic last lines of both checks, so the summary is built as in a real `pulumi up`.
const onDropletLine = JSON.stringify({
  check: "on-droplet",
  synced: true,
  secondsToSync: 8,
  stratum: 2,
  leap: "00",
  systemPeer: "198.18.0.11",
  reachableUpstreams: 4,
  upstreamCount: 4,
  offsetMs: 0.01,
  leapFileExpires: "2027-06-28T00:00Z",
  lastLeapSecond: "2017-01-01T00:00Z",
  cloudInit: "done",
  upstreams: [],
  warnings: [],
});
const addr = (address: string) => ({
  address,
  stratum: 2,
  leap: 0,
  refid: "198.18.0.11",
  offsetMs: 0.2,
  delayMs: 1,
  relativeTo: "upstream ntp1.example (198.18.0.11)",
  mode6Refused: true,
  samples: 3,
});

pulumi.runtime.setMocks(
  {
    newResource(args) {
      const r = testMocks.newResource(args) as { id: string; state: Record<string, unknown> };
      if (args.type === "command:remote:Command") r.state.stdout = `waiting\n${onDropletLine}\n`;
      if (args.type === "command:local:Command") {
        r.state.stdout = `${JSON.stringify({ check: "outside", ipv4: addr("203.0.113.7"), ipv6: addr("2001:db8::7"), warnings: [] })}\n`;
      }
      return r;
    },
    call: testMocks.call,
  },
  "ntp-pool",
  "test",
  false,
  "organization",
);

/** Stands in for the ReservedIpAssignment and Firewall (custom resources, as they are). */
class Dep extends pulumi.CustomResource {
  constructor(name: string) {
    super("test:index:Dep", name, {});
  }
}

const settle = () => new Promise((r) => setTimeout(r, 50));
const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((res) => o.apply(res));
const isSecret = (o: pulumi.Output<unknown>): Promise<boolean> =>
  (o as unknown as { isSecret: Promise<boolean> }).isSecret;

function build(ipv6?: string) {
  const assignment = new Dep("a-ip-assignment");
  const firewall = new Dep("a-firewall");
  const v = new Verification(
    "a-verify",
    {
      memberName: "a",
      ipv4: "203.0.113.7",
      ...(ipv6 ? { ipv6 } : {}),
      privateKey: pulumi.secret(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET\n-----END OPENSSH PRIVATE KEY-----\n",
      ),
      upstreams: ["ntp1.example", "ntp2.example", "ntp3.example", "ntp4.example"],
      dropletId: pulumi.output("400123"),
      sshSourceCidrs: ["198.51.100.7/32"],
      reservedIpv6: ipv6,
      timeoutSeconds: 300,
    },
    { dependsOn: [assignment, firewall] },
  );
  return { v, assignment, firewall };
}

describe("Verification component", () => {
  it("creates the reach gate, the SSH check and the outside check under the component", async () => {
    const { v } = build("2001:db8::7");
    await value(v.summary);
    await settle();
    const comp = recorded.find((r) => r.type === "ntppool:index:Verification");
    const cmds = recorded.filter((r) => r.type.startsWith("command:"));
    expect(cmds.map((c) => [c.type, c.name]).sort()).toEqual([
      ["command:local:Command", "a-verify-outside"],
      ["command:local:Command", "a-verify-reach"],
      ["command:remote:Command", "a-verify-on-droplet"],
    ]);
    for (const c of cmds) expect(c.parent).toBe(comp?.urn);
  });

  it("remote: script on stdin, inline arguments, no environment, triggers on the droplet id, secret key", async () => {
    const { v } = build("2001:db8::7");
    await value(v.summary);
    await settle();
    const r = recorded.find((x) => x.type === "command:remote:Command");
    expect(r?.inputs.create).toBe(
      "sh -s -- --timeout 300 --reserved-ipv6 2001:db8::7 --upstream ntp1.example --upstream ntp2.example --upstream ntp3.example --upstream ntp4.example",
    );
    expect(r?.inputs.stdin).toBe(readVerifyScript());
    expect(r?.inputs.environment).toBeUndefined();
    expect(r?.inputs.addPreviousOutputInEnv).toBe(false);
    expect(r?.inputs.triggers).toEqual(["400123"]);
    // The whole connection reaches the engine as a secret (Pulumi's secret signature).
    expect(r?.inputs.connection).toEqual({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      value: expect.objectContaining({
        host: "203.0.113.7",
        user: "root",
        privateKey: expect.stringContaining("SECRET"),
        // Unlimited dials, bounded by time instead (next test).
        dialErrorLimit: -1,
      }),
    });
    expect(await isSecret(v.onDroplet.connection)).toBe(true);
  });

  it("every command is bounded by the timeout (customTimeouts), a minute past the scripts' own bounds", async () => {
    const { v } = build();
    await value(v.summary);
    await settle();
    const cmds = recorded.filter((x) => x.type.startsWith("command:"));
    // The three commands are there: with none recorded the loop would assert nothing.
    expect(cmds.map((c) => c.name).sort()).toEqual([
      "a-verify-on-droplet",
      "a-verify-outside",
      "a-verify-reach",
    ]);
    for (const c of cmds) {
      expect([c.name, c.customTimeouts]).toEqual([c.name, { create: "390s", update: "390s" }]);
    }
  });

  it("local commands: the same text on every machine; reach gate, then the SSH and outside checks", async () => {
    const { v } = build("2001:db8::7");
    await value(v.summary);
    await settle();
    const byName = (n: string) => recorded.find((x) => x.name === n);
    const reach = byName("a-verify-reach");
    const ssh = byName("a-verify-on-droplet");
    const out = byName("a-verify-outside");
    expect(String(reach?.inputs.create)).toMatch(
      /; node --import tsx verify\/outside\.ts --ipv4 203\.0\.113\.7 --wait-seconds 300 --ssh-port 22 --ssh-source 198\.51\.100\.7\/32 --reach-only --json$/,
    );
    expect(String(out?.inputs.create)).toMatch(
      /; node --import tsx verify\/outside\.ts --ipv4 203\.0\.113\.7 --ipv6 2001:db8::7 --upstream ntp1\.example .* --wait-seconds 330 --json$/,
    );
    for (const c of [reach, out]) {
      expect(String(c?.inputs.create)).not.toContain(process.cwd());
      expect(String(c?.inputs.create)).not.toContain(process.execPath);
      expect(c?.inputs.environment).toBeUndefined();
      expect(c?.inputs.triggers).toEqual(["400123"]);
    }
    // The SSH check dials only once the gate saw SSH open; the outside check runs beside it.
    expect(ssh?.dependencies).toContain(reach?.urn);
    expect(out?.dependencies).toContain(reach?.urn);
    expect(out?.dependencies).not.toContain(ssh?.urn);
    expect(reach?.dependencies).not.toContain(ssh?.urn);
  });

  it("every command depends on the IP assignment and the firewall", async () => {
    const { v } = build();
    await value(v.summary);
    await settle();
    const deps = recorded.filter((x) => x.type === "test:index:Dep").map((d) => d.urn);
    expect(deps).toHaveLength(2);
    for (const c of recorded.filter((x) => x.type.startsWith("command:"))) {
      for (const d of deps) expect(c.dependencies).toContain(d);
    }
  });

  it("summary: combined, public, no key material", async () => {
    const { v } = build("2001:db8::7");
    const s = await value(v.summary);
    expect(s).toMatchObject({
      synced: true,
      stratum: 2,
      systemPeer: "198.18.0.11",
      reachableUpstreams: 4,
      outside: {
        ipv4: { address: "203.0.113.7", mode6Refused: true },
        ipv6: { address: "2001:db8::7" },
      },
    });
    expect(await isSecret(v.summary)).toBe(false);
    expect(JSON.stringify(s)).not.toContain("PRIVATE KEY");
  });
});
