/**
 * Test-only: the exports of src/ that no other module imports (src, test,
 * scripts, bench), found with the TypeScript compiler's own module
 * resolution: an export nobody imports is either module-private or dead.
 * Types are left out: a module's exported types describe its API even when
 * callers only use them through its functions.
 */
import { relative } from "node:path";
import ts from "typescript";

/** `path: name` for every export of src/ no other file imports. */
export function unusedExports(root: string, tsconfig: string): string[] {
  const cfg = ts.getParsedCommandLineOfConfigFile(tsconfig, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!cfg) throw new Error(`cannot read ${tsconfig}`);
  const program = ts.createProgram(cfg.fileNames, cfg.options);
  const checker = program.getTypeChecker();
  const files = program.getSourceFiles().filter((f) => !f.isDeclarationFile && !f.fileName.includes("/node_modules/"));
  const used = new Set<string>();
  const use = (from: ts.SourceFile, spec: string, name: string) => {
    const r = ts.resolveModuleName(spec, from.fileName, cfg.options, ts.sys).resolvedModule;
    if (r) used.add(`${r.resolvedFileName}#${name}`);
  };
  for (const f of files) {
    for (const st of f.statements) {
      if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
        const spec = st.moduleSpecifier.text;
        if (ts.isImportDeclaration(st)) {
          const b = st.importClause?.namedBindings;
          if (b && ts.isNamespaceImport(b)) use(f, spec, "*");
          else if (b) for (const e of b.elements) use(f, spec, (e.propertyName ?? e.name).text);
          if (st.importClause?.name) use(f, spec, "default");
        } else if (st.exportClause && ts.isNamedExports(st.exportClause)) {
          for (const e of st.exportClause.elements) use(f, spec, (e.propertyName ?? e.name).text);
        } else {
          use(f, spec, "*");
        }
      }
    }
    // import("./x.ts") expressions
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
        use(f, n.arguments[0].text, "*");
      }
      ts.forEachChild(n, visit);
    };
    visit(f);
  }
  const out: string[] = [];
  for (const f of files) {
    const rel = relative(root, f.fileName);
    if (!rel.startsWith("src/") || used.has(`${f.fileName}#*`)) continue;
    const sym = checker.getSymbolAtLocation(f);
    for (const e of sym ? checker.getExportsOfModule(sym) : []) {
      const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
      if (!(target.flags & ts.SymbolFlags.Value)) continue;
      if (!used.has(`${f.fileName}#${e.name}`)) out.push(`${rel}: ${e.name}`);
    }
  }
  return out.sort();
}
