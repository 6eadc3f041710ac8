#!/usr/bin/env node
// Builds the natnow package as an OpenWrt .ipk without the SDK (npm run
// package): the files and modes come from openwrt-feed/natnow/Makefile's
// install section, the control data from its variables. An .ipk is what
// OpenWrt's ipkg-build writes: a gzipped tar of ./debian-binary,
// ./data.tar.gz and ./control.tar.gz, made with GNU tar (scripts/tar.mjs)
// with fixed owners and times, so the same input gives the same bytes.
//
// OpenWrt 25.12 installs .apk packages (apk-tools 3's ADB format, which
// Debian 12 cannot write): build those with the SDK (`make
// package/natnow/compile`, the feed added to feeds.conf), which writes an
// .apk or an .ipk as the release's package manager wants.
import { readFileSync, statSync, mkdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { MTIME, tarGz } from "./tar.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkgDir = join(root, "openwrt-feed", "natnow");
const makefile = readFileSync(join(pkgDir, "Makefile"), "utf8");
const outDir = process.argv[2] === "--out" ? process.argv[3] : join(root, "dist");

const v = (name) => {
  const m = new RegExp(`^${name}:=(.*)$`, "m").exec(makefile);
  if (!m) throw new Error(`Makefile: ${name} missing`);
  return m[1].trim();
};
const field = (name) => {
  const m = new RegExp(`^  ${name}:=(.*)$`, "m").exec(makefile);
  return m ? m[1].trim() : null;
};
const block = (name) => {
  const m = new RegExp(`define Package/natnow/${name}\\n([\\s\\S]*?)endef`).exec(makefile);
  if (!m) throw new Error(`Makefile: Package/natnow/${name} missing`);
  return m[1];
};

/** The files of the install section: destination, mode, source. */
function installed() {
  const modes = { INSTALL_DATA: 0o644, INSTALL_BIN: 0o755, INSTALL_CONF: 0o600 };
  const files = [];
  for (const m of block("install").matchAll(/\$\((INSTALL_DATA|INSTALL_BIN|INSTALL_CONF)\) (\S+) \$\(1\)(\S+)/g)) {
    const src = m[2] === "$(PKG_BUILD_DIR)/natnow.js" ? join(root, "dist", "natnow.js") : join(pkgDir, m[2]);
    files.push({ dest: m[3], mode: modes[m[1]], data: readFileSync(src) });
  }
  return files;
}

const files = installed();
const version = `${v("PKG_VERSION")}-${v("PKG_RELEASE")}`;
const description = block("description").split("\n").filter((l) => l.trim()).map((l) => ` ${l.trim()}`).join("\n");
const depends = (field("DEPENDS") ?? "").split(/\s+/).filter(Boolean).map((d) => d.replace(/^\+/, "")).join(", ");
const control = [
  `Package: ${v("PKG_NAME")}`,
  `Version: ${version}`,
  `Depends: ${depends}`,
  `Source: feeds/natnow/natnow`,
  `SourceName: natnow`,
  `License: ${v("PKG_LICENSE")}`,
  `Section: ${field("SECTION")}`,
  `SourceDateEpoch: ${MTIME}`,
  `Maintainer: ${v("PKG_MAINTAINER")}`,
  `Architecture: ${field("PKGARCH")}`,
  `Installed-Size: ${files.reduce((a, f) => a + f.data.length, 0)}`,
  `Description: ${field("TITLE")}`,
  description,
].join("\n") + "\n";
// what OpenWrt's package-pack.mk puts into every package: run uci-defaults, enable and start the service
const postinst = `#!/bin/sh
[ "\${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "\${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "\${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
`;
const prerm = `#!/bin/sh
[ -s "\${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "\${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
`;
// the package's own prerm (Package/natnow/prerm), which OpenWrt's default_prerm runs as prerm-pkg
const prermPkg = block("prerm").replaceAll("$$", "$").trimStart();
const conffiles = block("conffiles").split("\n").map((l) => l.trim()).filter(Boolean).join("\n") + "\n";

const data = tarGz(files.map((f) => ({ name: `.${f.dest}`, mode: f.mode, data: f.data })));
const controlTar = tarGz([
  { name: "./control", mode: 0o644, data: Buffer.from(control) },
  { name: "./conffiles", mode: 0o644, data: Buffer.from(conffiles) },
  { name: "./postinst", mode: 0o755, data: Buffer.from(postinst) },
  { name: "./prerm", mode: 0o755, data: Buffer.from(prerm) },
  { name: "./prerm-pkg", mode: 0o755, data: Buffer.from(prermPkg) },
]);
const ipk = tarGz([
  { name: "./debian-binary", mode: 0o644, data: Buffer.from("2.0\n") },
  { name: "./data.tar.gz", mode: 0o644, data },
  { name: "./control.tar.gz", mode: 0o644, data: controlTar },
]);
mkdirSync(outDir, { recursive: true });
const out = join(outDir, `natnow_${version}_all.ipk`);
writeFileSync(out, ipk);
console.log(`built ${out}: ${statSync(out).size} bytes`);
