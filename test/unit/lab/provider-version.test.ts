import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MIRRORED_PROVIDER } from "../../../lab/provider/index";

const ROOT = join(__dirname, "..", "..", "..");
const json = (p: string) =>
  JSON.parse(readFileSync(join(ROOT, p), "utf8")) as {
    version?: string;
    dependencies?: Record<string, string>;
  };

describe("the mock-runtime driver names the provider it mirrors", () => {
  it("is the @pulumi/digitalocean the program is pinned to and installed with", () => {
    // A provider upgrade in package.json must come with a re-read of the driver's modules.
    expect(json("package.json").dependencies?.[MIRRORED_PROVIDER.sdk]).toBe(
      MIRRORED_PROVIDER.sdkVersion,
    );
    expect(json("node_modules/@pulumi/digitalocean/package.json").version).toBe(
      MIRRORED_PROVIDER.sdkVersion,
    );
  });

  it("lab/README.md names the same versions and points to the engine rehearsal", () => {
    const readme = readFileSync(join(ROOT, "lab", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## What the mock-runtime driver does not model"));
    expect(section.length).toBeGreaterThan(100);
    expect(section).toContain(`${MIRRORED_PROVIDER.sdk} ${MIRRORED_PROVIDER.sdkVersion}`);
    expect(section).toContain(
      `${MIRRORED_PROVIDER.terraformProvider} ${MIRRORED_PROVIDER.terraformProviderVersion}`,
    );
    expect(section).toContain("--engine pulumi");
  });
});
