import { describe, expect, it } from "vitest";
import {
  renderLocalVerifyCommand,
  renderRemoteVerifyCommand,
  shellJoin,
  shellQuote,
} from "../../../verify/commands";
import { combineSummary, lastJsonLine } from "../../../verify/summary";

describe("shellQuote", () => {
  it.each([
    ["ntp1.example.net", "ntp1.example.net"],
    ["2001:db8::1", "2001:db8::1"],
    ["/opt/node/bin/node", "/opt/node/bin/node"],
    ["", "''"],
    ["a b", "'a b'"],
    ["$(reboot)", "'$(reboot)'"],
    ["`id`", "'`id`'"],
    ["x'; rm -rf / #", "'x'\\''; rm -rf / #'"],
    ["A=b", "'A=b'"],
    ["~root", "'~root'"],
    ["a\nb", "'a\nb'"],
    ["*", "'*'"],
  ])("%j -> %s", (input, quoted) => {
    expect(shellQuote(input)).toBe(quoted);
  });

  it("refuses NUL, which no argv can carry", () => {
    expect(() => shellQuote("a\0b")).toThrow(/contains NUL/);
  });
});

describe("renderRemoteVerifyCommand", () => {
  it("runs the script from stdin with the timeout and each upstream", () => {
    expect(
      renderRemoteVerifyCommand({ timeoutSeconds: 600, upstreams: ["ntp1.example", "192.0.2.1"] }),
    ).toBe("sh -s -- --timeout 600 --upstream ntp1.example --upstream 192.0.2.1");
  });

  it("quotes a hostile upstream into one word", () => {
    expect(
      renderRemoteVerifyCommand({ timeoutSeconds: 5, upstreams: ["a; touch /tmp/pwned"] }),
    ).toBe("sh -s -- --timeout 5 --upstream 'a; touch /tmp/pwned'");
  });

  it.each([0, -1, 1.5, Number.NaN])("rejects timeout %s", (t) => {
    expect(() => renderRemoteVerifyCommand({ timeoutSeconds: t, upstreams: [] })).toThrow(
      /timeoutSeconds: must be a whole number of seconds >= 1/,
    );
  });
});

describe("renderLocalVerifyCommand", () => {
  const guard =
    'test -f verify/outside.ts || { echo "outside check: verify/outside.ts not found in $PWD: run pulumi from the project directory" >&2; exit 2; }; ';

  it("IPv4 only: the same text on every machine (no absolute path)", () => {
    expect(renderLocalVerifyCommand({ ipv4: "203.0.113.7", upstreams: ["ntp1.example"] })).toBe(
      `${guard}node --import tsx verify/outside.ts --ipv4 203.0.113.7 --upstream ntp1.example --json`,
    );
  });

  it("the pre-assignment form: wait, SSH probe naming the sources, IPv6 required", () => {
    expect(
      renderLocalVerifyCommand({
        ipv4: "192.0.2.10",
        ipv6: "2001:db8::a",
        upstreams: [],
        waitSeconds: 600,
        ssh: { port: 22, sources: ["198.51.100.7/32", "2001:db8:9::/48"] },
        requireIpv6: true,
      }),
    ).toBe(
      `${guard}node --import tsx verify/outside.ts --ipv4 192.0.2.10 --ipv6 2001:db8::a --wait-seconds 600 --ssh-port 22 --ssh-source 198.51.100.7/32 --ssh-source 2001:db8:9::/48 --require-ipv6 --json`,
    );
  });

  it("an address from a hostile provider response stays one argument", () => {
    const cmd = renderLocalVerifyCommand({ ipv4: "1.2.3.4 --ipv6 ::1; id", upstreams: [] });
    expect(cmd).toContain("--ipv4 '1.2.3.4 --ipv6 ::1; id' --json");
  });

  it("shellJoin quotes each word separately", () => {
    expect(shellJoin(["echo", "a b", "c"])).toBe("echo 'a b' c");
  });
});

const onDropletLine = JSON.stringify({
  check: "on-droplet",
  synced: true,
  secondsToSync: 9,
  stratum: 2,
  leap: "00",
  systemPeer: "198.18.0.11",
  reachableUpstreams: 4,
  upstreamCount: 4,
  offsetMs: 0.004,
  leapFileExpires: "2027-06-28T00:00Z",
  lastLeapSecond: "2017-01-01T00:00Z",
  cloudInit: "done",
  upstreams: [
    { host: "ntp1.example", answered: true, stratum: 1, offsetMs: -0.1, leap: "no-leap" },
    { host: "ntp2.example", answered: false, error: "no answer" },
  ],
  warnings: ["leap-second file expires soon"],
  extra: "dropped",
});
const address = {
  address: "203.0.113.7",
  stratum: 2,
  leap: 0,
  refid: "198.18.0.11",
  offsetMs: 0.1,
  delayMs: 0.5,
  relativeTo: "upstream ntp1.example (198.18.0.11)",
  mode6Refused: true,
  samples: 3,
};
const outsideLine = JSON.stringify({ check: "outside", ipv4: address, warnings: ["w"] });

describe("combineSummary", () => {
  it("merges the last JSON line of both checks; warnings are prefixed; unknown keys dropped", () => {
    const s = combineSummary(`progress\n${onDropletLine}\n`, `${outsideLine}\n\n`);
    expect(s).toEqual({
      synced: true,
      secondsToSync: 9,
      stratum: 2,
      systemPeer: "198.18.0.11",
      reachableUpstreams: 4,
      upstreamCount: 4,
      offsetMs: 0.004,
      leapFileExpires: "2027-06-28T00:00Z",
      cloudInit: "done",
      upstreams: [
        { host: "ntp1.example", answered: true, stratum: 1, offsetMs: -0.1, leap: "no-leap" },
        { host: "ntp2.example", answered: false, error: "no answer" },
      ],
      outside: { ipv4: address },
      warnings: ["on-droplet: leap-second file expires soon", "outside: w"],
    });
    expect(JSON.stringify(s)).not.toContain("dropped");
  });

  it("carries IPv6 when the outside check had it", () => {
    const withV6 = JSON.stringify({
      check: "outside",
      ipv4: address,
      ipv6: { ...address, address: "2001:db8::7" },
      warnings: [],
    });
    expect(combineSummary(onDropletLine, withV6).outside.ipv6?.address).toBe("2001:db8::7");
  });

  it("names the check whose output is not JSON", () => {
    expect(() => combineSummary("", outsideLine)).toThrow(/on-droplet check: no output/);
    expect(() => lastJsonLine("x\nnot json", "outside check")).toThrow(
      /outside check: last line is not JSON: "not json"/,
    );
  });

  it("rejects a summary that does not say synced", () => {
    expect(() =>
      combineSummary(onDropletLine.replace('"synced":true', '"synced":false'), outsideLine),
    ).toThrow(/synced/);
  });
});
