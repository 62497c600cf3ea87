import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// ntp/ holds the pool's rules that the product, the policy pack and the lab share: it must
// load without a Pulumi runtime and without the code that uses it.

const NTP_DIR = join(__dirname, "..", "..", "..", "ntp");
const FILES = readdirSync(NTP_DIR).filter((f) => f.endsWith(".ts"));

function imports(file: string): string[] {
  const text = readFileSync(join(NTP_DIR, file), "utf8");
  return [...text.matchAll(/^import[^"]*"([^"]+)";/gm)].map((m) => m[1] ?? "");
}

describe("ntp/ is pure", () => {
  it("holds the client and the rules", () => {
    expect(FILES.sort()).toEqual([
      "client.ts",
      "poolRules.ts",
      "portRange.ts",
      "upstreamRules.ts",
      "userData.ts",
    ]);
  });

  it("finds every import of a file (the check below sees them all)", () => {
    expect(imports("client.ts")).toEqual(["node:crypto", "node:dgram", "node:net", "./poolRules"]);
    expect(imports("upstreamRules.ts")).toEqual(["ipaddr.js"]);
  });

  it.each(FILES)("%s imports only node built-ins, yaml, ipaddr.js and ntp/ itself", (file) => {
    const outside = imports(file).filter(
      (m) => !m.startsWith("node:") && !m.startsWith("./") && m !== "yaml" && m !== "ipaddr.js",
    );
    expect(outside).toEqual([]);
  });
});
