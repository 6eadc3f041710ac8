/** Source rules: the OS only in src/host, a doc comment on every export, no `any`. */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "../helpers/fixtures.ts";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const src = files(join(repoRoot, "src")).map((p) => ({ path: relative(repoRoot, p), text: readFileSync(p, "utf8") }));

describe("source rules", () => {
  it("only src/host touches the OS", () => {
    const offenders = src
      .filter((f) => !f.path.startsWith("src/host/"))
      .filter((f) => /\bnode:|\bprocess\.|\brequire\(|globalThis\.(std|os)\b|\bstd\.(open|exit|out)|\bos\.(exec|open|read)/.test(f.text))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });
  it("every export has a doc comment", () => {
    const missing: string[] = [];
    for (const f of src) {
      const lines = f.text.split("\n");
      lines.forEach((l, i) => {
        if (!/^export (async )?(function|const|class|interface|type|let) /.test(l)) return;
        let j = i - 1;
        while (j >= 0 && /^\s*(\*|\/\/)/.test(lines[j]) && !/\/\*\*/.test(lines[j])) j--;
        if (j < 0 || !/\/\*\*|^\s*\*\/\s*$|\*\/$/.test(lines[j])) missing.push(`${f.path}:${i + 1}`);
      });
    }
    expect(missing).toEqual([]);
  });
  it("no `any`", () => {
    const code = (t: string) => t.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    const offenders = src.filter((f) => /:\s*any\b|<any>|as any\b/.test(code(f.text))).map((f) => f.path);
    expect(offenders).toEqual([]);
  });
});
