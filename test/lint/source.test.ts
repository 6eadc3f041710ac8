/**
 * Source rules, by ESLint (eslint.config.mjs: typescript-eslint's
 * type-checked rules, no `any`, the OS only from src/host/, a doc comment on
 * every export) and by the compiler (no export that nothing imports).
 */
import { ESLint } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { repoRoot } from "../helpers/fixtures.ts";
import { unusedExports } from "./exports.ts";

const eslint = new ESLint({ cwd: repoRoot });
/** The rules a text breaks, linted as if it were the file at `path`. */
async function broken(path: string, text: string): Promise<string[]> {
  const [r] = await eslint.lintText(text, { filePath: join(repoRoot, path) });
  return r.messages.map((m) => m.ruleId ?? m.message);
}

describe("source rules", () => {
  let results: ESLint.LintResult[] = [];
  beforeAll(async () => {
    results = await eslint.lintFiles(["src"]);
  }, 120_000);

  it("ESLint finds nothing in src/", () => {
    const problems = results.flatMap((r) => r.messages.map((m) => `${r.filePath.slice(repoRoot.length + 1)}:${m.line} ${m.ruleId ?? ""} ${m.message}`));
    expect(results.length).toBeGreaterThan(50);
    expect(problems).toEqual([]);
  });

  // each rule, broken once in a real file's place, is caught
  const cases: [string, string, string, string][] = [
    ["`any`", "src/plan/selector.ts", "/** x */\nexport function f(x: any): number {\n  return x as number;\n}\n", "@typescript-eslint/no-explicit-any"],
    ["Node's modules outside src/host/", "src/plan/selector.ts", 'import { readFileSync } from "node:fs";\n/** x */\nexport const f = readFileSync;\n', "no-restricted-imports"],
    ["process outside src/host/", "src/plan/selector.ts", "/** x */\nexport const f = (): string => process.cwd();\n", "no-restricted-globals"],
    ["QuickJS's std outside src/host/", "src/plan/selector.ts", "/** x */\nexport const f = (): unknown => globalThis.std;\n", "no-restricted-properties"],
    ["an export without a doc comment", "src/plan/selector.ts", "export function f(): number {\n  return 1;\n}\n", "jsdoc/require-jsdoc"],
  ];
  for (const [what, path, text, rule] of cases) {
    it(`catches ${what}`, async () => expect(await broken(path, text)).toContain(rule));
  }
  it("lets src/host/ touch the OS", async () => {
    const rules = await broken("src/host/node.ts",
      'import { readFileSync } from "node:fs";\n/** x */\nexport const f = (): unknown => [readFileSync, process.cwd(), globalThis.std];\n');
    for (const r of ["no-restricted-imports", "no-restricted-globals", "no-restricted-properties"]) expect(rules).not.toContain(r);
  });

  it("every export of src/ is imported somewhere (else it is private or dead)", () => {
    expect(unusedExports(repoRoot, join(repoRoot, "tsconfig.test.json"))).toEqual([]);
  });
});
