import type {
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderNtpConf } from "../../../cloud-init/ntpConf";
import { renderUserData } from "../../../cloud-init/userData";
import { buildFirewallRules } from "../../../components/firewallRules";
import { ntpConfOf } from "../../../ntp/userData";
import { policies } from "../../../policy/policies";
import {
  checkDropletUserData,
  checkFirewall,
  checkNtpConf,
  checkReservedIps,
  checkSshExposure,
  type StackResource,
  TYPES,
} from "../../../policy/rules";

const UPSTREAMS = ["ntp1.example.net", "ntp2.example.net", "ntp3.example.org", "192.0.2.44"];

function conf(lines: string[]): string {
  return `${lines.join("\n")}\n`;
}

const GOOD_CONF = conf([
  ...UPSTREAMS.map((u) => `server ${u} iburst`),
  "restrict default kod limited nomodify noquery",
  "restrict 127.0.0.1",
]);

describe("checkFirewall", () => {
  it("accepts what the project's firewall builder produces", () => {
    const rules = buildFirewallRules(["203.0.113.0/24"]);
    expect(checkFirewall({ ...rules })).toEqual([]);
    expect(checkSshExposure({ ...rules })).toEqual([]);
  });

  it("flags missing IPv6 inbound NTP", () => {
    const problems = checkFirewall({
      inboundRules: [{ protocol: "udp", portRange: "123", sourceAddresses: ["0.0.0.0/0"] }],
      outboundRules: [{ protocol: "udp", portRange: "123", destinationAddresses: ["0.0.0.0/0"] }],
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/inboundRules: no rule allows udp 123 from ::\/0/);
  });

  it("flags NTP open only on TCP, or on the wrong port", () => {
    const problems = checkFirewall({
      inboundRules: [
        { protocol: "tcp", portRange: "123", sourceAddresses: ["0.0.0.0/0", "::/0"] },
        { protocol: "udp", portRange: "124", sourceAddresses: ["0.0.0.0/0", "::/0"] },
      ],
      outboundRules: [{ protocol: "udp", portRange: "1-65535", destinationAddresses: ["::/0"] }],
    });
    expect(problems.filter((p) => p.startsWith("inboundRules"))).toHaveLength(2);
    expect(problems.some((p) => p.startsWith("outboundRules"))).toBe(false);
  });

  it("flags no outbound NTP (DigitalOcean denies outbound by default)", () => {
    const rules = buildFirewallRules([]);
    const problems = checkFirewall({
      inboundRules: rules.inboundRules,
      outboundRules: rules.outboundRules.filter((r) => r.portRange !== "123"),
    });
    expect(problems).toEqual([expect.stringMatching(/outboundRules: no rule allows udp 123/)]);
  });

  it("advises on SSH open to the world, per family", () => {
    const advice = checkSshExposure({ ...buildFirewallRules(["0.0.0.0/0", "::/0"]) });
    expect(advice).toHaveLength(2);
    expect(advice[0]).toMatch(/tcp 22 is open to 0\.0\.0\.0\/0/);
  });
});

describe("checkNtpConf", () => {
  it("accepts the project's rendered ntp.conf", () => {
    expect(checkNtpConf(renderNtpConf(UPSTREAMS))).toEqual([]);
    expect(checkNtpConf(GOOD_CONF)).toEqual([]);
  });

  it.each([3, 8])("rejects %i server lines", (n) => {
    const servers = Array.from({ length: n }, (_, i) => `server ntp${i}.example.net iburst`);
    const problems = checkNtpConf(conf([...servers, "restrict default noquery"]));
    expect(problems).toEqual([expect.stringMatching(new RegExp(`${n} \`server\` lines`))]);
  });

  it("ignores commented-out server lines when counting", () => {
    const c = conf([
      ...UPSTREAMS.slice(0, 3).map((u) => `server ${u} iburst`),
      "# server ntp9.example.net iburst",
      "restrict default noquery",
    ]);
    expect(checkNtpConf(c)).toEqual([expect.stringMatching(/3 `server` lines/)]);
  });

  it("rejects burst but not iburst", () => {
    const c = GOOD_CONF.replace("server ntp1.example.net iburst", "server ntp1.example.net burst");
    expect(checkNtpConf(c)).toEqual([expect.stringMatching(/uses burst/)]);
  });

  it("rejects *.pool.ntp.org upstreams (any case, trailing dot) and pool directives", () => {
    const c = conf([
      "server 0.DE.pool.ntp.org. iburst",
      ...UPSTREAMS.slice(1).map((u) => `server ${u} iburst`),
      "pool 2.debian.pool.ntp.org iburst",
      "restrict default noquery",
    ]);
    const problems = checkNtpConf(c);
    expect(problems).toContainEqual(expect.stringMatching(/0\.DE\.pool\.ntp\.org\. is a pool/));
    expect(problems).toContainEqual(expect.stringMatching(/`pool 2\.debian\.pool\.ntp\.org`/));
    expect(problems).toContainEqual(expect.stringMatching(/2\.debian\.pool\.ntp\.org is a pool/));
  });

  it("rejects a restrict default without noquery, or none at all", () => {
    const without = GOOD_CONF.replace(" noquery", "");
    expect(checkNtpConf(without)).toEqual([expect.stringMatching(/lacks noquery/)]);
    const none = conf(UPSTREAMS.map((u) => `server ${u} iburst`));
    expect(checkNtpConf(none)).toEqual([expect.stringMatching(/no `restrict default` line/)]);
    const v6 = `${GOOD_CONF}restrict -6 default kod limited\n`;
    expect(checkNtpConf(v6)).toEqual([expect.stringMatching(/restrict -6 default .* lacks/)]);
  });

  it("passes on the project's other upstream rules (e.g. loopback = LOCAL clock)", () => {
    const c = GOOD_CONF.replace("192.0.2.44", "127.127.1.0");
    expect(checkNtpConf(c)).toEqual([expect.stringMatching(/upstream 127\.127\.1\.0 must not be/)]);
  });
});

describe("user-data", () => {
  it("finds ntp.conf in the project's rendered user-data and accepts it", () => {
    const userData = renderUserData({ upstreams: UPSTREAMS, reservedIpv6: "2001:db8::5" });
    expect(ntpConfOf(userData)).toBe(renderNtpConf(UPSTREAMS));
    expect(checkDropletUserData({ userData })).toEqual([]);
  });

  it("decodes base64 write_files content", () => {
    const bad = GOOD_CONF.replace(" iburst", " burst");
    const userData = `#cloud-config\n${stringify({
      write_files: [
        {
          path: "/etc/ntpsec/ntp.conf",
          encoding: "b64",
          content: Buffer.from(bad).toString("base64"),
        },
      ],
    })}`;
    expect(checkDropletUserData({ userData })).toEqual([expect.stringMatching(/uses burst/)]);
  });

  it("reports user-data that is empty or writes no ntp.conf", () => {
    expect(checkDropletUserData({})).toEqual([expect.stringMatching(/userData: empty/)]);
    expect(checkDropletUserData({ userData: "#!/bin/sh\necho hi\n" })).toEqual([
      expect.stringMatching(/no #cloud-config write_files entry for ntp\.conf/),
    ]);
  });
});

function res(
  type: string,
  name: string,
  props: Record<string, unknown> = {},
  deps: Record<string, string[]> = {},
): StackResource {
  return {
    type,
    name,
    urn: `urn:pulumi:dev::ntp-pool::${type}::${name}`,
    props,
    propertyDependencies: deps,
  };
}

describe("checkReservedIps (stack)", () => {
  const d1 = res(TYPES.droplet, "ams-droplet");
  const d2 = res(TYPES.droplet, "nyc-droplet", { id: "4242" });

  it("is satisfied through the assignment's dependency on the droplet (preview: ids unknown)", () => {
    const a1 = res(TYPES.reservedIpAssignment, "ams-ip-assignment", {}, { dropletId: [d1.urn] });
    const a2 = res(TYPES.reservedIp, "nyc-ip", { dropletId: 4242 });
    expect(checkReservedIps([d1, d2, a1, a2])).toEqual([]);
  });

  it("names each droplet without a reserved IP", () => {
    const a1 = res(TYPES.reservedIpAssignment, "ams-ip-assignment", {}, { dropletId: [d1.urn] });
    expect(checkReservedIps([d1, d2, a1])).toEqual([
      expect.stringMatching(/^droplet nyc-droplet: no ReservedIp/),
    ]);
  });
});

describe("policy wiring (callbacks called directly, no policy server)", () => {
  function byName(name: string) {
    const p = policies.find((x) => x.name === name);
    if (p === undefined) throw new Error(`no policy ${name}`);
    return p;
  }

  function runResource(name: string, type: string, props: Record<string, unknown>): string[] {
    const p = byName(name) as ResourceValidationPolicy;
    const messages: string[] = [];
    const validate = p.validateResource;
    if (typeof validate !== "function") throw new Error("expected one validateResource");
    void validate(
      { type, props, urn: "urn:x", name: "x" } as unknown as ResourceValidationArgs,
      (m: string) => messages.push(m),
    );
    return messages;
  }

  it("enforcement levels: firewall, ntp.conf and reserved IP mandatory; SSH advisory", () => {
    expect(Object.fromEntries(policies.map((p) => [p.name, p.enforcementLevel]))).toEqual({
      "ntp-firewall-open": "mandatory",
      "ssh-not-world-open": "advisory",
      "ntp-conf-pool-rules": "mandatory",
      "droplet-has-reserved-ip": "mandatory",
    });
  });

  it("reports firewall violations only for firewalls", () => {
    expect(runResource("ntp-firewall-open", TYPES.firewall, {})).toHaveLength(3);
    expect(runResource("ntp-firewall-open", TYPES.droplet, {})).toEqual([]);
  });

  it("reports user-data violations only for droplets", () => {
    expect(runResource("ntp-conf-pool-rules", TYPES.droplet, { userData: "" })).toHaveLength(1);
    expect(runResource("ntp-conf-pool-rules", TYPES.firewall, {})).toEqual([]);
  });

  it("stack policy maps property dependencies to URNs", () => {
    const p = byName("droplet-has-reserved-ip") as StackValidationPolicy;
    const droplet = {
      type: TYPES.droplet,
      urn: "urn:d",
      name: "d",
      props: {},
      propertyDependencies: {},
    } as unknown as PolicyResource;
    const assignment = {
      type: TYPES.reservedIpAssignment,
      urn: "urn:a",
      name: "a",
      props: {},
      propertyDependencies: { dropletId: [droplet] },
    } as unknown as PolicyResource;
    const messages: string[] = [];
    const run = (resources: PolicyResource[]) =>
      p.validateStack({ resources } as unknown as StackValidationArgs, (m: string) =>
        messages.push(m),
      );
    void run([droplet, assignment]);
    expect(messages).toEqual([]);
    void run([droplet]);
    expect(messages).toEqual([expect.stringMatching(/droplet d: no ReservedIp/)]);
  });
});
