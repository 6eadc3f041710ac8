/** The systemd unit of plain Linux (linux/natnow.service): systemd's own check, else a parse of it. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DAEMON_USAGE } from "../../src/cli/daemon.ts";
import { repoRoot } from "../helpers/fixtures.ts";

const unit = join(repoRoot, "linux", "natnow.service");
const text = readFileSync(unit, "utf8");

/** The unit's sections and their keys (values in order: a key may repeat). */
function parseUnit(t: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let cur: Map<string, string[]> | null = null;
  for (const [i, raw] of t.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[([A-Za-z]+)\]$/.exec(line);
    if (sec) {
      cur = new Map();
      out.set(sec[1], cur);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || cur === null) throw new Error(`line ${i + 1}: not a key=value inside a section: '${line}'`);
    cur.set(kv[1], [...(cur.get(kv[1]) ?? []), kv[2]]);
  }
  return out;
}

const verify = spawnSync("systemd-analyze", ["--version"]).status === 0;

describe("linux/natnow.service", () => {
  it.runIf(verify)("passes systemd-analyze verify with no word said", () => {
    // verify checks that ExecStart's program exists: this machine's node may live elsewhere
    const dir = mkdtempSync(join(tmpdir(), "natnow-unit-"));
    const copy = join(dir, "natnow.service");
    writeFileSync(copy, text.replace("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `));
    const r = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" });
    rmSync(dir, { recursive: true, force: true });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
  const u = parseUnit(text);
  const one = (sec: string, key: string) => {
    const v = u.get(sec)?.get(key);
    expect(v, `${sec}.${key}`).toHaveLength(1);
    return (v as string[])[0];
  };
  it.each([
    ["Service", "Type", "simple"],
    ["Service", "RuntimeDirectory", "natnow"],
    ["Service", "RuntimeDirectoryPreserve", "yes"],
    ["Service", "Restart", "on-failure"],
    ["Install", "WantedBy", "multi-user.target"],
  ])("%s.%s is %s", (sec, key, want) => {
    expect(one(sec, key)).toBe(want);
  });
  it("runs natnow daemon with the bundle, under node, with options the daemon takes", () => {
    const argv = one("Service", "ExecStart").split(/\s+/);
    expect(argv.slice(0, 3)).toEqual(["/usr/bin/node", "/usr/local/lib/natnow/natnow.js", "daemon"]);
    for (const o of argv.filter((a) => a.startsWith("--"))) expect(DAEMON_USAGE).toContain(`[${o} `);
    // the state directory is the one systemd makes (RuntimeDirectory under /run)
    expect(argv[argv.indexOf("--state-dir") + 1]).toBe(`/run/${one("Service", "RuntimeDirectory")}`);
  });
  it("starts after the firewall it reads is loaded", () => {
    expect(one("Unit", "After").split(/\s+/)).toContain("nftables.service");
  });
});
