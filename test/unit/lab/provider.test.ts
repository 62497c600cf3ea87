import { describe, expect, it } from "vitest";
import { waitForState } from "../../../lab/provider/client";
import { dropletCreateRequest } from "../../../lab/provider/droplet";
import { firewallRequest } from "../../../lab/provider/firewall";
import { matches } from "../../../lab/provider/sshKeys";
import { DROPLET_INPUTS } from "../../helpers/labFixtures";

// The driver's request shapes and StateChangeConf, against what
// terraform-provider-digitalocean v2.99.1 sends and does (files cited in lab/provider/).

describe("lab driver: StateChangeConf", () => {
  const conf = (
    states: (string | undefined)[],
    extra: Partial<Parameters<typeof waitForState>[0]> = {},
  ) => {
    const seen: number[] = [];
    const t0 = Date.now();
    let i = 0;
    return {
      seen,
      conf: {
        what: "droplet 1 status",
        pending: ["new"],
        target: ["active"],
        delay: 10,
        minTimeout: 3,
        timeout: 3600,
        refresh: async () => {
          seen.push(Date.now() - t0);
          const s = states[Math.min(i++, states.length - 1)];
          return s === undefined ? undefined : { result: s, state: s };
        },
        ...extra,
      },
    };
  };

  it("sleeps Delay, refreshes at once, then waits at least MinTimeout (scaled by the knob)", async () => {
    const { seen, conf: c } = conf(["new", "new", "active"]);
    // scale 0.01: Delay 10 s → 100 ms, MinTimeout 3 s → 30 ms.
    expect(await waitForState(c, { scale: 0.01 })).toBe("active");
    expect(seen).toHaveLength(3);
    expect(seen[0]).toBeGreaterThanOrEqual(95);
    expect((seen[1] ?? 0) - (seen[0] ?? 0)).toBeGreaterThanOrEqual(28);
    expect((seen[2] ?? 0) - (seen[1] ?? 0)).toBeGreaterThanOrEqual(28);
  });

  it("fails at once on a state outside pending and target", async () => {
    const { seen, conf: c } = conf(["new", "archive", "active"]);
    await expect(waitForState(c, { scale: 0.001 })).rejects.toThrow(/unexpected state 'archive'/);
    expect(seen).toHaveLength(2);
  });

  it("fails after more than NotFoundChecks not-found refreshes", async () => {
    const { seen, conf: c } = conf([undefined], { notFoundChecks: 3 });
    await expect(waitForState(c, { scale: 0.001 })).rejects.toThrow(
      /couldn't find resource \(4 retries\)/,
    );
    expect(seen).toHaveLength(4);
  });
});

describe("lab driver: request bodies", () => {
  it("sends a droplet create as expandDropletCreateRequest does", () => {
    const req = dropletCreateRequest("web", {
      ...DROPLET_INPUTS,
      sshKeys: ["41000001", "3b:16:bf:00"],
    });
    expect(req).toEqual({
      name: "ams-ntp-1",
      region: "ams3",
      size: "s-1vcpu-1gb",
      image: "debian-12-x64",
      ssh_keys: [41000001, "3b:16:bf:00"],
      backups: false,
      ipv6: true,
      private_networking: false,
      monitoring: true,
      tags: ["ntppool-ams-ntp-1"],
      user_data: "#cloud-config\n",
    });
    expect(dropletCreateRequest("x", { image: "12345" }).image).toBe(12345);
    expect(dropletCreateRequest("x", {}).ssh_keys).toBeNull();
  });

  it("sends a firewall with sources/destinations objects and no port for icmp", () => {
    const req = firewallRequest("fw", {
      name: "ams-fw",
      tags: ["t"],
      inboundRules: [
        { protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.0/24"] },
        { protocol: "icmp", sourceAddresses: ["0.0.0.0/0"] },
      ],
      outboundRules: [{ protocol: "udp", portRange: "123", destinationAddresses: ["0.0.0.0/0"] }],
    });
    expect(req).toEqual({
      name: "ams-fw",
      droplet_ids: null,
      tags: ["t"],
      inbound_rules: [
        { protocol: "tcp", ports: "22", sources: { addresses: ["198.51.100.0/24"] } },
        { protocol: "icmp", sources: { addresses: ["0.0.0.0/0"] } },
      ],
      outbound_rules: [
        { protocol: "udp", ports: "123", destinations: { addresses: ["0.0.0.0/0"] } },
      ],
    });
  });

  it("filters SSH keys as the datalist does (exact, substring, all)", () => {
    const k = { id: 1, name: "alice laptop", fingerprint: "aa:bb" };
    expect(matches(k, { key: "fingerprint", values: ["aa:bb", "cc"] })).toBe(true);
    expect(matches(k, { key: "fingerprint", values: ["aa"] })).toBe(false);
    expect(matches(k, { key: "name", values: ["alice"], matchBy: "substring" })).toBe(true);
    expect(
      matches(k, { key: "name", values: ["alice", "bob"], all: true, matchBy: "substring" }),
    ).toBe(false);
  });
});
