#!/usr/bin/env node
// npm run release (after npm run build): the release tarball the feed's natnow package builds
// from (PKG_SOURCE), natnow-VERSION.tar.gz holding natnow-VERSION/natnow.js
// (the bundle) and LICENSE, reproducible (scripts/tar.mjs); then the
// Makefile's PKG_VERSION (package.json's version) and PKG_HASH are set to
// it. Publish the tarball at PKG_SOURCE_URL, or put it in the buildroot's
// dl/ directory, where the build finds it by name and checks its hash.
//   node scripts/release.mjs [--out DIR] [--no-makefile]
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tarGz } from "./tar.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const outDir = args.includes("--out") ? args[args.indexOf("--out") + 1] : join(root, "dist");
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
if (!/^[0-9]+(\.[0-9]+)*$/.test(version)) throw new Error(`package.json: version '${version}' is not one apk accepts`);

const base = `natnow-${version}`;
const tgz = tarGz([
  { name: `${base}/LICENSE`, mode: 0o644, data: readFileSync(join(root, "LICENSE")) },
  { name: `${base}/natnow.js`, mode: 0o644, data: readFileSync(join(root, "dist", "natnow.js")) },
]);
mkdirSync(outDir, { recursive: true });
const out = join(outDir, `${base}.tar.gz`);
writeFileSync(out, tgz);
const hash = createHash("sha256").update(tgz).digest("hex");
console.log(`built ${out}: ${tgz.length} bytes, sha256 ${hash}`);

if (!args.includes("--no-makefile")) {
  const mk = join(root, "openwrt-feed", "natnow", "Makefile");
  const text = readFileSync(mk, "utf8");
  const next = text.replace(/^PKG_VERSION:=.*$/m, `PKG_VERSION:=${version}`).replace(/^PKG_HASH:=.*$/m, `PKG_HASH:=${hash}`);
  if (!/^PKG_HASH:=/m.test(text)) throw new Error(`${mk}: no PKG_HASH line to set`);
  writeFileSync(mk, next);
  console.log(`${mk}: PKG_VERSION ${version}, PKG_HASH ${hash}`);
}
