/**
 * Every citation in the repository resolves inside it (docs/README.md#citations).
 *
 * Scanned: the repository's text files (the tree less .gitignore's exclusions) ending in .ts, .mts, .md, .sh, .py, .yaml,
 * .yml, .c or .cjs, and extensionless scripts (`#!`, e.g. lab/guest/systemctl). A citation of this repository is a path whose first segment is one of its top-level
 * folders (`lab/do/droplets.ts`, `test/unit/`, `docs/decisions.md#reserved-ip`), optionally
 * with `:line` or `#anchor`, plus every relative Markdown link (`[x](../lab/net.ts)`). It
 * resolves when the file or folder is tracked (a `*` matches within one segment) and, for a
 * Markdown file with an anchor, when the file has a heading with that slug. A README section
 * cited by title (`README "Configuration"`, `README's "Quick start"`, `lab/README.md "--engine
 * pulumi"`) resolves when that README has a heading starting with the title.
 *
 * Upstream files are cited after their repository's name, e.g. "pulumi-terraform-bridge
 * pkg/tfbridge/schema.go" or "terraform-provider-digitalocean docs/resources/firewall.md":
 * a path right after one of UPSTREAM_REPOS (and a space or colon) is not this repository's,
 * nor is one inside a longer path or URL (preceded by `/`, `.`, `:`, `@` or a word character),
 * nor, in code, one that is a whole string literal (data, such as a file a test writes).
 *
 * The design notes the project started from were never part of the repository; naming them
 * is a citation that cannot resolve, so their names are flagged wherever they appear.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..", "..");
const SELF = relative(ROOT, __filename).split("\\").join("/");
const SCANNED = /\.(ts|mts|md|sh|py|yaml|yml|c|cjs)$/;

/** A tracked text file the scan reads: by extension, or an extensionless script (`#!`). */
function scanned(file: string): boolean {
  if (SCANNED.test(file)) return true;
  if (/\.[^/]*$/.test(file.split("/").pop() ?? "")) return false;
  return readFileSync(join(ROOT, file), "utf8").startsWith("#!");
}

/** Repositories whose files the code and docs cite by `<repo> <path>`. */
const UPSTREAM_REPOS = [
  "terraform-provider-digitalocean",
  "pulumi-digitalocean",
  "pulumi-terraform-bridge",
  "pulumi",
  "godo",
  "doctl",
  "openapi",
  "go-metadata",
  "droplet-agent",
  "cloud-init",
  "ntpsec",
  "NTPsec",
  "iproute2",
  "debian",
  // Short forms in lab/do/ (docs/decisions.md#sources).
  "TF",
  "OAS",
  "GOMD",
  "PU",
];

/** Names of the notes that stayed outside the repository (built so this file does not match). */
const OUTSIDE_NOTES = new RegExp(
  `\\b(${["DESIGN", "DO-API", "LAB-NOTES"].map((n) => `${n}(\\.md)?`).join("|")})\\b`,
  "g",
);

interface Citation {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/**
 * The repository's files: the tree without .git and what .gitignore excludes. Walked rather
 * than asked of `git ls-files`: the test tiers run with a PATH of the host tools of
 * docs/host-safety.md only (test/globalSetup.ts), and git is not one of them. The project's .gitignore uses two kinds
 * of line, both handled here: a directory (`name/`, `/name/` at the top) and a file-name glob.
 */
function repositoryFiles(): string[] {
  const lines = readFileSync(join(ROOT, ".gitignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const glob = (g: string) =>
    new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
  const dirs = lines.filter((l) => l.endsWith("/")).map((l) => l.slice(0, -1));
  const files = lines.filter((l) => !l.endsWith("/")).map(glob);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = dir === "" ? e.name : `${dir}/${e.name}`;
      if (e.isDirectory()) {
        const ignored = e.name === ".git" || dirs.some((d) => d === e.name || d === `/${rel}`);
        if (!ignored) walk(rel);
      } else if (!files.some((f) => f.test(e.name))) {
        out.push(rel);
      }
    }
  };
  walk("");
  return out.sort();
}

const tracked: readonly string[] = repositoryFiles();
const trackedSet = new Set(tracked);
const folders = new Set(
  tracked.flatMap((f) => {
    const parts = f.split("/");
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join("/"));
  }),
);
const TOP_FOLDERS = [
  ...new Set(tracked.filter((f) => f.includes("/")).map((f) => f.split("/")[0])),
];

/** GitHub's heading anchor: lower case, punctuation dropped (not `-` or `_`), spaces to `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}_ -]/gu, "")
    .replace(/ /g, "-");
}

/** A Markdown text's headings (outside fenced code), as written. */
function headings(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m) out.push(m[1] ?? "");
  }
  return out;
}

/** The anchors of a Markdown text's headings, duplicates numbered as GitHub does. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const heading of headings(markdown)) {
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  let a = anchorCache.get(file);
  if (!a) {
    a = anchors(readFileSync(join(ROOT, file), "utf8"));
    anchorCache.set(file, a);
  }
  return a;
}

/** Whether a repository-relative path (maybe with `*`, `:line` or `#anchor`) resolves. */
function resolves(target: string): boolean {
  const [pathPart = "", anchor] = target.split("#");
  const path = pathPart.replace(/:\d+(-\d+)?$/, "").replace(/\/$/, "");
  if (path.includes("*")) {
    const re = new RegExp(
      `^${path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}(/|$)`,
    );
    return tracked.some((f) => re.test(f));
  }
  if (folders.has(path)) return anchor === undefined;
  // A module named as an import names it (`ntp/client`).
  if (!trackedSet.has(path)) return anchor === undefined && trackedSet.has(`${path}.ts`);
  if (anchor === undefined || anchor === "") return true;
  return path.endsWith(".md") && anchorsOf(path).has(anchor.toLowerCase());
}

const PATH_CHARS = "[A-Za-z0-9_.*/-]";
const REPO_PATH = new RegExp(
  `(?<![\\w./:@\\\\-])((?:${TOP_FOLDERS.map((f) => f.replace(/\./g, "\\.")).join("|")})/${PATH_CHARS}*(?:#[\\w-]+|:\\d+(?:-\\d+)?)?)`,
  "g",
);
const ROOT_FILE_ANCHOR = /(?<![\w./:@-])((?:README|BENCHMARKS)\.md#[\w-]+)/g;
const MD_LINK = /\]\(([^)\s]+)\)/g;
/**
 * `README "Configuration"`, `README's "Quick start"`, `lab/README.md "--engine pulumi"`: a
 * README section by its title.
 */
const README_SECTION = /(?<![\w./-])((?:[\w-]+\/)*)README(?:\.md)?(?:'s)? "([^"]+)"/g;

/** Whether `file` has a heading that starts with `title` (backticks and case aside). */
function hasSection(file: string, title: string): boolean {
  if (!trackedSet.has(file)) return false;
  const plain = (t: string) => t.replace(/`/g, "").toLowerCase();
  return headings(readFileSync(join(ROOT, file), "utf8")).some((h) =>
    plain(h).startsWith(plain(title)),
  );
}
const UPSTREAM_BEFORE = new RegExp(`(?:^|[^\\w-])(?:${UPSTREAM_REPOS.join("|")})[ :]$`);

/** The citations of one file's text that do not resolve. */
function unresolved(file: string, text: string): { all: number; bad: Citation[] } {
  let all = 0;
  const bad: Citation[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    const at = (t: string) => bad.push({ file, line: i + 1, text: t });
    for (const m of line.matchAll(OUTSIDE_NOTES)) {
      all += 1;
      at(m[0]);
    }
    for (const m of line.matchAll(REPO_PATH)) {
      const before = line.slice(0, m.index);
      if (UPSTREAM_BEFORE.test(before)) continue;
      // In code, a path that is a whole string literal is data (a file a test writes), not a citation.
      const quote = before.slice(-1);
      if (
        !file.endsWith(".md") &&
        (quote === '"' || quote === "'") &&
        line[(m.index ?? 0) + (m[1] ?? "").length] === quote
      )
        continue;
      // Trailing dots and the like end a sentence, not a path.
      const cited = (m[1] ?? "").replace(/[.]+$/, "");
      all += 1;
      if (!resolves(cited)) at(cited);
    }
    for (const m of line.matchAll(ROOT_FILE_ANCHOR)) {
      all += 1;
      if (!resolves(m[1] ?? "")) at(m[1] ?? "");
    }
    for (const m of line.matchAll(README_SECTION)) {
      all += 1;
      if (!hasSection(`${m[1] ?? ""}README.md`, m[2] ?? "")) at(m[0]);
    }
    if (!file.endsWith(".md")) return;
    for (const m of line.matchAll(MD_LINK)) {
      const href = m[1] ?? "";
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:
      all += 1;
      const [p = "", anchor] = href.split("#");
      const target =
        p === ""
          ? file
          : normalize(join(dirname(file), p))
              .split("\\")
              .join("/");
      if (target.startsWith("..")) {
        at(href);
        continue;
      }
      if (!resolves(anchor === undefined ? target : `${target}#${anchor}`)) at(href);
    }
  });
  return { all, bad };
}

describe("citations", () => {
  it("the slug rule is GitHub's", () => {
    expect(slug("Reserved IP: the member's identity")).toBe("reserved-ip-the-members-identity");
    expect(slug("`ntp.conf` from `upstreams`")).toBe("ntpconf-from-upstreams");
    expect([...anchors("# A\n## A\n```\n# B\n```\n### C_d")]).toEqual(["a", "a-1", "c_d"]);
  });

  it("upstream paths, URLs and longer paths are not this repository's", () => {
    const r = unresolved(
      "x.ts",
      [
        "pulumi-terraform-bridge pkg/tfbridge/schema.go",
        "terraform-provider-digitalocean docs/resources/firewall.md",
        "https://example.org/lab/nothing.ts and /srv/test/nothing.ts",
      ].join("\n"),
    );
    expect(r.bad).toEqual([]);
    expect(
      unresolved(
        "x.ts",
        `README "Configuration", README's "Quick start" and lab/README.md "--engine pulumi"`,
      ).bad,
    ).toEqual([]);
    expect(
      unresolved("x.ts", `README "No such section" and README's "Verification"`).bad.map(
        (c) => c.text,
      ),
    ).toEqual(['README "No such section"', `README's "Verification"`]);
    const missing = unresolved("x.ts", "see lab/nothing.ts and docs/decisions.md#no-such");
    expect(missing.bad.map((c) => c.text)).toEqual(["lab/nothing.ts", "docs/decisions.md#no-such"]);
  });

  it("every citation in the repository resolves inside it", () => {
    let all = 0;
    const bad: Citation[] = [];
    const files = tracked.filter((f) => scanned(f) && f !== SELF);
    for (const file of files) {
      const r = unresolved(file, readFileSync(join(ROOT, file), "utf8"));
      all += r.all;
      bad.push(...r.bad);
    }
    // The scan must have found what it checks: hundreds of files, hundreds of citations.
    expect(files.length).toBeGreaterThan(150);
    expect(all).toBeGreaterThan(500);
    expect(bad.map((c) => `${c.file}:${c.line}: ${c.text}`)).toEqual([]);
  });
});
