import { describe, expect, it } from "vitest";
import {
  accountLimitProblems,
  apiFailureProblem,
  type Catalog,
  catalogProblems,
  regionChangeProblems,
  resolveAdminKeys,
} from "../../../components/preflightRules";
import type { MemberConfig } from "../../../components/validate";

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

describe("catalogProblems (DigitalOcean's own catalog)", () => {
  const catalog: Catalog = {
    regions: [
      { slug: "ams3", available: true, sizes: ["s-1vcpu-1gb", "s-2vcpu-2gb"] },
      { slug: "fra1", available: true, sizes: ["s-1vcpu-1gb"] },
      { slug: "sfo1", available: false, sizes: [] },
    ],
    sizes: [
      { slug: "s-1vcpu-1gb", available: true, regions: ["ams3", "fra1"] },
      { slug: "s-2vcpu-2gb", available: true, regions: ["ams3"] },
      { slug: "s-1vcpu-512mb", available: false, regions: [] },
    ],
    images: [{ slug: "debian-12-x64", regions: ["ams3"] }],
  };
  const m = (over: Partial<MemberConfig>): MemberConfig => ({ ...member("a", "ams3"), ...over });

  it("offered values pass", () => {
    expect(catalogProblems([m({}), m({ name: "b", size: "s-2vcpu-2gb" })], catalog)).toEqual([]);
  });

  it.each([
    [
      { region: "xyz9" },
      'members[0].region: DigitalOcean has no region "xyz9"; its catalog (GET /v2/regions) takes new droplets in ams3, fra1 (got "xyz9")',
    ],
    [
      { region: "sfo1" },
      'members[0].region: DigitalOcean\'s region "sfo1" takes no new droplets (available: false in GET /v2/regions); pick one of ams3, fra1 (got "sfo1")',
    ],
    [
      { size: "s-1vcpu-3gb" },
      'members[0].size: DigitalOcean has no droplet size "s-1vcpu-3gb" (GET /v2/sizes; `doctl compute size list` shows them) (got "s-1vcpu-3gb")',
    ],
    [
      { size: "s-1vcpu-512mb" },
      'members[0].size: DigitalOcean no longer offers size "s-1vcpu-512mb" for new droplets (available: false in GET /v2/sizes) (got "s-1vcpu-512mb")',
    ],
    [
      { region: "fra1", size: "s-2vcpu-2gb" },
      'members[0].size: size "s-2vcpu-2gb" is not offered in "fra1"; DigitalOcean offers it in ams3 (got "s-2vcpu-2gb")',
    ],
    [
      { image: "ubuntu-24-04-x64" },
      'members[0].image: DigitalOcean offers no image "ubuntu-24-04-x64" (none with this slug in GET /v2/images) (got "ubuntu-24-04-x64")',
    ],
  ] as const)("%o: one problem naming the setting, the catalog and the value", (over, problem) => {
    const problems = catalogProblems([m(over)], catalog);
    expect(problems[0]).toBe(problem);
    // An image missing from fra1 is reported too, but only once per cause.
    expect(problems.length).toBeLessThanOrEqual(2);
  });
});

describe("apiFailureProblem: one line naming what to fix", () => {
  // The provider's error texts: godo's "<METHOD> <URL>: <status> (request "<id>") <message>"
  // behind the data source's prefix (account/datasource_account.go "Error retrieving account").
  const http = (status: number, message: string) =>
    `Error retrieving account: GET https://api.digitalocean.com/v2/account: ${status} (request "4d1c") ${message}`;

  it.each([
    [
      http(401, "Unable to authenticate you"),
      "none",
      /^digitalocean:token: not set, and DigitalOcean refuses the API without one \(401\)/,
    ],
    [
      http(401, "Unable to authenticate you"),
      "config",
      /^digitalocean:token: DigitalOcean does not accept the stack's token \(401: revoked, expired or mistyped\)/,
    ],
    [
      http(403, "You are not authorized to perform this operation"),
      "config",
      /^digitalocean:token: DigitalOcean refuses this token the request \(403: a read-only/,
    ],
    [
      http(429, "API Rate limit exceeded."),
      "config",
      /^DigitalOcean API: rate limit reached \(429\)/,
    ],
    [
      http(503, "Service Unavailable"),
      "config",
      /^DigitalOcean API: server error, nothing was changed/,
    ],
    [
      'Error retrieving account: Get "https://api.digitalocean.com/v2/account": dial tcp: lookup api.digitalocean.com on 127.0.0.53:53: server misbehaving',
      "config",
      /^DigitalOcean API unreachable from this machine — check its network, DNS and proxy/,
    ],
    [
      "something else\n    at stack (x.js:1)",
      "config",
      /^DigitalOcean API: the call failed before any resource was created.*\(something else\)$/,
    ],
    [
      // As the SDK hands the engine's error over; its first line is what the real engine
      // printed in the token rehearsal (test/fixtures/pulumi-3.248.0/token-preview.stdout.txt.gz).
      'invocation of digitalocean:index/getImages:getImages returned an error: invoking digitalocean:index/getImages:getImages: 1 error occurred:\n\t* Error retrieving images: GET http://127.0.0.1:8080/v2/images?page=1&per_page=200: 401 (request "4d1c") Unable to authenticate you.\n\n',
      "config",
      /^digitalocean:token: DigitalOcean does not accept the stack's token \(401.*\(Error retrieving images: GET http:\/\/127\.0\.0\.1:8080\/v2\/images\?page=1&per_page=200: 401 \(request "4d1c"\) Unable to authenticate you\.\)$/,
    ],
  ] as const)("%s (%s)", (detail, token, line) => {
    const p = apiFailureProblem(detail, token);
    expect(p).toMatch(line);
    expect(p).not.toContain("\n");
  });
});
