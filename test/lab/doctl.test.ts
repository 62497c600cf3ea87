/**
 * DigitalOcean's own CLI against a running lab (`npm run lab -- --keep`): doctl, from the
 * deployer namespace with the URL and token the lab prints, creates a droplet and waits for
 * it, assigns and unassigns a reserved IP, creates a firewall by tag, lists and deletes — and
 * each step is checked against what the lab really realised: the droplet's namespace with its
 * address, the 1:1 NAT rule in the edge's nftables ruleset, the firewall's nftables rules.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { toolsRoot } from "../../lab/image";
import { imageExecArgv } from "../../lab/imageExec";
import { doctlArgv, keptSessionHooks } from "../helpers/keptLab";

// biome-ignore lint/suspicious/noExplicitAny: doctl's JSON is inspected field by field
function doctl(...args: string[]): any {
  const argv = doctlArgv(session(), args);
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", timeout: 180_000 });
  if (r.status !== 0)
    throw new Error(`doctl ${args.join(" ")} failed (exit ${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout.trim() === "" ? undefined : JSON.parse(r.stdout);
}

const sh = (argv: string[]): string => {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  return r.stdout + r.stderr;
};
// nft from the tools image, as the lab itself runs it (the host has no nft).
const edgeRuleset = (): string =>
  sh(
    imageExecArgv(["nft", "list", "ruleset"], {
      root: toolsRoot(),
      netns: `${session().lab.prefix}-edge`,
    }),
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, f: () => boolean, seconds = 60): Promise<void> {
  const t = Date.now();
  while (!f()) {
    if (Date.now() - t > seconds * 1000) throw new Error(`${what}: not within ${seconds} s`);
    await sleep(1000);
  }
}

const session = keptSessionHooks("doctl");

describe("doctl against the running lab", () => {
  let dropletId = 0;
  let publicIp = "";
  let reservedIp = "";

  it("lists the dev stack's droplet", () => {
    const list = doctl("compute", "droplet", "list");
    expect(list.map((d: { name: string }) => d.name)).toContain("ams-ntp-1");
  });

  it("creates a droplet, waits for it, and the lab booted it in its own namespace", () => {
    const [d] = doctl(
      "compute",
      "droplet",
      "create",
      "doctl-1",
      "--region",
      "ams3",
      "--size",
      "s-1vcpu-1gb",
      "--image",
      "debian-12-x64",
      "--tag-name",
      "doctl-test",
      "--wait",
    );
    expect(d.status).toBe("active");
    dropletId = d.id;
    publicIp = d.networks.v4.find((n: { type: string }) => n.type === "public").ip_address;
    const ns = sh(["ip", "netns", "list"])
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "")
      .filter((n) => n.startsWith(`${session().lab.prefix}-d`));
    const withAddr = ns.filter((n) =>
      sh(["ip", "-n", n, "-4", "addr", "show", "dev", "eth0"]).includes(`${publicIp}/`),
    );
    expect(withAddr).toHaveLength(1);
  });

  it("assigns a reserved IP: the edge NATs it to the droplet's anchor; unassign removes the rule", async () => {
    const [ip] = doctl("compute", "reserved-ip", "create", "--region", "ams3");
    reservedIp = ip.ip;
    doctl("compute", "reserved-ip-action", "assign", reservedIp, String(dropletId));
    await until(
      "assigned",
      () => doctl("compute", "reserved-ip", "get", reservedIp)[0].droplet?.id === dropletId,
    );
    expect(edgeRuleset()).toMatch(
      new RegExp(`ip daddr ${reservedIp.replace(/\./g, "\\.")} dnat to 10\\.10\\.\\d+\\.2`),
    );
    doctl("compute", "reserved-ip-action", "unassign", reservedIp);
    await until("unassigned", () => !doctl("compute", "reserved-ip", "get", reservedIp)[0].droplet);
    expect(edgeRuleset()).not.toContain(`ip daddr ${reservedIp} dnat`);
  });

  it("creates a firewall by tag: its rules appear in the edge's nftables table", async () => {
    const [fw] = doctl(
      "compute",
      "firewall",
      "create",
      "--name",
      "doctl-fw",
      "--tag-names",
      "doctl-test",
      "--inbound-rules",
      "protocol:tcp,ports:2222,address:0.0.0.0/0",
      "--outbound-rules",
      "protocol:udp,ports:123,address:0.0.0.0/0",
    );
    expect(fw.tags).toEqual(["doctl-test"]);
    await until("firewall applied", () => /tcp dport 2222 .*accept/.test(edgeRuleset()));
    const fws = doctl("compute", "firewall", "list");
    expect(fws.map((f: { name: string }) => f.name)).toContain("doctl-fw");
    doctl("compute", "firewall", "delete", fw.id, "--force");
    await until("firewall removed", () => !edgeRuleset().includes("dport 2222"));
  });

  it("deletes the droplet and the reserved IP: the namespace goes", async () => {
    doctl("compute", "droplet", "delete", String(dropletId), "--force");
    await until("droplet gone", () => {
      const ns = sh(["ip", "netns", "list"])
        .split("\n")
        .map((l) => l.split(" ")[0] ?? "")
        .filter((n) => n.startsWith(`${session().lab.prefix}-d`));
      return ns.every((n) => !sh(["ip", "-n", n, "-4", "addr"]).includes(`${publicIp}/`));
    });
    // The API answers 404 for the droplet only once the lab has removed it.
    await until("droplet no longer listed", () =>
      doctl("compute", "droplet", "list").every((d: { id: number }) => d.id !== dropletId),
    );
    doctl("compute", "reserved-ip", "delete", reservedIp, "--force");
    expect(doctl("compute", "reserved-ip", "list").map((r: { ip: string }) => r.ip)).not.toContain(
      reservedIp,
    );
  });
});
