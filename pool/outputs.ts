/**
 * The stack outputs the pool CLI reads: `pulumi stack output --json` prints
 * `{ "members": { "<name>": {...} } }` (core contract, index.ts).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { z } from "zod";

const ipv4 = z.string().refine((s) => net.isIPv4(s), { message: "must be an IPv4 address" });
const ipv6 = z.string().refine((s) => net.isIPv6(s), { message: "must be an IPv6 address" });

const addressSchema = z
  .object({ address: z.string(), family: z.enum(["IPv4", "IPv6"]) })
  .superRefine((a, ctx) => {
    const ok = a.family === "IPv4" ? net.isIPv4(a.address) : net.isIPv6(a.address);
    if (!ok) {
      ctx.addIssue({
        code: "custom",
        message: `address "${a.address}" is not a valid ${a.family} address`,
      });
    }
  });

const memberSchema = z.object({
  name: z.string().min(1),
  region: z.string().min(1),
  ipv4,
  ipv6: ipv6.nullable(),
  dropletId: z.string(),
  upstreams: z.array(z.string()),
  registration: z.object({
    addresses: z.array(addressSchema).min(1),
    url: z.string(),
    notes: z.array(z.string()),
  }),
  verification: z.unknown().optional(),
});

const outputsSchema = z.object({ members: z.record(z.string(), memberSchema) });

export type MemberOutput = z.infer<typeof memberSchema>;
export type StackOutputs = z.infer<typeof outputsSchema>;

/** Validates parsed JSON; the error names the path, rule and value of every problem. */
export function parseStackOutputs(raw: unknown): StackOutputs {
  const result = outputsSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `  ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new Error(`stack outputs do not have the expected shape:\n${problems.join("\n")}`);
  }
  if (Object.keys(result.data.members).length === 0) {
    throw new Error("stack outputs: members is empty (has `pulumi up` run for this stack?)");
  }
  return result.data;
}

/** Parses the text of `pulumi stack output --json` or a saved copy of it. */
export function parseStackOutputsText(text: string, source: string): StackOutputs {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  return parseStackOutputs(raw);
}

/**
 * Reads outputs from `file`, or runs `pulumi stack output --json` (optionally `--stack`).
 * Secrets stay hidden: without `--show-secrets` the CLI prints "[secret]" for them, and none
 * of the fields read here is secret.
 */
export function loadStackOutputs(options: { file?: string; stack?: string }): StackOutputs {
  if (options.file !== undefined) {
    return parseStackOutputsText(readFileSync(options.file, "utf8"), options.file);
  }
  const args = ["stack", "output", "--json"];
  if (options.stack !== undefined) {
    args.push("--stack", options.stack);
  }
  const run = spawnSync("pulumi", args, { encoding: "utf8" });
  if (run.error) {
    const missing = (run.error as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(
      missing
        ? "the pulumi CLI is not on PATH: install it, or pass --outputs FILE with a saved `pulumi stack output --json`"
        : `pulumi ${args.join(" ")}: ${run.error.message}`,
    );
  }
  if (run.status !== 0) {
    throw new Error(`pulumi ${args.join(" ")} exited ${run.status}: ${run.stderr.trim()}`);
  }
  return parseStackOutputsText(run.stdout, `pulumi ${args.join(" ")}`);
}
