/**
 * A lint of every package Makefile in the feed: the fields opkg and apk
 * (25.12+) need, versions apk accepts, integer releases, licenses, and a
 * conffiles entry for every config file a package installs.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
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
  return problems;
}

const makefiles = readdirSync(FEED).filter((d) => existsSync(join(FEED, d, "Makefile")));

describe("the feed's package Makefiles", () => {
  it("are all there", () => expect(makefiles.sort()).toEqual(["iptables-mod-natnow", "kmod-natnow", "natnow", "quickjs"]));
  for (const d of makefiles) {
    it(`${d}/Makefile passes the lint`, () => expect(lintMakefile(readFileSync(join(FEED, d, "Makefile"), "utf8"))).toEqual([]));
  }
  it("natnow is arch-independent and needs quickjs", () => {
    const t = readFileSync(join(FEED, "natnow", "Makefile"), "utf8");
    expect(t).toMatch(/^ {2}PKGARCH:=all$/m);
    expect(t).toMatch(/^ {2}DEPENDS:=\+quickjs$/m);
  });
});

describe("the lint finds what is wrong", () => {
  const good = readFileSync(join(FEED, "natnow", "Makefile"), "utf8");
  const cases: [string, string, string][] = [
    ["a version apk refuses", good.replace("PKG_VERSION:=0.1.0", "PKG_VERSION:=0.1.0-beta"), "PKG_VERSION '0.1.0-beta' is not a valid apk version"],
    ["a release that is not an integer", good.replace("PKG_RELEASE:=1", "PKG_RELEASE:=r1"), "PKG_RELEASE 'r1' is not an integer"],
    ["a config file missing from conffiles", good.replace("/etc/config/natnow\nendef", "endef"), "/etc/config/natnow is installed but not in conffiles"],
    ["no license", good.replace(/^PKG_LICENSE:=.*\n/m, ""), "PKG_LICENSE missing"],
  ];
  for (const [name, text, want] of cases) it(name, () => expect(lintMakefile(text)).toContain(want));
});
