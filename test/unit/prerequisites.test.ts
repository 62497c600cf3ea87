import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { HOST_PACKAGES } from "../../lab/prereqs";
import { DEBIAN_PACKAGES } from "../real/prereqs";

const ROOT = path.join(__dirname, "..", "..");

/** The packages on the `apt-get install` line of a file (continuation lines joined). */
function aptLine(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), "utf8").replace(/\\\n\s*/g, " ");
  const line = text.split("\n").find((l) => /^\s*(sudo\s+)?apt-get install\s/.test(l));
  if (line === undefined) throw new Error(`${file}: no apt-get install line`);
  return line
    .replace(/.*apt-get install/, "")
    .replace(/>.*/, "")
    .split(/\s+/)
    .filter((w) => w !== "" && !w.startsWith("-"));
}

describe("one list of Debian prerequisites", () => {
  const wanted = [
    ...new Set([...Object.keys(HOST_PACKAGES), ...DEBIAN_PACKAGES.split(" ")]),
  ].sort();

  it("README's test instructions install every package the lab and the real tier use", () => {
    expect(aptLine("README.md").sort()).toEqual(wanted);
  });

  it(".ci/run installs exactly what README tells a user to install", () => {
    expect(aptLine(".ci/run").sort()).toEqual(aptLine("README.md").sort());
  });
});
