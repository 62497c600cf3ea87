import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderDmi, renderDropletCloudCfg } from "../../../lab/dropletFiles";
import {
  edgeRules,
  NO_EDGE_RULES,
  renderEdgeChange,
  renderEdgeTables,
} from "../../../lab/edgeRules";
import { covers, nftPorts, splitAddresses, translateRule } from "../../../lab/firewall";
import { parseModuleResults } from "../../../lab/memberCheck";
import { resizeMembers } from "../../../lab/stack";

describe("lab firewall translation", () => {
  it.each([
    ["123", 123],
    ["8000-9000", "8000-9000"],
    ["all", null],
    ["1-65535", null],
    [undefined, null],
  ])("portRange %s → %s", (v, want) => {
    expect(nftPorts("f", v)).toEqual(want);
  });

  it.each(["0-5", "70000", "9-3", "abc"])("rejects portRange %s naming the field", (v) => {
    expect(() => nftPorts("inboundRules[0].portRange", v)).toThrow(
      `inboundRules[0].portRange: portRange must be "all", a port or "lo-hi" within 1-65535; got "${v}"`,
    );
  });

  it("splits and normalises addresses by family", () => {
    expect(splitAddresses("f", ["0.0.0.0/0", "::/0", "192.0.2.7", "2001:db8::1"])).toEqual({
      v4: ["0.0.0.0/0", "192.0.2.7/32"],
      v6: ["::/0", "2001:db8::1/128"],
    });
    expect(() => splitAddresses("inboundRules[1].sourceAddresses", ["nope"])).toThrow(
      /inboundRules\[1\]\.sourceAddresses: "nope"/,
    );
  });

  it("translates tcp/udp/icmp rules per family", () => {
    expect(
      translateRule("inbound", 0, {
        protocol: "udp",
        portRange: "123",
        sourceAddresses: ["0.0.0.0/0", "::/0"],
      }),
    ).toEqual([
      'ip saddr 0.0.0.0/0 udp dport 123 counter accept comment "inboundRules[0] udp 123"',
      'ip6 saddr ::/0 udp dport 123 counter accept comment "inboundRules[0] udp 123"',
    ]);
    expect(
      translateRule("outbound", 2, {
        protocol: "tcp",
        portRange: "all",
        destinationAddresses: ["192.0.2.0/24", "198.51.100.0/24"],
      }),
    ).toEqual([
      'ip daddr { 192.0.2.0/24, 198.51.100.0/24 } meta l4proto tcp counter accept comment "outboundRules[2] tcp all"',
    ]);
    expect(
      translateRule("outbound", 5, { protocol: "icmp", destinationAddresses: ["::/0"] }),
    ).toEqual([
      'ip6 daddr ::/0 meta l4proto ipv6-icmp counter accept comment "outboundRules[5] icmp"',
    ]);
  });

  it("refuses what it cannot emulate instead of ignoring it", () => {
    expect(() =>
      translateRule("inbound", 3, { protocol: "tcp", portRange: "22", sourceTags: ["web"] }),
    ).toThrow(/inboundRules\[3\]\.sourceTags: not emulated/);
    expect(() =>
      translateRule("inbound", 0, { protocol: "gre", sourceAddresses: ["0.0.0.0/0"] }),
    ).toThrow(/inboundRules\[0\]\.protocol: must be tcp, udp or icmp; got "gre"/);
  });

  const fw = {
    name: "fw",
    tags: ["ntppool-a"],
    dropletIds: [],
    inboundRules: [{ protocol: "udp", portRange: "123", sourceAddresses: ["0.0.0.0/0"] }],
    outboundRules: [{ protocol: "udp", portRange: "123", destinationAddresses: ["0.0.0.0/0"] }],
  };

  it("covers droplets by tag or id, default-deny both ways only for covered droplets", () => {
    const a = { ifname: "d1", dropletId: "1", tags: ["ntppool-a"] };
    const b = { ifname: "d2", dropletId: "2", tags: ["other"] };
    expect(covers(fw, a)).toBe(true);
    expect(covers(fw, b)).toBe(false);
    expect(covers({ ...fw, tags: [], dropletIds: [2] }, b)).toBe(true);
    const rules = edgeRules(
      [
        { ...a, metadataPort: 9001 },
        { ...b, metadataPort: 9002 },
      ],
      [fw],
      new Map(),
    );
    expect([...rules.maps.fwIn]).toEqual([["d1", "jump d1_in"]]);
    expect([...rules.maps.fwOut]).toEqual([["d1", "jump d1_out"]]);
    expect([...rules.chains.keys()]).toEqual(["d1_in", "d1_out"]);
    const text = renderEdgeChange(NO_EDGE_RULES, rules).script;
    // d2 gets its metadata redirection only: no chain, no jump.
    expect(text).not.toContain("d2_");
    expect(text).not.toMatch(/fw_(in|out) \{ "d2"/);
    expect(text).toMatch(
      /add rule inet ntplab_fw d1_in ip saddr .*udp dport 123.*\n.*d1_in counter drop/,
    );
    expect(text).toMatch(
      /add rule inet ntplab_fw d1_out ip daddr 0\.0\.0\.0\/0 udp dport 123.*\n.*d1_out counter drop/,
    );
    const tables = renderEdgeTables();
    expect(tables.indexOf("ct state established,related accept")).toBeLessThan(
      tables.indexOf("oifname vmap @fw_in"),
    );
  });

  it("1:1 NAT: DNAT in, SNAT only from the anchor", () => {
    const rules = edgeRules([], [], new Map([["198.18.64.11", "10.10.1.2"]]));
    expect(renderEdgeChange(NO_EDGE_RULES, rules).script).toBe(
      [
        "add element ip ntplab_nat dnat4 { 198.18.64.11 : 10.10.1.2 }",
        "add element ip ntplab_nat snat4 { 10.10.1.2 : 198.18.64.11 }",
        "",
      ].join("\n"),
    );
    const tables = renderEdgeTables();
    expect(tables).toContain("dnat to ip daddr map @dnat4");
    expect(tables).toContain("snat to ip saddr map @snat4");
  });
});

describe("lab helpers", () => {
  it("resizes the member list: first N, then copies of the first", () => {
    const list = [
      { name: "a", region: "ams3" },
      { name: "b", region: "fra1" },
    ];
    expect(resizeMembers("m", list, 1)).toEqual([{ name: "a", region: "ams3" }]);
    expect(resizeMembers("m", list, 3)).toEqual([...list, { name: "a-3", region: "ams3" }]);
    expect(() => resizeMembers("ntp-pool:members", [], 2)).toThrow(/ntp-pool:members/);
  });

  it("parses cloud-init's per-module results", () => {
    const log =
      "2026 - handlers.py[DEBUG]: finish: init-network/config-write-files: SUCCESS: config-write-files ran successfully\n" +
      "2026 - handlers.py[DEBUG]: finish: modules-final/config-scripts-user: FAIL: running config-scripts-user with frequency once-per-instance\n";
    expect(parseModuleResults(log).map((m) => [m.stage, m.module, m.result])).toEqual([
      ["init-network", "write-files", "SUCCESS"],
      ["modules-final", "scripts-user", "FAIL"],
    ]);
  });

  it("selects cloud-init's DigitalOcean datasource without the link-local step a veth cannot take", () => {
    expect(parse(renderDropletCloudCfg())).toEqual({
      datasource_list: ["DigitalOcean", "None"],
      datasource: { DigitalOcean: { use_ip4LL: false } },
      system_info: { network: { renderers: ["eni"] } },
      disable_root: false,
    });
  });

  it("gives the droplet DigitalOcean's DMI vendor and its id as serial", () => {
    expect(renderDmi("470000001")).toEqual({
      sys_vendor: "DigitalOcean\n",
      product_serial: "470000001\n",
      product_name: "Droplet\n",
    });
  });
});
