import { describe, expect, it } from "vitest";
import {
  accountLimitProblems,
  regionChangeProblems,
  resolveAdminKeys,
} from "../../components/preflightRules";
import type { MemberConfig } from "../../components/validate";

const member = (name: string, region: string): MemberConfig => ({
  name,
  region,
  size: "s-1vcpu-1gb",
  image: "debian-12-x64",
  ipv6: true,
  upstreams: [],
});

describe("regionChangeProblems", () => {
  it("first deployment, same region, new member, odd previous data: no problem", () => {
    const members = [member("a", "ams3"), member("b", "fra1")];
    expect(regionChangeProblems(members, undefined)).toEqual([]);
    expect(regionChangeProblems(members, { a: { region: "ams3" } })).toEqual([]);
    expect(regionChangeProblems(members, { a: { region: 7 }, c: { region: "nyc3" } })).toEqual([]);
  });

  it("a moved member is one problem naming it, both regions and the steps", () => {
    const [p, ...rest] = regionChangeProblems([member("a", "ams3"), member("b", "sfo3")], {
      a: { region: "ams3" },
      b: { region: "nyc3" },
    });
    expect(rest).toEqual([]);
    expect(p).toMatch(
      /^members\[1\]\.region: member "b" was deployed in "nyc3" and its reserved IPs cannot move region, so a region change is a new member \(got "sfo3"\)\. Keep "b" in "nyc3" and, to move it: 1\. add a member with a new name in "sfo3"/,
    );
    expect(p).toContain("pulumi stack --show-urns | grep b-ip");
  });
});

describe("accountLimitProblems", () => {
  it.each([
    // [members, account, problems, warnings]
    [3, { dropletLimit: 25, floatingIpLimit: 3 }, 0, 0],
    [4, { dropletLimit: 25, floatingIpLimit: 3 }, 1, 0],
    [3, { dropletLimit: 5, floatingIpLimit: 10 }, 0, 1],
    [6, { dropletLimit: 5, floatingIpLimit: 10 }, 1, 0],
    [2, {}, 0, 0],
    [2, { dropletLimit: 0, floatingIpLimit: 0 }, 0, 0],
  ] as const)("%i members, %o: %i problems, %i warnings", (n, acct, p, w) => {
    const r = accountLimitProblems(n, acct);
    expect([r.problems.length, r.warnings.length]).toEqual([p, w]);
  });

  it("messages name the count, the limit and what to do", () => {
    expect(accountLimitProblems(4, { floatingIpLimit: 3 }).problems).toEqual([
      "members: 4 members need 4 reserved IPv4 addresses, and this DigitalOcean account allows 3 (its reserved IP limit) — ask DigitalOcean support to raise it, or deploy at most 3 members",
    ]);
    expect(accountLimitProblems(3, { dropletLimit: 5 }).warnings[0]).toMatch(
      /^members: a change that replaces every droplet at once \(upstreams, image, size\) runs 6 droplets for a few minutes, and this account allows 5/,
    );
  });
});

describe("resolveAdminKeys", () => {
  const keys = [
    {
      id: 7,
      fingerprint: "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa",
      publicKey: "ssh-ed25519 AAAA alice\n",
    },
    {
      id: 8,
      fingerprint: "11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00",
      publicKey: "ssh-rsa BBBB bob",
    },
  ];

  it("by fingerprint or id, trimmed, each key once", () => {
    expect(
      resolveAdminKeys(["8", "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa", "7"], keys),
    ).toEqual({
      publicKeys: ["ssh-rsa BBBB bob", "ssh-ed25519 AAAA alice"],
      problems: [],
    });
  });

  it("an unknown reference is a problem naming its position and value", () => {
    expect(resolveAdminKeys(["9"], keys).problems).toEqual([
      'sshKeyFingerprints[0]: no SSH key with this fingerprint or id in the DigitalOcean account (2 keys there; add it with doctl compute ssh-key import) (got "9")',
    ]);
  });
});
