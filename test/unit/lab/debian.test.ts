/**
 * lab/debian.ts: reading Debian's suite metadata and deciding whether a cached lab root is
 * older than the suites; test/helpers/hostPath.ts: which host packages the tests may use.
 */
import { describe, expect, it } from "vitest";
import {
  debFileNameVersion,
  describeStale,
  installedVersions,
  packageVersions,
  parseInRelease,
  parseStanzas,
  renderSourcesList,
  stalePackages,
  versionGreater,
} from "../../../lab/debian";
import { leapFileExpiry, leapFileProblem } from "../../../lab/leapFile";
import { dependencyClosure, parseInstalled } from "../../helpers/hostPath";

// The shape of bookworm-security's InRelease (2026-12-02), shortened.
const IN_RELEASE = `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian-Security
Suite: oldstable-security
Version: 12
Codename: bookworm-security
Date: Wed, 02 Dec 2026 23:13:43 UTC
Valid-Until: Wed, 09 Dec 2026 23:13:43 UTC
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/Contents-amd64
 ffdfc0b919fa70ee96eca136614b977b4aa3041920e03f1b7f755abe564d373f  2579986 main/binary-amd64/Packages
 a28f0765258285920aae9076f2e256ab3b8341ef03590fdf34e5839c36a9094a   385532 main/binary-amd64/Packages.xz
 1111111111111111111111111111111111111111111111111111111111111111      999 main/binary-arm64/Packages.xz
-----BEGIN PGP SIGNATURE-----

uFBx0DvWAy+ul2CR4CHi6m0ZlsUZB0cVtG2lDcBm+LQDE6z/rkxYLHQZMlifGxDJ
=w398
-----END PGP SIGNATURE-----
`;

describe("Debian suite metadata", () => {
  it("InRelease: the Date and the amd64 main index's SHA-256 and size", () => {
    expect(parseInRelease(IN_RELEASE)).toEqual({
      date: "Wed, 02 Dec 2026 23:13:43 UTC",
      sha256: "a28f0765258285920aae9076f2e256ab3b8341ef03590fdf34e5839c36a9094a",
      size: 385532,
    });
    expect(() => parseInRelease(IN_RELEASE.replace("main/binary-amd64/Packages.xz", "x"))).toThrow(
      /no SHA256 entry for main\/binary-amd64\/Packages.xz/,
    );
  });

  it("deb822 stanzas: continuation lines, blank-line separation", () => {
    expect(parseStanzas("A: 1\nB: two\n words\n\n\nA: 3\n")).toEqual([
      { A: "1", B: "two\nwords" },
      { A: "3" },
    ]);
  });

  it("Packages: the highest version of each package by dpkg's order (epochs, ~, +debNuM)", () => {
    const idx = packageVersions(
      [
        "Package: tzdata\nVersion: 2026b-0+deb12u1\n",
        "Package: tzdata\nVersion: 2026f-0+deb12u1\n",
        "Package: tzdata\nVersion: 2026e-0+deb12u1\n",
        "Package: openssh-server\nVersion: 1:9.2p1-2+deb12u7\n",
        "Package: openssh-server\nVersion: 1:9.2p1-2+deb12u10\n",
        "Package: x\nVersion: 1.0~rc1\n",
        "Package: x\nVersion: 0.9\n",
      ].join("\n"),
    );
    expect(Object.fromEntries(idx)).toEqual({
      tzdata: "2026f-0+deb12u1",
      "openssh-server": "1:9.2p1-2+deb12u10",
      x: "1.0~rc1",
    });
  });

  it("dpkg status: only packages whose Status is 'install ok installed'", () => {
    const status = [
      "Package: a\nStatus: install ok installed\nVersion: 1\n",
      "Package: b\nStatus: deinstall ok config-files\nVersion: 2\n",
      "Package: c\nStatus: install ok unpacked\nVersion: 3\n",
    ].join("\n");
    expect(Object.fromEntries(installedVersions(status))).toEqual({ a: "1" });
  });

  it("dpkg's version order", () => {
    const cases: [string, string, boolean][] = [
      ["2026f-0+deb12u1", "2026b-0+deb12u1", true],
      ["2026b-0+deb12u1", "2026f-0+deb12u1", false],
      ["1:1.0", "2.0", true],
      ["1.0~rc1", "1.0", false],
      ["1.2.2+dfsg1-1+deb12u2", "1.2.2+dfsg1-1+deb12u1", true],
      ["1.0", "1.0", false],
    ];
    expect(cases.map(([a, b]) => versionGreater(a, b))).toEqual(cases.map(([, , g]) => g));
  });

  it("a root is stale for each package a changed suite has newer, named with the suite", () => {
    const have = new Map([
      ["tzdata", "2026b-0+deb12u1"],
      ["openssh-server", "1:9.2p1-2+deb12u7"],
      ["ntpsec", "1.2.2+dfsg1-1+deb12u1"],
      ["libc6", "2.36-9+deb12u13"],
    ]);
    const offered = new Map([
      [
        "bookworm-updates",
        new Map([
          ["tzdata", "2026e-0+deb12u1"],
          ["ntpsec", "1.2.2+dfsg1-1+deb12u1"],
        ]),
      ],
      [
        "bookworm-security",
        new Map([
          ["tzdata", "2026f-0+deb12u1"],
          ["openssh-server", "1:9.2p1-2+deb12u8"],
          ["libc6", "2.36-9+deb12u12"],
          ["curl", "7.88.1-10+deb12u20"],
        ]),
      ],
    ]);
    const stale = stalePackages(have, offered);
    expect(stale).toEqual([
      {
        name: "openssh-server",
        have: "1:9.2p1-2+deb12u7",
        suite: "bookworm-security",
        newer: "1:9.2p1-2+deb12u8",
      },
      {
        name: "tzdata",
        have: "2026b-0+deb12u1",
        suite: "bookworm-security",
        newer: "2026f-0+deb12u1",
      },
    ]);
    expect(describeStale(stale)).toBe(
      "openssh-server 1:9.2p1-2+deb12u7 → 1:9.2p1-2+deb12u8 (bookworm-security), tzdata 2026b-0+deb12u1 → 2026f-0+deb12u1 (bookworm-security)",
    );
    expect(stalePackages(have, new Map())).toEqual([]);
  });

  it("sources.list: Debian 12's three suites, security from debian-security", () => {
    expect(renderSourcesList()).toBe(
      [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
        "",
      ].join("\n"),
    );
  });

  it(".deb file names: package and version, the epoch's %3a decoded", () => {
    expect(debFileNameVersion("openssh-server_1%3a9.2p1-2+deb12u7_amd64.deb")).toEqual({
      name: "openssh-server",
      version: "1:9.2p1-2+deb12u7",
    });
    expect(debFileNameVersion("tzdata_2026f-0+deb12u1_all.deb")).toEqual({
      name: "tzdata",
      version: "2026f-0+deb12u1",
    });
    expect(debFileNameVersion("lock")).toBeUndefined();
  });
});

describe("leap-second file validity", () => {
  // #@ of tzdata 2026b (bookworm) and 2026f (bookworm-security): 28 Dec 2026, 28 Jun 2027.
  const OLD = "#@\t4007404800\n";
  const NEW = "#@\t4023129600\n";
  const at = (iso: string) => Date.parse(iso) / 1000;

  it("reads the #@ expiry in Unix seconds", () => {
    expect(new Date(leapFileExpiry(OLD) * 1000).toISOString()).toBe("2026-12-28T00:00:00.000Z");
    expect(new Date(leapFileExpiry(NEW) * 1000).toISOString()).toBe("2027-06-28T00:00:00.000Z");
    expect(() => leapFileExpiry("# no expiry\n")).toThrow(/no #@ expiry line/);
  });

  it("fails inside 30 days and after expiry, naming what holds the file", () => {
    const cases: [string, string, string | undefined][] = [
      [OLD, "2026-11-27T00:00:00Z", undefined],
      [
        OLD,
        "2026-12-05T00:00:00Z",
        "img: leap-seconds.list expires on 2026-12-28, 23.0 days after 2026-12-05 (under 30)",
      ],
      [
        OLD,
        "2027-01-15T00:00:00Z",
        "img: leap-seconds.list expired on 2026-12-28 (today is 2027-01-15)",
      ],
      [NEW, "2027-01-15T00:00:00Z", undefined],
      [
        NEW,
        "2027-06-01T00:00:00Z",
        "img: leap-seconds.list expires on 2027-06-28, 27.0 days after 2027-06-01 (under 30)",
      ],
    ];
    expect(cases.map(([f, now]) => leapFileProblem("img", leapFileExpiry(f), at(now)))).toEqual(
      cases.map(([, , want]) => want),
    );
  });
});

describe("host packages the tests may use", () => {
  const DPKG = [
    "coreutils\tyes\trequired\tinstall ok installed\t\tlibc6 (>= 2.34)\t",
    "mount\tno\trequired\tinstall ok installed\t\tutil-linux (= 2.38.1-5+deb12u3)\t",
    "util-linux\tyes\trequired\tinstall ok installed\t\t\t",
    "libc6\tno\toptional\tinstall ok installed\t\t\t",
    "dpkg-dev\tno\toptional\tinstall ok installed\t\tperl:any, xz-utils (>= 5.4.0), make | build-essential\t",
    "xz-utils\tno\tstandard\tinstall ok installed\t\tliblzma5\t",
    "make\tno\toptional\tinstall ok installed\t\t\t",
    "perl\tno\tstandard\tinstall ok installed\t\t\tperl-modules",
    "mawk\tno\trequired\tinstall ok installed\t\t\tawk",
    "gawk\tno\toptional\tinstall ok installed\t\t\tawk",
    "debconf\tno\trequired\tinstall ok installed\t\tawk\t",
    "python3\tno\toptional\tinstall ok installed\t\tpython3.11\t",
    "python3.11\tno\toptional\tinstall ok installed\t\t\t",
    "nftables\tno\toptional\tdeinstall ok config-files\t\t\t",
  ].join("\n");

  it("docs/host-safety.md's packages, the base system (Essential, Priority required) and their dependencies, nothing else", () => {
    const installed = parseInstalled(DPKG);
    expect(installed.map((p) => p.name)).not.toContain("nftables");
    const closure = [...dependencyClosure(installed, ["dpkg-dev"])].sort();
    // debconf depends on the virtual awk: both installed providers count; python3 does not.
    expect(closure).toEqual([
      "coreutils",
      "debconf",
      "dpkg-dev",
      "gawk",
      "libc6",
      "make",
      "mawk",
      "mount",
      "perl",
      "util-linux",
      "xz-utils",
    ]);
  });
});
