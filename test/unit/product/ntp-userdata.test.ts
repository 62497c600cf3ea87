import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderNtpConf } from "../../../cloud-init/ntpConf";
import { renderUserData } from "../../../cloud-init/userData";
import { ntpConfDirectives, ntpConfOf, upstreamNames } from "../../../ntp/userData";

// The one reader of rendered user-data (ntp/userData.ts): the policy pack checks the
// ntp.conf it finds, the lab starts an upstream per name in it.

const UPSTREAMS = ["ntp1.example.net", "ntp2.example.net", "192.0.2.44", "2001:db8::44"];
const cloudConfig = (files: readonly Record<string, string>[]) =>
  `#cloud-config\n${stringify({ write_files: files })}`;

describe("ntpConfOf", () => {
  it("reads back exactly the ntp.conf the renderer wrote", () => {
    const userData = renderUserData({ upstreams: UPSTREAMS, reservedIpv6: "2001:db8::5" });
    expect(ntpConfOf(userData)).toBe(renderNtpConf(UPSTREAMS));
    expect(upstreamNames(ntpConfOf(userData) ?? "")).toEqual(UPSTREAMS);
  });

  it.each([
    ["plain", [{ path: "/etc/ntpsec/ntp.conf", content: "server a\n" }], "server a\n"],
    [
      "b64",
      [
        {
          path: "/etc/ntp.conf",
          encoding: "b64",
          content: Buffer.from("server b\n").toString("base64"),
        },
      ],
      "server b\n",
    ],
    [
      "BASE64",
      [
        {
          path: "ntp.conf",
          encoding: "BASE64",
          content: Buffer.from("server c\n").toString("base64"),
        },
      ],
      "server c\n",
    ],
    [
      "the first of two",
      [
        { path: "/etc/ntpsec/ntp.conf", content: "server d\n" },
        { path: "/etc/ntp.conf", content: "server e\n" },
      ],
      "server d\n",
    ],
    [
      "a file merely ending in ntp.conf",
      [{ path: "/etc/my-ntp.conf", content: "server f\n" }],
      undefined,
    ],
    ["no ntp.conf", [{ path: "/etc/other", content: "server g\n" }], undefined],
  ] as const)("%s", (_name, files, want) => {
    expect(ntpConfOf(cloudConfig(files))).toBe(want);
  });

  it.each([
    ["a shell script", "#!/bin/sh\necho hi\n"],
    ["empty", ""],
    ["broken YAML", "#cloud-config\nwrite_files: [\n"],
    ["no write_files", "#cloud-config\npackages: [ntpsec]\n"],
  ])("%s has none", (_name, userData) => {
    expect(ntpConfOf(userData)).toBeUndefined();
  });
});

describe("upstreamNames and ntpConfDirectives", () => {
  const conf = [
    "# server commented.example",
    "server a.example iburst   # first",
    "pool b.example",
    "peer c.example",
    "server a.example",
    "restrict default kod limited nomodify noquery",
    "",
  ].join("\n");

  it("names each server, pool and peer host once, in order", () => {
    expect(upstreamNames(conf)).toEqual(["a.example", "b.example", "c.example"]);
  });

  it("drops comments and blank lines, splits words", () => {
    expect(ntpConfDirectives(conf)).toEqual([
      ["server", "a.example", "iburst"],
      ["pool", "b.example"],
      ["peer", "c.example"],
      ["server", "a.example"],
      ["restrict", "default", "kod", "limited", "nomodify", "noquery"],
    ]);
  });
});
