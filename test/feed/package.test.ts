/** `npm run package`: the natnow .ipk, unpacked with tar and checked against the Makefile and the sources. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/fixtures.ts";
import { bundle } from "../e2e/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "natnow-ipk-"));
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { cwd: dir, encoding: "utf8" });
let ipk: string;

beforeAll(() => {
  bundle();
  const out = execFileSync(process.execPath, [join(repoRoot, "scripts", "package.mjs"), "--out", dir], { encoding: "utf8" });
  ipk = /built (\S+):/.exec(out)?.[1] ?? "";
  sh("tar", "-xzf", ipk);
  sh("mkdir", "control", "data");
  sh("tar", "-xzf", "control.tar.gz", "-C", "control");
  sh("tar", "-xzf", "data.tar.gz", "-C", "data");
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the natnow .ipk", () => {
  it("is named by version and architecture, and holds the three members in ipkg-build's order", () => {
    expect(ipk.endsWith("/natnow_0.1.0-1_all.ipk")).toBe(true);
    expect(sh("tar", "-tzf", ipk).split("\n").filter(Boolean)).toEqual(["./debian-binary", "./data.tar.gz", "./control.tar.gz"]);
    expect(readFileSync(join(dir, "debian-binary"), "utf8")).toBe("2.0\n");
  });
  it("has the control fields opkg needs", () => {
    const c = readFileSync(join(dir, "control", "control"), "utf8");
    for (const f of ["Package: natnow", "Version: 0.1.0-1", "Depends: quickjs, firewall4, rpcd", "License: GPL-2.0-only", "Architecture: all", "Section: net"]) {
      expect(c).toContain(`${f}\n`);
    }
    expect(c).toMatch(/^Installed-Size: [0-9]+$/m);
    expect(c).toMatch(/^Description: .+\n .+/m);
  });
  it("marks /etc/config/natnow as a conffile, and runs OpenWrt's default postinst and prerm", () => {
    expect(readFileSync(join(dir, "control", "conffiles"), "utf8")).toBe("/etc/config/natnow\n");
    expect(readFileSync(join(dir, "control", "postinst"), "utf8")).toMatch(/default_postinst "\$0" "\$@"/);
    expect(readFileSync(join(dir, "control", "prerm"), "utf8")).toMatch(/default_prerm "\$0" "\$@"/);
    for (const s of ["postinst", "prerm", "prerm-pkg"]) expect(statSync(join(dir, "control", s)).mode & 0o777).toBe(0o755);
    // the package's own prerm, which default_prerm runs: on removal only, the include section goes
    expect(readFileSync(join(dir, "control", "prerm-pkg"), "utf8")).toBe(
      '#!/bin/sh\n[ -n "${IPKG_INSTROOT}" ] || [ "${PKG_UPGRADE}" = 1 ] || /usr/share/natnow/prerm\nexit 0\n');
  });
  it("installs every file with its mode, owned by root", () => {
    const listing = sh("tar", "-tvzf", "data.tar.gz").split("\n").filter((l) => l && !l.startsWith("d"))
      .map((l) => { const w = l.split(/\s+/); return `${w[0]} ${w[1]} ${w[5]}`; });
    expect(listing.sort()).toEqual([
      "-rw------- root/root ./etc/config/natnow",
      "-rw-r--r-- root/root ./etc/hotplug.d/iface/17-natnow",
      "-rw-r--r-- root/root ./usr/share/natnow/fw4.include",
      "-rw-r--r-- root/root ./usr/share/natnow/natnow.js",
      "-rw-r--r-- root/root ./usr/share/rpcd/acl.d/natnow.json",
      "-rwxr-xr-x root/root ./etc/init.d/natnow",
      "-rwxr-xr-x root/root ./etc/uci-defaults/90-natnow",
      "-rwxr-xr-x root/root ./usr/bin/natnow",
      "-rwxr-xr-x root/root ./usr/libexec/rpcd/natnow",
      "-rwxr-xr-x root/root ./usr/share/natnow/prerm",
    ]);
    expect(readFileSync(join(dir, "data", "usr/share/natnow/natnow.js"))).toEqual(readFileSync(bundle()));
    expect(readFileSync(join(dir, "data", "etc/init.d/natnow"), "utf8"))
      .toBe(readFileSync(join(repoRoot, "openwrt-feed/natnow/files/natnow.init"), "utf8"));
  });
  it("is the same bytes when built again", () => {
    const again = mkdtempSync(join(tmpdir(), "natnow-ipk2-"));
    try {
      execFileSync(process.execPath, [join(repoRoot, "scripts", "package.mjs"), "--out", again]);
      expect(readFileSync(join(again, "natnow_0.1.0-1_all.ipk"))).toEqual(readFileSync(ipk));
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });
});
