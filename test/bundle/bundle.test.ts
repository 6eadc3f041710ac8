import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { natnowArgv } from "../helpers/qjs.ts";
import { configFixtures, fixturePath, repoRoot } from "../helpers/fixtures.ts";

const bundlePath = join(repoRoot, "dist", "natnow.js");
const scratch = mkdtempSync(join(tmpdir(), "natnow-bundle-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let bundle: string;

beforeAll(() => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts", "build.mjs")], { cwd: repoRoot, encoding: "utf8" });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  bundle = readFileSync(bundlePath, "utf8");
}, 60_000);

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function viaNode(args: string[]): Run {
  const r = spawnSync(process.execPath, [bundlePath, ...args], { cwd: repoRoot, encoding: "latin1" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The bundle in the router's engine, a native qjs, as /usr/bin/natnow runs it. */
function viaQjs(args: string[]): Run {
  const [qjs, ...rest] = natnowArgv(...args);
  const r = spawnSync(qjs, rest, { cwd: repoRoot, encoding: "latin1" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const ex = (n: string, f: string) => fixturePath("fw4-examples", n, f);
const cfg = (n: string) => fixturePath("configs", n, "firewall");
const facts = ["--interfaces", ex("a", "interfaces.json"), "--fw4-state", ex("a", "fw4.state")];

const cases: [string, string[]][] = [
  ...configFixtures().flatMap((n): [string, string[]][] => [
    [`uci show ${n}`, ["uci", "show", "--file", cfg(n)]],
    [`uci show -X ${n}`, ["uci", "show", "-X", "--file", cfg(n)]],
    [`uci export ${n}`, ["uci", "export", "--file", cfg(n)]],
  ]),
  ["uci show: parse error", ["uci", "show", "--file", fixturePath("uci", "broken", "firewall")]],
  ["uci show: missing file", ["uci", "show", "--file", fixturePath("uci", "nonexistent")]],
  ["plan: forward added", ["plan", "--previous", ex("a", "firewall"), "--config", ex("b", "firewall"), ...facts]],
  ["plan: forward removed, JSON", ["plan", "--previous", ex("c", "firewall"), "--config", ex("a", "firewall"), ...facts, "--json"]],
  ["plan: nat section", ["plan", "--previous", ex("a", "firewall"), "--config", ex("g", "firewall"), ...facts]],
  ["plan: IPv6 forward", ["plan", "--previous", ex("h", "firewall"), "--config", ex("a", "firewall"), ...facts, "--json"]],
  ["plan: boot", ["plan", "--boot", "--config", cfg("08-luci-written"), ...facts]],
  ["plan: fw4 skips", ["plan", "--previous", ex("a", "firewall"), "--config", cfg("12-fw4-skips"), ...facts]],
  ["plan: policy", ["plan", "--previous", ex("a", "firewall"), "--config", ex("c", "firewall"), ...facts,
    "--policy", fixturePath("policy", "natnow")]],
  ["plan: broken config", ["plan", "--previous", ex("a", "firewall"), "--config", fixturePath("uci", "broken", "firewall"), ...facts]],
  ["plan: unreadable facts", ["plan", "--previous", ex("a", "firewall"), "--config", ex("b", "firewall"), "--interfaces", ex("a", "firewall")]],
  ["plan: no previous", ["plan", "--config", ex("b", "firewall")]],
  ["apply: broken config", ["apply", "--previous", ex("a", "firewall"), "--config", fixturePath("uci", "broken", "firewall"), ...facts,
    "--state-dir", join(scratch, "broken")]],
  ["apply: nothing changed", ["apply", "--previous", ex("a", "firewall"), "--config", ex("a", "firewall"), ...facts,
    "--state-dir", join(scratch, "same")]],
  ["apply: unknown backend", ["apply", "--config", ex("a", "firewall"), "--backend", "iptables"]],
  ["status: nothing recorded", ["status", "--state-dir", join(scratch, "none"), "--policy", join(scratch, "none")]],
  ["status: recorded runs, as JSON", ["status", "--state-dir", fixturePath("state"), "--policy", fixturePath("policy", "natnow"), "--json"]],
  ["usage error", ["plan", "--bogus"]],
  ["version", ["version"]],
];

describe("dist/natnow.js runs the same in QuickJS and Node", () => {
  it("is one file under 192 KiB (the limit build.mjs sets) with no static imports", () => {
    expect(bundle.length).toBeLessThan(192 * 1024);
    expect(bundle).not.toMatch(/(^|[;\s])import\s*[{*\w"']/);
  });
  for (const [name, args] of cases) {
    it(name, () => {
      const n = viaNode(args);
      const q = viaQjs(args);
      if (name === "version") {
        expect(n.stdout).toBe("natnow 0.1.0 (node)\n");
        expect(q.stdout).toBe("natnow 0.1.0 (qjs)\n");
        return;
      }
      expect(q).toEqual(n);
    });
  }
});

describe("the bundle's output is right, not just the same", () => {
  it("uci show prints what libuci printed", () => {
    for (const n of configFixtures()) {
      const q = viaQjs(["uci", "show", "--file", cfg(n)]);
      expect(q.stdout).toBe(readFileSync(fixturePath("configs", n, "show.txt"), "latin1"));
    }
  });
  it("a parse error exits 1 with libuci's message", () => {
    const q = viaQjs(["uci", "show", "--file", fixturePath("uci", "broken", "firewall")]);
    expect(q).toEqual({ status: 1, stdout: "", stderr: "uci: Parse error (invalid command) at line 5, byte 1\n" });
  });
  it("invalid input exits 2 with the reason and prints no plan", () => {
    const q = viaQjs(["plan", "--previous", ex("a", "firewall"), "--config", fixturePath("uci", "broken", "firewall"), ...facts]);
    expect(q).toEqual({
      status: 2, stdout: "",
      stderr: "natnow: invalid input: config: Parse error (invalid command) at line 5, byte 1\n",
    });
  });
  it("the plan in JSON carries the selectors", () => {
    const q = viaQjs(["plan", "--previous", ex("a", "firewall"), "--config", ex("b", "firewall"), ...facts, "--json"]);
    const j = JSON.parse(q.stdout) as { selectors: { action: string; reason: string }[] };
    expect(j.selectors.map((s) => [s.action, s.reason])).toEqual([
      ["renew", "redirect 'SIP' added"], ["renew", "redirect 'SIP' added"], ["renew", "redirect 'SIP' added"],
    ]);
  });
});

describe("a table larger than QuickJS's argument limit (65535), in qjs", () => {
  it("a plan reading 70,000 entries of one family completes (dry run, a fake conntrack -L)", () => {
    // a fake conntrack: 70,000 forwarded SIP flows for -L, nothing else
    const bin = join(scratch, "bin");
    const fake = join(bin, "conntrack");
    mkdirSync(bin, { recursive: true });
    const line = "ipv4 2 udp 17 99 src=198.19.%d.%d dst=198.19.100.2 sport=%d dport=5060 src=198.18.1.20 dst=198.19.%d.%d sport=5060 dport=%d [ASSURED] mark=0 use=1 id=%d";
    writeFileSync(fake, "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'conntrack v1.4.7 (conntrack-tools)'; exit 0; }\n" +
      `[ "$1" = -L ] || exit 0\nawk 'BEGIN { for (i = 0; i < 70000; i++) printf "${line}\\n", int(i / 250) % 250, i % 250, 1024 + i % 60000, int(i / 250) % 250, i % 250, 1024 + i % 60000, i + 1 }'\n`);
    chmodSync(fake, 0o755);
    const [qjs, ...rest] = natnowArgv("apply", "--ruleset", fixturePath("ruleset", "a.json"), "--previous-ruleset", fixturePath("ruleset", "b.json"),
      ...facts, "--backend", "conntrack", "--dry-run", "--json");
    const r = spawnSync(qjs, rest, { cwd: repoRoot, encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, maxBuffer: 1 << 26 });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    // all but the one whose source is the router's own address (198.19.100.2)
    expect(JSON.parse(r.stdout).result.matched).toBe(69999);
  }, 60_000);
});
