/**
 * A lint of every package Makefile in the feed: the fields opkg and apk
 * (25.12+) need, versions apk accepts, integer releases, licenses, and a
 * conffiles entry for every config file a package installs.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/fixtures.ts";

const FEED = join(repoRoot, "openwrt-feed");

/** What is wrong with a package Makefile (empty: nothing). */
function lintMakefile(text: string): string[] {
  const v = (name: string) => new RegExp(`^${name}:=(.*)$`, "m").exec(text)?.[1].trim() ?? null;
  const problems: string[] = [];
  for (const k of ["PKG_NAME", "PKG_VERSION", "PKG_RELEASE", "PKG_LICENSE"]) if (v(k) === null) problems.push(`${k} missing`);
  const version = v("PKG_VERSION");
  // apk: digits and dots, an optional letter, suffixes like _rc1; no '-'
  if (version !== null && !/^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|p)[0-9]*)*$/.test(version)) {
    problems.push(`PKG_VERSION '${version}' is not a valid apk version`);
  }
  const release = v("PKG_RELEASE");
  if (release !== null && !/^[0-9]+$/.test(release)) problems.push(`PKG_RELEASE '${release}' is not an integer`);
  const license = v("PKG_LICENSE");
  if (license !== null && !/^(GPL-2\.0-only|GPL-2\.0-or-later|MIT|Apache-2\.0|BSD-[23]-Clause|ISC)$/.test(license)) {
    problems.push(`PKG_LICENSE '${license}' is not an SPDX identifier natnow uses`);
  }
  const conffiles = new Set([...text.matchAll(/define Package\/[^/\n]+\/conffiles\n([\s\S]*?)endef/g)].flatMap((m) => m[1].split("\n").map((l) => l.trim()).filter(Boolean)));
  for (const m of text.matchAll(/\$\(INSTALL_CONF\) \S+ \$\(1\)(\/etc\/\S+)/g)) {
    if (!conffiles.has(m[1])) problems.push(`${m[1]} is installed but not in conffiles`);
  }
  if (!/\$\(eval \$\(call (BuildPackage|KernelPackage),/.test(text)) problems.push("no BuildPackage/KernelPackage call");
  const maintainer = v("PKG_MAINTAINER");
  if (maintainer === null || !/^[^<>]+ <[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>$/.test(maintainer)) {
    problems.push(`PKG_MAINTAINER '${maintainer ?? ""}' is not 'Name <e-mail>'`);
  }
  // menuconfig shows "name... title" in 72 columns
  for (const m of text.matchAll(/define (?:Package|KernelPackage)\/([^/\n]+)\n[\s\S]*?^ {2}TITLE:=(.*)$/gm)) {
    if (m[1].length + 2 + m[2].length > 72) problems.push(`${m[1]}: title '${m[2]}' is wider than menuconfig's 72 columns`);
  }
  return problems;
}

const makefiles = readdirSync(FEED).filter((d) => existsSync(join(FEED, d, "Makefile")));

describe("the feed's package Makefiles", () => {
  it("are all there", () => expect(makefiles.sort()).toEqual(["iptables-mod-natnow", "kmod-natnow", "natnow", "quickjs"]));
  for (const d of makefiles) {
    it(`${d}/Makefile passes the lint`, () => expect(lintMakefile(readFileSync(join(FEED, d, "Makefile"), "utf8"))).toEqual([]));
  }
  it("natnow is arch-independent and needs quickjs, firewall4 and rpcd", () => {
    const t = readFileSync(join(FEED, "natnow", "Makefile"), "utf8");
    expect(t).toMatch(/^ {2}PKGARCH:=all$/m);
    expect(t).toMatch(/^ {2}DEPENDS:=\+quickjs \+firewall4 \+rpcd$/m);
  });
  it("the iptables extension builds against libxtables and the header kmod-natnow stages", () => {
    const ext = readFileSync(join(FEED, "iptables-mod-natnow", "Makefile"), "utf8");
    const kmod = readFileSync(join(FEED, "kmod-natnow", "Makefile"), "utf8");
    expect(ext).toMatch(/^ {2}DEPENDS:=\+libxtables \+kmod-ipt-natnow$/m);
    // OpenWrt's scan names a source package after its directory: a build dependency names that
    expect(ext).toMatch(/^PKG_BUILD_DEPENDS:=kmod-natnow$/m);
    expect(kmod).toMatch(/^PKG_NAME:=kmod-natnow$/m);
    expect(kmod).toMatch(/define Build\/InstallDev\n[\s\S]*xt_NATNOW\.h \$\(1\)\/usr\/include\/linux\/netfilter\//);
    expect(ext).not.toMatch(/kmod-natnow\/src/);
  });
  it("luci-app-natnow passes the lint through LuCI's variables", () => {
    const t = readFileSync(join(repoRoot, "luci", "luci-app-natnow", "Makefile"), "utf8");
    const title = /^LUCI_TITLE:=(.*)$/m.exec(t)?.[1] ?? "";
    expect("luci-app-natnow".length + 2 + title.length).toBeLessThanOrEqual(72);
    // luci.mk takes the maintainer and URL from LUCI_MAINTAINER and LUCI_URL
    expect(t).toMatch(/^LUCI_MAINTAINER:=[^<]+ <[^>@]+@[^>]+>$/m);
    expect(t).toMatch(/^LUCI_URL:=https:\/\/\S+$/m);
    expect(t).toMatch(/^include \.\.\/\.\.\/luci\.mk$/m);
  });
});

describe("the lint finds what is wrong", () => {
  const good = readFileSync(join(FEED, "natnow", "Makefile"), "utf8");
  const cases: [string, string, string][] = [
    ["a version apk refuses", good.replace("PKG_VERSION:=0.1.0", "PKG_VERSION:=0.1.0-beta"), "PKG_VERSION '0.1.0-beta' is not a valid apk version"],
    ["a release that is not an integer", good.replace("PKG_RELEASE:=1", "PKG_RELEASE:=r1"), "PKG_RELEASE 'r1' is not an integer"],
    ["a config file missing from conffiles", good.replace("/etc/config/natnow\nendef", "endef"), "/etc/config/natnow is installed but not in conffiles"],
    ["no license", good.replace(/^PKG_LICENSE:=.*\n/m, ""), "PKG_LICENSE missing"],
    ["a maintainer without an e-mail address", good.replace(/^PKG_MAINTAINER:=.*$/m, "PKG_MAINTAINER:=natnow developers"), "PKG_MAINTAINER 'natnow developers' is not 'Name <e-mail>'"],
    ["a title too wide for menuconfig", good.replace(/^ {2}TITLE:=.*$/m, `  TITLE:=${"x".repeat(70)}`), `natnow: title '${"x".repeat(70)}' is wider than menuconfig's 72 columns`],
  ];
  for (const [name, text, want] of cases) it(name, () => expect(lintMakefile(text)).toContain(want));
});

describe("the repository's luci.mk (what ../../luci.mk is from natnow's feed)", () => {
  /** A buildroot's feeds/ with natnow's feed and, when `luciFeed` is given, LuCI's under that name; runs make in the app's directory. */
  function makeIn(luciFeed: string | null): { status: number; out: string } {
    const top = mkdtempSync(join(tmpdir(), "natnow-luci-mk-"));
    try {
      const app = join(top, "feeds", "natnow", "luci", "luci-app-x");
      mkdirSync(app, { recursive: true });
      copyFileSync(join(repoRoot, "luci.mk"), join(top, "feeds", "natnow", "luci.mk"));
      writeFileSync(join(app, "Makefile"), "include ../../luci.mk\n");
      if (luciFeed) {
        mkdirSync(join(top, "feeds", luciFeed), { recursive: true });
        writeFileSync(join(top, "feeds", luciFeed, "luci.mk"), "all:\n\t@echo LuCI luci.mk for $(notdir $(CURDIR))\n");
      }
      const r = spawnSync("make", ["-s", "-C", app, `TOPDIR=${top}`], { encoding: "utf8" });
      return { status: r.status ?? -1, out: r.stdout + r.stderr };
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  }
  it.each(["luci", "openwrt_luci"])("includes LuCI's from a feed named %s", (name) => {
    expect(makeIn(name)).toEqual({ status: 0, out: "LuCI luci.mk for luci-app-x\n" });
  });
  it("says what is missing without the LuCI feed", () => {
    const r = makeIn(null);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/no feed has LuCI's luci.mk; add openwrt\/luci to feeds.conf/);
  });
});
