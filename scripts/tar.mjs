// Reproducible gzipped tars with GNU tar (npm run package, npm run release):
// entries are written to a scratch directory with their modes, then archived
// in the order given (ipkg-build's member order matters to opkg), owned by
// root, with one fixed time, and gzipped without a name or time.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Archive time: SOURCE_DATE_EPOCH when set (reproducible builds), else a fixed date. */
export const MTIME = Number(process.env.SOURCE_DATE_EPOCH ?? 1764000000);

/**
 * A gzipped tar of `entries` ({ name: "./path" or "dir/path", mode, data });
 * directories (mode 0755) are listed before the files in them.
 */
export function tarGz(entries) {
  const scratch = mkdtempSync(join(tmpdir(), "natnow-tar-"));
  try {
    const members = [];
    const dirs = new Set();
    for (const e of entries) {
      const segs = e.name.split("/").slice(0, -1);
      for (let i = 1; i <= segs.length; i++) {
        const d = segs.slice(0, i).join("/");
        if (d === "." || dirs.has(d)) continue;
        dirs.add(d);
        mkdirSync(join(scratch, d), { recursive: true });
        chmodSync(join(scratch, d), 0o755);
        members.push(d);
      }
      const p = join(scratch, e.name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, e.data);
      chmodSync(p, e.mode);
      members.push(e.name);
    }
    const tar = execFileSync("tar", [
      "--create", "--format=gnu", "--no-recursion", "--owner=root:0", "--group=root:0", `--mtime=@${MTIME}`,
      "-C", scratch, "--", ...members,
    ], { maxBuffer: 1 << 28 });
    return execFileSync("gzip", ["-n", "-9"], { input: tar, maxBuffer: 1 << 28 });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
