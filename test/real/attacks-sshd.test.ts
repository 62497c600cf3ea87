import type { ChildProcess } from "node:child_process";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SSHD_DROP_IN } from "../../cloud-init/userData";
import { passwordOnlySshArgv } from "../../lab/attacks/ssh";
import { type Node, NtpNet } from "../helpers/netns";
import { requireRealTools } from "../helpers/realTools";

// Password guessing against the member's sshd: real OpenSSH sshd in a namespace with the
// user-data's drop-in (cloud-init/userData.ts SSHD_DROP_IN) included first, exactly as
// Debian's /etc/ssh/sshd_config includes /etc/ssh/sshd_config.d/*.conf before its own
// settings (sshd keeps the first value it reads). A second sshd without the drop-in is the
// counter-check: there the same client is offered a password prompt.

let net: NtpNet;
let server: Node;
let client: Node;
const daemons: ChildProcess[] = [];
let clientKey: string;
let askpass: string;
let askpassMarker: string;

/** Runs argv from the tools image in `node` (the scratch dir bound); throws on failure. */
async function must(node: Node, argv: string[]): Promise<string> {
  const r = await net.exec(node, argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Debian's stock sshd_config (the tools image's) without its Include line (the drop-in is included explicitly). */
function debianSshdConfig(): string {
  return readFileSync(path.join(net.tools, "etc/ssh/sshd_config"), "utf8")
    .split("\n")
    .filter((l) => !/^\s*Include\b/i.test(l))
    .join("\n");
}

function sshdConfig(name: string, dropIn: string | undefined, port: number): string {
  const dir = net.dir;
  const drop = dropIn !== undefined ? net.file(`${name}-dropin.conf`, dropIn) : undefined;
  return net.file(
    `${name}_config`,
    [
      ...(drop ? [`Include ${drop}`] : []),
      `Port ${port}`,
      `HostKey ${dir}/hostkey`,
      `PidFile ${dir}/${name}.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      // The scratch dir is under /tmp (world-writable parents).
      "StrictModes no",
      debianSshdConfig(),
    ].join("\n"),
  );
}

function startSshd(config: string): void {
  // sshd needs /run/sshd; the image's /run is a private tmpfs (docs/lab-mechanisms.md#sshd).
  daemons.push(
    net.spawn(server, ["sh", "-c", `mkdir /run/sshd && exec /usr/sbin/sshd -D -e -f ${config}`]),
  );
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const r = await net.exec(client, ["bash", "-c", `exec 3<>/dev/tcp/${server.ipv4}/${port}`]);
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`sshd on ${server.ipv4}:${port} never listened`);
}

/** ssh that may only use a password; SSH_ASKPASS records whether it was ever asked for one. */
function passwordOnly(port: number): Promise<{ code: number; stderr: string }> {
  return net.exec(
    client,
    passwordOnlySshArgv({ askpass, host: server.ipv4, port, connectTimeout: 5 }),
  );
}

beforeAll(async () => {
  requireRealTools(["sshd", "ssh", "ssh-keygen", "setsid", "bash"]);
  net = new NtpNet();
  server = net.addNode("s", 2);
  client = net.addNode("c", 100);
  await must(client, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", `${net.dir}/hostkey`]);
  clientKey = `${net.dir}/client`;
  await must(client, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
  net.file("authorized_keys", readFileSync(`${clientKey}.pub`, "utf8"));
  askpassMarker = path.join(net.dir, "askpass-called");
  askpass = net.file("askpass.sh", `#!/bin/sh\ntouch ${askpassMarker}\necho guess123\n`);
  chmodSync(askpass, 0o755);
  startSshd(sshdConfig("ours", SSHD_DROP_IN, 22));
  startSshd(sshdConfig("stock", "PasswordAuthentication yes\n", 2222));
  await Promise.all([waitListening(22), waitListening(2222)]);
});

afterAll(() => {
  for (const d of daemons) d.kill("SIGKILL");
  net?.teardown();
  expect(net.leftovers()).toEqual([]);
});

describe("sshd with the user-data's drop-in", () => {
  it("effective configuration: no passwords, no keyboard-interactive, root by key only", async () => {
    const out = await must(server, [
      "sh",
      "-c",
      `mkdir /run/sshd && exec /usr/sbin/sshd -T -f ${path.join(net.dir, "ours_config")}`,
    ]);
    const settings = Object.fromEntries(
      out.split("\n").map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)]),
    );
    expect(settings.passwordauthentication).toBe("no");
    expect(settings.kbdinteractiveauthentication).toBe("no");
    expect(settings.permitrootlogin).toBe("without-password");
  });

  it("a password guesser is offered only publickey and never gets to send a password", async () => {
    const r = await passwordOnly(22);
    const offered = /Permission denied \(([^)]*)\)/.exec(r.stderr)?.[1];
    console.log(
      `ssh password attempt: server offered "${offered}", password prompt ${existsSync(askpassMarker) ? "shown" : "never shown"}`,
    );
    expect(r.code).toBe(255);
    expect(offered).toBe("publickey");
    expect(existsSync(askpassMarker)).toBe(false);
  });

  it("counter-check: without the drop-in the same client is asked for a password", async () => {
    const r = await passwordOnly(2222);
    const offered = /Permission denied \(([^)]*)\)/.exec(r.stderr)?.[1] ?? "";
    console.log(`ssh password attempt without the drop-in: server offered "${offered}"`);
    expect(offered).toContain("password");
    expect(existsSync(askpassMarker)).toBe(true);
  });

  it("the deploy key logs in", async () => {
    const r = await net.exec(client, [
      "ssh",
      "-F",
      "/dev/null",
      "-i",
      clientKey,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      `root@${server.ipv4}`,
      "echo key-login-ok",
    ]);
    expect(r.stdout.trim()).toBe("key-login-ok");
  });
});
