import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { HOST_PACKAGES } from "../../../lab/prereqs";

const ROOT = path.join(__dirname, "..", "..", "..");

/** The text of section `## title` of a Markdown file (up to the next `## `). */
function section(file: string, title: string): string {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const start = text.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`${file}: no "## ${title}" section`);
  const end = text.indexOf("\n## ", start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** README "Quick start" and docs/testing.md "Running the tests": the set-up a user is told to run. */
const QUICK_START = () => section("README.md", "Quick start");
const RUNNING_TESTS = () => section("docs/testing.md", "Running the tests");

/** Commands of the ```sh blocks of `text`, comments and `sudo` removed. */
function shCommands(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of (m[1] as string).split("\n")) {
      const cmd = line
        .replace(/#.*/, "")
        .replace(/^sudo\s+/, "")
        .trim();
      if (cmd !== "") out.push(cmd);
    }
  }
  return out;
}

/** Commands of .ci/run after its preamble (set, cd), flags of npm ci aside. */
function ciCommands(): string[] {
  return readFileSync(path.join(ROOT, ".ci/run"), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l !== "" && !/^(set|cd|export)\b/.test(l))
    .map((l) => l.replace(/^npm ci\b.*/, "npm ci"));
}

describe("set-up is the documented commands and nothing else", () => {
  it(".ci/run runs exactly README's Quick start and docs/testing.md's Running the tests commands", () => {
    const readme = [...new Set([...shCommands(QUICK_START()), ...shCommands(RUNNING_TESTS())])];
    expect(readme).toContain("npm run lab");
    expect(readme).toContain("npm test");
    // CI may order them (typecheck and lint before the long tiers); it runs each once.
    expect(ciCommands().sort()).toEqual(readme.sort());
  });

  it("neither the documented set-up nor .ci/run installs anything by hand", () => {
    const text = `${QUICK_START()}${RUNNING_TESTS()}${readFileSync(path.join(ROOT, ".ci/run"), "utf8")}`;
    expect(text).not.toMatch(/apt-get install|apt install |dpkg -i/);
  });

  it("docs/host-safety.md lists exactly the host packages lab/prereqs.ts installs, each with a reason", () => {
    const rows = [
      ...section("docs/host-safety.md", "Host packages").matchAll(
        /^\| `([a-z0-9.+-]+)` \| (.+) \|$/gm,
      ),
    ];
    expect(rows.map((r) => r[1]).sort()).toEqual(Object.keys(HOST_PACKAGES).sort());
    for (const r of rows) expect((r[2] as string).length).toBeGreaterThan(10);
  });
});
