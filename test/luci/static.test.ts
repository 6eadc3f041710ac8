/**
 * luci-app-natnow, read statically: the view parses as the ES2015 LuCI's
 * views are written in, every user-visible string goes through _() and is in
 * the translation template, both translations are complete, and the menu
 * and ACL are valid and grant only what the page uses.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/fixtures.ts";

const APP = join(repoRoot, "luci", "luci-app-natnow");
const VIEW = join(APP, "htdocs/luci-static/resources/view/natnow/instant.js");
const source = readFileSync(VIEW, "utf8");
const ast = ts.createSourceFile("instant.js", source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);

function walk(n: ts.Node, fn: (n: ts.Node) => void): void {
  fn(n);
  n.forEachChild((c) => walk(c, fn));
}

/** The strings of the PO file's msgid → msgstr (the header left out). */
function po(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = readFileSync(path, "utf8");
  const unq = (s: string) => JSON.parse(s) as string;
  for (const m of text.matchAll(/^msgid (".*")\nmsgstr (".*")$/gm)) if (unq(m[1]) !== "") out.set(unq(m[1]), unq(m[2]));
  return out;
}

const calls = (name: string): ts.CallExpression[] => {
  const out: ts.CallExpression[] = [];
  walk(ast, (n) => {
    if (ts.isCallExpression(n) && n.expression.getText(ast) === name) out.push(n);
  });
  return out;
};
const literal = (n: ts.Node | undefined) => (n && ts.isStringLiteral(n) ? n.text : null);
const translated = new Set(calls("_").map((c) => literal(c.arguments[0])).filter((x): x is string => x !== null));

describe("the view", () => {
  it("has no syntax errors", () => {
    const r = ts.transpileModule(source, { compilerOptions: { allowJs: true, target: ts.ScriptTarget.ES2015 }, reportDiagnostics: true, fileName: "instant.js" });
    expect((r.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))).toEqual([]);
  });
  it("uses no syntax newer than ES2015 (async, ?., ??, spread in objects, class fields)", () => {
    const newer: string[] = [];
    walk(ast, (n) => {
      if (ts.isAwaitExpression(n) || n.kind === ts.SyntaxKind.AsyncKeyword || n.kind === ts.SyntaxKind.QuestionDotToken ||
        (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken) ||
        ts.isSpreadAssignment(n) || ts.isPropertyDeclaration(n) || n.kind === ts.SyntaxKind.BigIntLiteral) {
        newer.push(`${ts.SyntaxKind[n.kind]} at line ${ast.getLineAndCharacterOfPosition(n.getStart(ast)).line + 1}`);
      }
    });
    expect(newer).toEqual([]);
  });
  it("starts like LuCI's views: 'use strict' and the 'require' lines", () => {
    expect(source.split("\n").slice(0, 6)).toEqual(["'use strict';", "'require view';", "'require form';", "'require rpc';", "'require poll';", "'require ui';"]);
  });
  it("wraps every user-visible string in _()", () => {
    const bare: string[] = [];
    walk(ast, (n) => {
      if (!ts.isStringLiteral(n) || !/[A-Za-z]/.test(n.text) || !(/[A-Z]/.test(n.text) || /\s/.test(n.text))) return;
      const p = n.parent;
      if (ts.isExpressionStatement(p)) return; // 'use strict', 'require ...'
      if (ts.isCallExpression(p) && ["_", "ui.createHandlerFn"].indexOf(p.expression.getText(ast)) >= 0) return; // text; a method name
      if (ts.isPropertyAssignment(p) && p.name.getText(ast).replace(/'/g, "") === "class") return;
      bare.push(n.text);
    });
    expect(bare).toEqual([]);
  });
  it("every translated string is in the template, and the template is current", () => {
    const pot = po(join(APP, "po/templates/natnow.pot"));
    expect([...translated].filter((s) => !pot.has(s))).toEqual([]);
    const r = spawnSync(process.execPath, [join(repoRoot, "scripts/luci-pot.mjs"), "--check"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
  for (const lang of ["de", "zh_Hans"]) {
    it(`the ${lang} translation is complete and valid`, () => {
      const pot = po(join(APP, "po/templates/natnow.pot"));
      const tr = po(join(APP, "po", lang, "natnow.po"));
      expect([...pot.keys()].filter((k) => !tr.get(k))).toEqual([]);
      // format strings keep their placeholders
      for (const [k, v] of tr) expect([k, (v.match(/%[ds]/g) ?? []).sort()]).toEqual([k, (k.match(/%[ds]/g) ?? []).sort()]);
      const r = spawnSync("msgfmt", ["--check-format", "-o", "/dev/null", join(APP, "po", lang, "natnow.po")], { encoding: "utf8" });
      expect(r.error).toBeUndefined(); // gettext is installed by scripts/setup.sh
      expect(r.status).toBe(0);
    });
  }
});

describe("menu and ACL", () => {
  const menu = JSON.parse(readFileSync(join(APP, "root/usr/share/luci/menu.d/luci-app-natnow.json"), "utf8"));
  const acl = JSON.parse(readFileSync(join(APP, "root/usr/share/rpcd/acl.d/luci-app-natnow.json"), "utf8"));
  it("adds the Instant NAT tab under Network > Firewall, for the natnow config", () => {
    expect(menu).toEqual({
      "admin/network/firewall/natnow": {
        title: "Instant NAT", order: 45, action: { type: "view", path: "natnow/instant" },
        depends: { acl: ["luci-app-natnow"], uci: { natnow: true } },
      },
    });
    expect(existsSync(join(APP, "htdocs/luci-static/resources/view", `${menu["admin/network/firewall/natnow"].action.path}.js`))).toBe(true);
  });
  it("grants exactly what the view uses", () => {
    const rpcs = calls("rpc.declare").map((c) => {
      const o = c.arguments[0] as ts.ObjectLiteralExpression;
      const get = (k: string) => literal((o.properties.find((p) => p.name?.getText(ast) === k) as ts.PropertyAssignment).initializer);
      return `${get("object")}.${get("method")}`;
    });
    const loaded = calls("uci.load").map((c) => literal(c.arguments[0]));
    const maps = [...source.matchAll(/new form\.Map\('([a-z]+)'/g)].map((m) => m[1]);
    expect(rpcs.sort()).toEqual(["natnow.apply", "natnow.dismiss", "natnow.plan", "natnow.status"]);
    expect(acl).toEqual({
      "luci-app-natnow": {
        description: expect.any(String),
        read: { uci: [...new Set(loaded)].sort().reverse(), ubus: { natnow: ["status", "plan"] } },
        write: { uci: [...new Set(maps)].sort().reverse(), ubus: { natnow: ["apply", "dismiss"] } },
      },
    });
  });
});
