#!/usr/bin/env node
// Bundles src/cli/main.ts into dist/natnow.js: one ES module, no Node
// built-ins on the QuickJS code path (they are imported dynamically, only
// under Node), minified. Prints the size; fails above 192 KiB (the reader
// of iptables-nft's save output and real programs' rule shapes took it past
// 150; the package ships it gzip-compressed, about a quarter of that).
import { build } from "esbuild";
import { statSync } from "node:fs";

const LIMIT = 192 * 1024;
const outfile = "dist/natnow.js";
await build({
  entryPoints: ["src/cli/main.ts"],
  outfile,
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2020",
  minify: true,
  legalComments: "none",
  external: ["node:*"],
  banner: { js: "// natnow - https://github.com/natnow (GPL-2.0-only)" },
  logLevel: "warning",
});
const size = statSync(outfile).size;
console.log(`built ${outfile}: ${size} bytes (${(size / 1024).toFixed(1)} KiB, limit ${LIMIT / 1024} KiB)`);
if (size > LIMIT) {
  console.error(`bundle is over the ${LIMIT / 1024} KiB limit`);
  process.exit(1);
}
