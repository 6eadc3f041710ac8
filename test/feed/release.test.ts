/** `npm run release`: the tarball the feed's natnow package builds from (PKG_SOURCE), reproducible, holding the bundle. */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/fixtures.ts";
import { bundle } from "../e2e/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "natnow-release-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const version = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version as string;
const release = (out: string) =>
  execFileSync(process.execPath, [join(repoRoot, "scripts", "release.mjs"), "--out", out, "--no-makefile"], { encoding: "utf8" });
let printed = "";
beforeAll(() => {
  bundle();
  printed = release(dir);
}, 120_000);

describe("the release tarball", () => {
  const tgz = () => join(dir, `natnow-${version}.tar.gz`);
  it("is named as the Makefile's PKG_SOURCE and unpacks into its PKG_BUILD_DIR", () => {
    const mk = readFileSync(join(repoRoot, "openwrt-feed", "natnow", "Makefile"), "utf8");
    expect(mk).toMatch(/^PKG_NAME:=natnow$/m);
    expect(mk).toMatch(/^PKG_SOURCE:=\$\(PKG_NAME\)-\$\(PKG_VERSION\)\.tar\.gz$/m);
    expect(mk).toMatch(new RegExp(`^PKG_VERSION:=${version.replaceAll(".", "\\.")}$`, "m"));
    expect(mk).toMatch(/^PKG_HASH:=[0-9a-f]{64}$/m);
    expect(mk).toMatch(/\$\(INSTALL_DATA\) \$\(PKG_BUILD_DIR\)\/natnow\.js /);
    const listing = execFileSync("tar", ["-tvzf", tgz()], { encoding: "utf8" }).trim().split("\n")
      .map((l) => { const w = l.split(/\s+/); return `${w[0]} ${w[1]} ${w[5]}`; });
    expect(listing).toEqual([
      `drwxr-xr-x root/root natnow-${version}/`,
      `-rw-r--r-- root/root natnow-${version}/LICENSE`,
      `-rw-r--r-- root/root natnow-${version}/natnow.js`,
    ]);
  });
  it("holds the bundle npm run build makes", () => {
    const out = join(dir, "x");
    execFileSync("mkdir", ["-p", out]);
    execFileSync("tar", ["-xzf", tgz(), "-C", out]);
    expect(readFileSync(join(out, `natnow-${version}`, "natnow.js"))).toEqual(readFileSync(join(repoRoot, "dist", "natnow.js")));
  });
  it("prints its sha256, and is the same bytes when made again", () => {
    const hash = createHash("sha256").update(readFileSync(tgz())).digest("hex");
    expect(printed).toContain(`sha256 ${hash}`);
    const again = mkdtempSync(join(tmpdir(), "natnow-release2-"));
    try {
      release(again);
      expect(readFileSync(join(again, `natnow-${version}.tar.gz`))).toEqual(readFileSync(tgz()));
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });
});
