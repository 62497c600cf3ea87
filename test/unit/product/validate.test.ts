import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEFAULTS } from "../../../components/defaults";
import {
  ConfigError,
  checkCidr,
  parseFleetConfig,
  SETTING_NAMES,
} from "../../../components/validate";

const BASE = {
  members: [{ name: "ams-1", region: "ams3" }],
  upstreams: ["ntp1.time.nl", "ptbtime1.ptb.de", "ptbtime2.ptb.de", "sth1.ntp.se"],
  sshSourceCidrs: ["198.51.100.7/32"],
};

describe("parseFleetConfig", () => {
  it("applies every default from one place", () => {
    const { config, warnings } = parseFleetConfig(BASE);
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      members: [
        {
          name: "ams-1",
          region: "ams3",
          size: DEFAULTS.size,
          image: DEFAULTS.image,
          ipv6: DEFAULTS.ipv6,
          upstreams: BASE.upstreams,
        },
      ],
      sshSourceCidrs: BASE.sshSourceCidrs,
      sshKeyFingerprints: [],
      tags: [],
      projectName: undefined,
      protectReservedIp: true,
      verifyTimeoutSeconds: 600,
      requireIpv6OutsideCheck: false,
    });
  });

  it("derives the setting names and the config's fields from one declaration", () => {
    expect(SETTING_NAMES).toEqual([
      "members",
      "size",
      "image",
      "ipv6",
      "upstreams",
      "sshSourceCidrs",
      "sshKeyFingerprints",
      "tags",
      "projectName",
      "protectReservedIp",
      "verifyTimeoutSeconds",
      "requireIpv6OutsideCheck",
    ]);
    // The four a member inherits live on each member instead.
    const inherited = ["size", "image", "ipv6", "upstreams"];
    const { config } = parseFleetConfig(BASE);
    expect(Object.keys(config)).toEqual(SETTING_NAMES.filter((n) => !inherited.includes(n)));
    expect(Object.keys(config.members[0] ?? {})).toEqual(["name", "region", ...inherited]);
  });

  it("lets a member override the fleet's size, image, IPv6 and upstreams", () => {
    const own = ["a.example.net", "b.example.net", "c.example.net", "192.0.2.1"];
    const { config } = parseFleetConfig({
      ...BASE,
      size: "s-2vcpu-2gb",
      members: [
        { name: "a", region: "ams3" },
        {
          name: "b",
          region: "fra1",
          size: "s-1vcpu-2gb",
          image: "ubuntu-24-04-x64",
          ipv6: false,
          upstreams: own,
        },
      ],
    });
    expect(config.members[0]).toMatchObject({ size: "s-2vcpu-2gb", ipv6: true });
    expect(config.members[1]).toMatchObject({
      size: "s-1vcpu-2gb",
      image: "ubuntu-24-04-x64",
      ipv6: false,
      upstreams: own,
    });
  });

  it("warns loudly, but accepts, SSH open to the world", () => {
    const { warnings } = parseFleetConfig({ ...BASE, sshSourceCidrs: ["0.0.0.0/0", "::/0"] });
    expect(warnings).toEqual([
      "sshSourceCidrs[0]: 0.0.0.0/0 opens SSH (TCP 22) to the whole internet; keys-only login is enforced, but list your own addresses instead",
      "sshSourceCidrs[1]: ::/0 opens SSH (TCP 22) to the whole internet; keys-only login is enforced, but list your own addresses instead",
    ]);
  });

  it("reports every problem at once, and a bad fleet-wide value once", () => {
    const err = (() => {
      try {
        parseFleetConfig({
          ...BASE,
          image: "Debian 12",
          members: [
            { name: "a", region: "ams3" },
            { name: "b", region: "x" },
          ],
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'image: must be one of debian-12-x64, ubuntu-24-04-x64 — the images whose first boot the user-data is written for (NTPsec 1.2 packaged as ntpsec, cloud-init running packages before runcmd) (got "Debian 12")',
      'members[1].region: must be a DigitalOcean region slug, three letters and a digit such as "ams3" (got "x")',
    ]);
    expect((err as ConfigError).message).toMatch(
      /^invalid ntp-pool configuration \(2 problems\):\n {2}- image: /,
    );
  });
});

describe("checkCidr", () => {
  it.each([
    ["198.51.100.0/24", undefined],
    ["2001:db8::/32", undefined],
    ["198.51.100.1/24", "has host bits set; the network is 198.51.100.0/24"],
    ["2001:db8::1/32", "has host bits set; the network is 2001:db8::/32"],
    ["198.51.100.1", 'must be a CIDR such as "203.0.113.7/32" or "2001:db8::/48"'],
    ["198.51.100.0/33", 'must be a CIDR such as "203.0.113.7/32" or "2001:db8::/48"'],
  ])("%s", (cidr, problem) => {
    expect(checkCidr(cidr)).toBe(problem);
  });
});

describe("Pulumi.yaml", () => {
  const project = parse(readFileSync(`${__dirname}/../../../Pulumi.yaml`, "utf8")) as {
    name: string;
    config: Record<string, { type: string; description: string; default?: unknown }>;
  };

  it("declares the config namespace's settings with the defaults of components/defaults.ts", () => {
    expect(project.name).toBe("ntp-pool");
    for (const [key, decl] of Object.entries(project.config)) {
      expect(SETTING_NAMES as readonly string[]).toContain(key);
      expect(decl.description.length, key).toBeGreaterThan(10);
      if (key in DEFAULTS) {
        expect(decl.default, key).toEqual(DEFAULTS[key as keyof typeof DEFAULTS]);
      }
    }
    // Every scalar default is declared for the CLI; only `members` (a list of mappings) is not.
    for (const key of Object.keys(DEFAULTS)) expect(project.config[key], key).toBeDefined();
    expect(Object.keys(project.config).sort()).toEqual(
      SETTING_NAMES.filter((s) => s !== "members").sort(),
    );
  });

  it("the example stack is valid", () => {
    const stack = parse(readFileSync(`${__dirname}/../../../Pulumi.dev.yaml`, "utf8")) as {
      config: Record<string, unknown>;
    };
    const raw = Object.fromEntries(
      Object.entries(stack.config).map(([k, v]) => [k.replace(/^ntp-pool:/, ""), v]),
    );
    const { config } = parseFleetConfig(raw);
    expect(config.members).toHaveLength(1);
    expect(config.members[0]?.upstreams).toHaveLength(4);
  });
});
