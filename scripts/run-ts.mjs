#!/usr/bin/env node
// Runs a TypeScript program of this repository (the demo, the benchmark)
// under Node: bundles it with esbuild into dist/tools/ (npm packages stay
// external) and runs it with the remaining arguments.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { basename, join } from "node:path";

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error("usage: node scripts/run-ts.mjs FILE.ts [ARGS...]");
  process.exit(64);
}
const outfile = join("dist", "tools", basename(entry).replace(/\.ts$/, ".mjs"));
await build({
  entryPoints: [entry], outfile, bundle: true, format: "esm", platform: "node", target: "node20",
  packages: "external", logLevel: "warning",
});
const r = spawnSync(process.execPath, [outfile, ...args], { stdio: "inherit" });
process.exit(r.status ?? 1);
