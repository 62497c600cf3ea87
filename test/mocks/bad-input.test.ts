import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderNtpConf } from "../../cloud-init/ntpConf";
import { renderUserData } from "../../cloud-init/userData";
import { ConfigError, parseFleetConfig } from "../../components/validate";
import { parseLabArgs } from "../../lab/cli";
import { runLab } from "../../lab/run";
import { runCli } from "../../pool/cli";
import { renderLocalVerifyCommand, renderRemoteVerifyCommand } from "../../verify/commands";
import { BASE_CONFIG, runProgram } from "../helpers/mockProgram";
import { recorded } from "../helpers/mocks";

// Issue 5, bad input: configurations, stack files and command lines that must each end in ONE
// clear error naming the setting or option, with nothing created. test/mocks/bad-config.test.ts
// (the lead's 42 rows) is not repeated here: this table covers the other values of every
// setting, hostile strings, malformed stack files and the two CLIs.

const ROOT = resolve(__dirname, "..", "..");
const U = BASE_CONFIG.upstreams;
const scratch = mkdtempSync(join(tmpdir(), "ntp-bad-input-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Hostile strings aimed at the shell commands and the YAML the program renders. */
const HOSTILE = {
  subshell: "$(touch /tmp/ntp-pwned)",
  backticks: "`touch /tmp/ntp-pwned`",
  semicolon: "a.example.net; touch /tmp/ntp-pwned",
  quote: "a.example.net' ; touch /tmp/ntp-pwned; '",
  newline: "a.example.net\nruncmd: [[touch, /tmp/ntp-pwned]]",
  yamlDocument: "---\nruncmd: [[reboot]]\n...",
  yamlFlow: "{write_files: [{path: /etc/shadow}]}",
  cyrillicA: "аms-1", // U+0430, looks like "ams-1"
  cyrillicI: "ntp1.tіme.nl", // U+0456 in "time"
  nul: "a.example.net\0",
} as const;

type Row =
  /** Stack config run through the whole program under mocks. `at` is the setting path named. */
  | { kind: "config"; config: Record<string, unknown>; at: string; says: string }
  /** A stack file given to the lab (`npm run lab -- --stack-file F`), in-process. */
  | { kind: "stack"; yaml: string; says: string }
  /** `npm run lab -- ARGS` (parse errors happen before the root check, so no root needed). */
  | { kind: "lab-cli"; args: string[]; says: string }
  /** `npm run pool -- ARGS`, in-process. */
  | { kind: "pool-cli"; args: string[]; says: string };

const base = BASE_CONFIG as unknown as Record<string, unknown>;
const withMember = (extra: Record<string, unknown>) => ({
  ...base,
  members: [{ name: "ams-1", region: "ams3", ...extra }],
});
const withUpstream = (u: unknown) => ({ ...base, upstreams: [...U.slice(0, 3), u] });
const goodStack = (configYaml: string) =>
  `config:\n  ntp-pool:upstreams: [${U.join(", ")}]\n  ntp-pool:sshSourceCidrs: [198.51.100.7/32]\n${configYaml}`;

const ROWS: [string, Row][] = [
  // ---- members / member fields ------------------------------------------------------------
  [
    "member entry is a string",
    {
      kind: "config",
      config: { ...base, members: ["ams-1"] },
      at: "members[0]",
      says: 'must be a mapping (got "ams-1")',
    },
  ],
  [
    "member entry is null",
    {
      kind: "config",
      config: { ...base, members: [null] },
      at: "members[0]",
      says: "must be a mapping (got null)",
    },
  ],
  [
    "members as a mapping",
    {
      kind: "config",
      config: { ...base, members: { "ams-1": { region: "ams3" } } },
      at: "members",
      says: "must be a list",
    },
  ],
  [
    "member name empty",
    {
      kind: "config",
      config: withMember({ name: "" }),
      at: "members[0].name",
      says: "must be a DNS label",
    },
  ],
  [
    "member name upper case",
    {
      kind: "config",
      config: withMember({ name: "AMS-1" }),
      at: "members[0].name",
      says: '(got "AMS-1")',
    },
  ],
  [
    "member name leading hyphen",
    {
      kind: "config",
      config: withMember({ name: "-ams" }),
      at: "members[0].name",
      says: '(got "-ams")',
    },
  ],
  [
    "member name is a number",
    {
      kind: "config",
      config: withMember({ name: 1 }),
      at: "members[0].name",
      says: "must be a string (got 1)",
    },
  ],
  [
    "member name $(...)",
    {
      kind: "config",
      config: withMember({ name: HOSTILE.subshell }),
      at: "members[0].name",
      says: "must be a DNS label",
    },
  ],
  [
    "member name backticks",
    {
      kind: "config",
      config: withMember({ name: HOSTILE.backticks }),
      at: "members[0].name",
      says: "must be a DNS label",
    },
  ],
  [
    "member name YAML document",
    {
      kind: "config",
      config: withMember({ name: HOSTILE.yamlDocument }),
      at: "members[0].name",
      says: "must be a DNS label",
    },
  ],
  [
    "member name Cyrillic lookalike",
    {
      kind: "config",
      config: withMember({ name: HOSTILE.cyrillicA }),
      at: "members[0].name",
      says: '(got "аms-1")',
    },
  ],
  [
    "region with shell",
    {
      kind: "config",
      config: withMember({ region: "ams3;id" }),
      at: "members[0].region",
      says: "region slug",
    },
  ],
  [
    "region without digit",
    {
      kind: "config",
      config: withMember({ region: "ams" }),
      at: "members[0].region",
      says: '(got "ams")',
    },
  ],
  [
    "region is a number",
    {
      kind: "config",
      config: withMember({ region: 3 }),
      at: "members[0].region",
      says: "must be a string (got 3)",
    },
  ],
  [
    "member image with newline",
    {
      kind: "config",
      config: withMember({ image: "debian-12-x64\nruncmd: [reboot]" }),
      at: "members[0].image",
      says: "must be one of debian-12-x64, ubuntu-24-04-x64",
    },
  ],
  [
    "fleet size with $(...)",
    { kind: "config", config: { ...base, size: HOSTILE.subshell }, at: "size", says: "size slug" },
  ],
  [
    "fleet ipv6 as text",
    {
      kind: "config",
      config: { ...base, ipv6: "maybe" },
      at: "ipv6",
      says: 'must be true or false (got "maybe")',
    },
  ],
  [
    "unknown key in member (case typo)",
    {
      kind: "config",
      config: withMember({ Upstreams: U }),
      at: "members[0].Upstreams",
      says: "unknown setting",
    },
  ],
  // ---- upstreams ---------------------------------------------------------------------------
  [
    "upstreams as one string",
    {
      kind: "config",
      config: { ...base, upstreams: "ntp1.time.nl" },
      at: "upstreams",
      says: "must be a list",
    },
  ],
  [
    "upstream is a number",
    {
      kind: "config",
      config: withUpstream(123),
      at: "upstreams[3]",
      says: "must be a string (got 123)",
    },
  ],
  [
    "upstream $(...)",
    { kind: "config", config: withUpstream(HOSTILE.subshell), at: "upstreams[3]", says: "must be" },
  ],
  [
    "upstream backticks",
    {
      kind: "config",
      config: withUpstream(HOSTILE.backticks),
      at: "upstreams[3]",
      says: "must be",
    },
  ],
  [
    "upstream with a quote",
    {
      kind: "config",
      config: withUpstream(HOSTILE.quote),
      at: "upstreams[3]",
      says: "must be a hostname",
    },
  ],
  [
    "upstream YAML document",
    {
      kind: "config",
      config: withUpstream(HOSTILE.yamlDocument),
      at: "upstreams[3]",
      says: "must be",
    },
  ],
  [
    "upstream YAML flow mapping",
    { kind: "config", config: withUpstream(HOSTILE.yamlFlow), at: "upstreams[3]", says: "must be" },
  ],
  [
    "upstream Cyrillic lookalike",
    {
      kind: "config",
      config: withUpstream(HOSTILE.cyrillicI),
      at: "upstreams[3]",
      says: "must be a hostname",
    },
  ],
  [
    "upstream with NUL",
    {
      kind: "config",
      config: withUpstream(HOSTILE.nul),
      at: "upstreams[3]",
      says: "must be a hostname",
    },
  ],
  [
    "upstream with ntp.conf option",
    {
      kind: "config",
      config: withUpstream("a.example.net noselect"),
      at: "upstreams[3]",
      says: "must be a hostname",
    },
  ],
  [
    "upstream label of 64 characters",
    {
      kind: "config",
      config: withUpstream(`${"a".repeat(64)}.example.net`),
      at: "upstreams[3]",
      says: "must be a hostname",
    },
  ],
  [
    "upstream broadcast address",
    {
      kind: "config",
      config: withUpstream("255.255.255.255"),
      at: "upstreams[3]",
      says: "not broadcast",
    },
  ],
  [
    "upstream multicast address",
    {
      kind: "config",
      config: withUpstream("224.0.1.1"),
      at: "upstreams[3]",
      says: "not multicast",
    },
  ],
  [
    "upstream IPv6 link-local",
    { kind: "config", config: withUpstream("fe80::1"), at: "upstreams[3]", says: "not linkLocal" },
  ],
  [
    "upstream unspecified 0.0.0.0",
    { kind: "config", config: withUpstream("0.0.0.0"), at: "upstreams[3]", says: "loopback" },
  ],
  [
    "upstream IPv6 loopback",
    { kind: "config", config: withUpstream("::1"), at: "upstreams[3]", says: "loopback" },
  ],
  // ---- SSH, tags, project, timeout, protection ---------------------------------------------
  [
    "sshSourceCidrs as one string",
    {
      kind: "config",
      config: { ...base, sshSourceCidrs: "198.51.100.7/32" },
      at: "sshSourceCidrs",
      says: "must be a list",
    },
  ],
  [
    "SSH CIDR with shell",
    {
      kind: "config",
      config: { ...base, sshSourceCidrs: ["198.51.100.7/32; id"] },
      at: "sshSourceCidrs[0]",
      says: "must be a CIDR",
    },
  ],
  [
    "SSH CIDR prefix 33",
    {
      kind: "config",
      config: { ...base, sshSourceCidrs: ["198.51.100.7/33"] },
      at: "sshSourceCidrs[0]",
      says: "must be a CIDR",
    },
  ],
  [
    "SSH IPv6 CIDR with host bits",
    {
      kind: "config",
      config: { ...base, sshSourceCidrs: ["2001:db8::1/48"] },
      at: "sshSourceCidrs[0]",
      says: "has host bits set",
    },
  ],
  [
    "fingerprint with $(...)",
    {
      kind: "config",
      config: { ...base, sshKeyFingerprints: [HOSTILE.subshell] },
      at: "sshKeyFingerprints[0]",
      says: "fingerprint",
    },
  ],
  [
    "fingerprints as one string",
    {
      kind: "config",
      config: { ...base, sshKeyFingerprints: "12345" },
      at: "sshKeyFingerprints",
      says: "must be a list",
    },
  ],
  [
    "tag empty",
    { kind: "config", config: { ...base, tags: [""] }, at: "tags[0]", says: "1 to 255 characters" },
  ],
  [
    "tag with newline",
    {
      kind: "config",
      config: { ...base, tags: ["pool\nruncmd"] },
      at: "tags[0]",
      says: "must be a DigitalOcean tag",
    },
  ],
  [
    "tag of 256 characters",
    {
      kind: "config",
      config: { ...base, tags: ["t".repeat(256)] },
      at: "tags[0]",
      says: "1 to 255 characters",
    },
  ],
  [
    "tag with backticks",
    {
      kind: "config",
      config: { ...base, tags: [HOSTILE.backticks] },
      at: "tags[0]",
      says: "must be a DigitalOcean tag",
    },
  ],
  [
    "projectName with newline",
    {
      kind: "config",
      config: { ...base, projectName: "pool\nmembers" },
      at: "projectName",
      says: "printable characters",
    },
  ],
  [
    "projectName of 176 characters",
    {
      kind: "config",
      config: { ...base, projectName: "p".repeat(176) },
      at: "projectName",
      says: "1 to 175",
    },
  ],
  [
    "projectName with a control character",
    {
      kind: "config",
      config: { ...base, projectName: "pool\u0007" },
      at: "projectName",
      says: "printable characters",
    },
  ],
  [
    "timeout above 3600",
    {
      kind: "config",
      config: { ...base, verifyTimeoutSeconds: 3601 },
      at: "verifyTimeoutSeconds",
      says: "(got 3601)",
    },
  ],
  [
    "timeout fractional",
    {
      kind: "config",
      config: { ...base, verifyTimeoutSeconds: 90.5 },
      at: "verifyTimeoutSeconds",
      says: "whole number",
    },
  ],
  [
    "timeout negative",
    {
      kind: "config",
      config: { ...base, verifyTimeoutSeconds: -600 },
      at: "verifyTimeoutSeconds",
      says: "(got -600)",
    },
  ],
  [
    "timeout NaN as text",
    {
      kind: "config",
      config: { ...base, verifyTimeoutSeconds: "NaN" },
      at: "verifyTimeoutSeconds",
      says: "must be a number",
    },
  ],
  [
    "protect as 0",
    {
      kind: "config",
      config: { ...base, protectReservedIp: 0 },
      at: "protectReservedIp",
      says: "must be true or false (got 0)",
    },
  ],
  [
    "unknown key (case typo)",
    {
      kind: "config",
      config: { ...base, SshSourceCidrs: ["198.51.100.7/32"] },
      at: "SshSourceCidrs",
      says: "unknown setting",
    },
  ],
  // ---- stack files (the lab reads them as `pulumi up` would) --------------------------------
  [
    "stack file YAML syntax error",
    { kind: "stack", yaml: "config:\n  ntp-pool:members: [\n", says: "not valid YAML" },
  ],
  [
    "stack file is a list",
    { kind: "stack", yaml: "- config\n- members\n", says: "must be a YAML mapping (got a list)" },
  ],
  [
    "stack config is a list",
    {
      kind: "stack",
      yaml: "config:\n  - ntp-pool:members\n",
      says: "config must be a mapping of settings (got a list)",
    },
  ],
  [
    "stack config is a number",
    {
      kind: "stack",
      yaml: "config: 5\n",
      says: "config must be a mapping of settings (got number)",
    },
  ],
  [
    "stack member name is a YAML document",
    {
      kind: "stack",
      yaml: goodStack('  ntp-pool:members: [{name: "---\\nruncmd: [reboot]", region: ams3}]\n'),
      says: "members[0].name: must be a DNS label",
    },
  ],
  [
    "stack without members",
    { kind: "stack", yaml: goodStack(""), says: "members: required setting is missing" },
  ],
  // ---- lab CLI ------------------------------------------------------------------------------
  [
    "lab --members 0",
    { kind: "lab-cli", args: ["--members", "0"], says: "--members must be a whole number ≥ 1" },
  ],
  [
    "lab --members abc",
    {
      kind: "lab-cli",
      args: ["--members", "abc"],
      says: '--members must be a whole number ≥ 1, got "abc"',
    },
  ],
  [
    "lab --members 1.5",
    { kind: "lab-cli", args: ["--members", "1.5"], says: "--members must be a whole number" },
  ],
  [
    "lab --sync-timeout soon",
    {
      kind: "lab-cli",
      args: ["--sync-timeout", "soon"],
      says: "--sync-timeout must be a whole number",
    },
  ],
  [
    "lab --scenario without --engine pulumi",
    {
      kind: "lab-cli",
      args: ["--scenario", "replace"],
      says: "--scenario needs --engine pulumi",
    },
  ],
  [
    "lab --scenario unknown",
    {
      kind: "lab-cli",
      args: ["--engine", "pulumi", "--scenario", "resize"],
      says: "argument 'resize' is invalid. Allowed choices are replace, size,",
    },
  ],
  [
    "lab unknown option",
    { kind: "lab-cli", args: ["--member", "2"], says: "unknown option '--member'" },
  ],
  // ---- pool CLI -----------------------------------------------------------------------------
  [
    "pool status --threshold x",
    {
      kind: "pool-cli",
      args: ["status", "--threshold", "x", "192.0.2.1"],
      says: "--threshold must be a number",
    },
  ],
  [
    "pool status --limit 0",
    {
      kind: "pool-cli",
      args: ["status", "--limit", "0", "192.0.2.1"],
      says: '--limit must be a positive number, got "0"',
    },
  ],
  [
    "pool status --timeout -1",
    {
      kind: "pool-cli",
      args: ["status", "--timeout=-1", "192.0.2.1"],
      says: "--timeout must be a positive number",
    },
  ],
  [
    "pool status --rounds x",
    {
      kind: "pool-cli",
      args: ["status", "--watch", "--rounds", "x", "192.0.2.1"],
      says: "--rounds must be a positive number",
    },
  ],
  [
    "pool register --port 70000",
    {
      kind: "pool-cli",
      args: ["register", "--port", "70000"],
      says: "--port must be an integer 1–65535",
    },
  ],
  [
    "pool register --outputs missing file",
    {
      kind: "pool-cli",
      args: ["register", "--outputs", "/nonexistent/outputs.json"],
      says: "/nonexistent/outputs.json",
    },
  ],
  [
    "pool unknown command",
    { kind: "pool-cli", args: ["deregister"], says: "unknown command 'deregister'" },
  ],
  [
    "pool unknown option",
    { kind: "pool-cli", args: ["status", "--thresold", "5"], says: "unknown option '--thresold'" },
  ],
];

/** The problem lines of a ConfigError/RunError message (first line is the summary). */
function problemLines(message: string): string[] {
  return message
    .split("\n")
    .slice(1)
    .map((l) => l.replace(/^ {2}- /, ""));
}

async function check(row: Row): Promise<void> {
  switch (row.kind) {
    case "config": {
      const failure = await runProgram(row.config).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(failure?.constructor.name).toBe("RunError");
      const lines = problemLines(failure?.message ?? "");
      expect(lines).toHaveLength(1);
      expect(lines[0]?.startsWith(`${row.at}: `), lines[0]).toBe(true);
      expect(lines[0]).toContain(row.says);
      expect(recorded).toHaveLength(0);
      return;
    }
    case "stack": {
      const dir = mkdtempSync(join(scratch, "stack-"));
      copyFileSync(join(ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
      const file = join(dir, "Pulumi.bad.yaml");
      writeFileSync(file, row.yaml);
      const logged: string[] = [];
      const failure = await runLab({
        stackFile: file,
        // A cache the run would have to create: it never gets that far.
        cacheDir: join(dir, "cache"),
        log: (msg) => {
          // The first line a run logs names its new prefix, just before anything is created;
          // throwing here stops a row that wrongly passed before any namespace exists.
          logged.push(msg);
          throw new Error(`the lab went ahead: ${msg}`);
        },
      }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(logged).toEqual([]);
      expect(failure?.message).toContain(row.says);
      expect(existsSync(join(dir, "cache"))).toBe(false);
      expect(recorded).toHaveLength(0);
      return;
    }
    case "lab-cli": {
      // The lab's own parser, in process: a refused argument never reaches the run.
      const out: string[] = [];
      const err: string[] = [];
      expect(() =>
        parseLabArgs(row.args, { write: (t) => out.push(t), writeError: (t) => err.push(t) }),
      ).toThrow();
      // One error line; commander may add a "(Did you mean ...?)" hint under it.
      const errors = err.join("").trim().split("\n");
      expect(errors[0]).toContain(row.says);
      expect(errors.slice(1).filter((l) => !/^\(Did you mean/.test(l))).toEqual([]);
      expect(out).toEqual([]);
      return;
    }
    case "pool-cli": {
      const out: string[] = [];
      const err: string[] = [];
      let code: number | undefined;
      await runCli(row.args, {
        write: (t) => out.push(t),
        writeError: (t) => err.push(t),
        exit: (c) => {
          code = c;
        },
      });
      expect(code).toBeDefined();
      expect(code).not.toBe(0);
      const errors = err.join("").trim().split("\n");
      expect(errors[0]).toContain(row.says);
      expect(errors.slice(1).filter((l) => !/^\(Did you mean/.test(l))).toEqual([]);
      expect(out.join("")).toBe("");
      return;
    }
  }
}

describe("bad input: one clear error naming the setting or option, nothing created", () => {
  it("has at least 40 rows, none repeating test/mocks/bad-config.test.ts", () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(ROWS.map(([what]) => what)).size).toBe(ROWS.length);
  });

  // CLI rows start a process that loads TypeScript: seconds on a busy 2-core machine.
  it.each(ROWS)(
    "%s",
    async (_what, row) => {
      await check(row);
    },
    90_000,
  );
});

describe("no hostile value passes validation", () => {
  const slots: [string, (h: string) => Record<string, unknown>, string][] = [
    ["member name", (h) => withMember({ name: h }), "members[0].name"],
    ["region", (h) => withMember({ region: h }), "members[0].region"],
    ["size", (h) => ({ ...base, size: h }), "size"],
    ["image", (h) => ({ ...base, image: h }), "image"],
    ["upstream", (h) => withUpstream(h), "upstreams[3]"],
    ["SSH CIDR", (h) => ({ ...base, sshSourceCidrs: [h] }), "sshSourceCidrs[0]"],
    ["fingerprint", (h) => ({ ...base, sshKeyFingerprints: [h] }), "sshKeyFingerprints[0]"],
    ["tag", (h) => ({ ...base, tags: [h] }), "tags[0]"],
  ];
  const cases = slots.flatMap(([slot, make, at]) =>
    Object.entries(HOSTILE).map(([name, h]) => [`${slot} ← ${name}`, make(h), at] as const),
  );

  it.each(cases)("%s", (_what, raw, at) => {
    let error: unknown;
    try {
      parseFleetConfig(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.some((p) => p.startsWith(`${at}: `))).toBe(true);
  });

  it("projectName takes any printable text, but it only ever reaches the DigitalOcean API", async () => {
    const { resources } = await runProgram({ ...base, projectName: HOSTILE.subshell });
    const project = resources.find((r) => r.type === "digitalocean:index/project:Project");
    expect(project?.inputs.name).toBe(HOSTILE.subshell);
    const elsewhere = resources
      .filter((r) => r !== project)
      .filter((r) => JSON.stringify(r.inputs).includes("ntp-pwned"));
    expect(elsewhere.map((r) => r.name)).toEqual([]);
  });
});

describe("renderers are inert for hostile strings even without validation", () => {
  const bin = mkdtempSync(join(scratch, "bin-"));
  const canary = join(scratch, "pwned");
  const hostile = [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `x; touch ${canary}`,
    `x' ; touch ${canary}; '`,
    `x\ntouch ${canary}`,
    `x" ; touch ${canary}; "`,
    "*",
    "~root",
    "a b\tc",
    "-rf",
    "'",
    "",
  ];
  // A stand-in for every program the commands start: prints its argv, NUL-separated.
  const fake = join(bin, "fake");
  writeFileSync(fake, `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done\n`, { mode: 0o755 });
  writeFileSync(join(bin, "sh"), `#!/bin/sh\nexec ${fake} "$@"\n`, { mode: 0o755 });
  writeFileSync(join(bin, "node"), `#!/bin/sh\nexec ${fake} "$@"\n`, { mode: 0o755 });

  /** Runs a rendered command line the way the command provider does (/bin/sh -c). */
  function argvOf(command: string): string[] {
    const syntax = spawnSync("/bin/sh", ["-n", "-c", command], { encoding: "utf8" });
    expect(syntax.status, syntax.stderr).toBe(0);
    const r = spawnSync("/bin/sh", ["-c", command], {
      encoding: "utf8",
      cwd: ROOT,
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split("\0").slice(0, -1);
  }

  it("the on-droplet command passes each upstream as exactly one argument", () => {
    const cmd = renderRemoteVerifyCommand({ timeoutSeconds: 60, upstreams: hostile });
    expect(argvOf(cmd)).toEqual([
      "-s",
      "--",
      "--timeout",
      "60",
      ...hostile.flatMap((h) => ["--upstream", h]),
    ]);
    expect(existsSync(canary)).toBe(false);
  });

  it("the outside command passes each address and upstream as exactly one argument", () => {
    const cmd = renderLocalVerifyCommand({
      ipv4: hostile[0] as string,
      ipv6: hostile[3] as string,
      upstreams: hostile,
    });
    expect(argvOf(cmd)).toEqual([
      "--import",
      "tsx",
      "verify/outside.ts",
      "--ipv4",
      hostile[0],
      "--ipv6",
      hostile[3],
      ...hostile.flatMap((h) => ["--upstream", h]),
      "--json",
    ]);
    expect(existsSync(canary)).toBe(false);
  });

  it("the command renderers refuse NUL, which no argv can carry", () => {
    expect(() => renderRemoteVerifyCommand({ timeoutSeconds: 60, upstreams: ["a\0b"] })).toThrow(
      "contains NUL",
    );
  });

  it("user-data keeps its shape: hostile upstreams stay inside ntp.conf's text", () => {
    const clean = parse(renderUserData({ upstreams: U, reservedIpv6: "2001:db8::1" })) as Record<
      string,
      unknown
    >;
    const yamlHostile = [
      "---\nruncmd: [[reboot]]\n...",
      "{write_files: [{path: /etc/shadow}]}",
      "a: b",
      "- item",
      "&anchor *alias",
      "!!python/object:os.system ['id']",
      "#comment",
      `"quoted" 'single'`,
      "ntp1.time.nl\n  evil: true",
    ];
    const text = renderUserData({ upstreams: yamlHostile, reservedIpv6: "2001:db8::1" });
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text) as Record<string, unknown> & {
      write_files: { path: string; content: string }[];
    };
    expect(Object.keys(doc)).toEqual(Object.keys(clean));
    expect(doc.runcmd).toEqual(clean.runcmd);
    expect(doc.packages).toEqual(clean.packages);
    expect(doc.write_files.map((f) => f.path)).toEqual(
      (clean.write_files as { path: string }[]).map((f) => f.path),
    );
    expect(doc.write_files[0]?.content).toBe(renderNtpConf(yamlHostile));
  });
});
