/** `natnow apply` and `natnow status` on their error paths and state; the e2e tests run them against real flows. */
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "../../src/cli/run.ts";
import { fixturePath, fixtureText } from "../helpers/fixtures.ts";
import { fixtureHost } from "../helpers/clihost.ts";

const ex = (n: string, f: string) => fixturePath("fw4-examples", n, f);
const rs = (n: string) => fixturePath("ruleset", `${n}.json`);
let dir: string;

const host = fixtureHost;

const facts = ["--interfaces", ex("a", "interfaces.json")];
const runs = () => JSON.parse(readFileSync(join(dir, "runs.json"), "utf8")).runs;
const applied = join("applied.ruleset.json");

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "natnow-apply-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("natnow apply", () => {
  it("a garbled ruleset: exit 2, nothing reset, the error recorded, nothing kept as applied", async () => {
    writeFileSync(join(dir, "bad.json"), '{"nftables": [{"rule": {"family": "inet"');
    const { h, err } = await host();
    const code = run(h, ["apply", "--ruleset", join(dir, "bad.json"), "--previous-ruleset", rs("a"), ...facts, "--state-dir", dir]);
    expect(code).toBe(2);
    expect(err()).toBe("natnow: invalid input, nothing reset: ruleset: not valid JSON\n");
    expect(runs()[0]).toMatchObject({ ok: false, backend: null, result: null, selectors: 0 });
    expect(existsSync(join(dir, applied))).toBe(false);
  });

  it("no backend: exit 69 with what to install", async () => {
    const { h, err } = await host();
    const code = run(h, ["apply", "--ruleset", rs("a"), "--previous-ruleset", rs("b"), ...facts, "--state-dir", dir]);
    expect(code).toBe(69);
    expect(err()).toMatch(/no backend usable: natnow.ko not loaded .*install kmod-natnow; conntrack-tools not installed .*install conntrack; /);
    expect(runs()[0]).toMatchObject({ ok: false, changes: ["redirect 'SIP' removed"], selectors: 3 });
    expect(existsSync(join(dir, applied))).toBe(false);
  });

  it("an asked-for backend that is missing is not replaced by another", async () => {
    const { h, err } = await host();
    const code = run(h, ["apply", "--ruleset", rs("a"), "--previous-ruleset", rs("b"), ...facts, "--state-dir", dir, "--backend", "kmod"]);
    expect([code, err()]).toEqual([69, "natnow: backend 'kmod' asked for, but natnow.ko not loaded (no /proc/net/natnow); install kmod-natnow\n"]);
  });

  it("a first run (nothing applied yet) is a boot run", async () => {
    const { h, out } = await host();
    expect(run(h, ["apply", "--ruleset", rs("b"), ...facts, "--state-dir", dir, "--dry-run"])).toBe(69);
    expect(out()).toMatch(/^natnow apply \(dry run\) \(boot\): 2 change\(s\), 4 selector\(s\)\n {2}redirect 'SIP'\n {2}zone 'wan' masquerading\n$/);
  });

  it("without nft: exit 69, and says so", async () => {
    const { h, err } = await host(["nft"]);
    expect(run(h, ["apply", ...facts, "--state-dir", dir])).toBe(69);
    expect(err()).toBe("natnow: cannot read the live ruleset: nft is not installed\n");
  });

  it("an unchanged ruleset needs no backend, and becomes the next run's previous", async () => {
    const a = await host();
    expect(run(a.h, ["apply", "--ruleset", rs("a"), "--previous-ruleset", rs("a"), ...facts, "--state-dir", dir])).toBe(0);
    expect(a.out()).toBe("natnow apply: 0 change(s), 0 selector(s)\nnothing to reset\n");
    expect(JSON.parse(readFileSync(join(dir, applied), "utf8")).nftables.some((x: { chain?: { name: string } }) => x.chain?.name === "srcnat_wan")).toBe(true);
    const b = await host();
    expect(run(b.h, ["apply", "--ruleset", rs("b"), ...facts, "--state-dir", dir, "--dry-run"])).toBe(69);
    expect(b.err()).toMatch(/no backend usable/);
    expect(b.out()).toMatch(/^natnow apply \(dry run\): 1 change\(s\), 3 selector\(s\)\n {2}redirect 'SIP' added\n$/);
  });

  it("a rename alone (other comment, same rules) is no change", async () => {
    writeFileSync(join(dir, "renamed.json"), fixtureText("ruleset", "b.json").split('"!fw4: SIP').join('"!fw4: VoIP'));
    const { h, out } = await host();
    expect(run(h, ["apply", "--ruleset", join(dir, "renamed.json"), "--previous-ruleset", rs("b"), ...facts, "--state-dir", dir])).toBe(0);
    expect(out()).toBe("natnow apply: 0 change(s), 0 selector(s)\nnothing to reset\n");
  });

  it("reports where fw4's live rules and the config differ", async () => {
    const { h, out } = await host();
    run(h, ["apply", "--ruleset", rs("b"), "--previous-ruleset", rs("b"), "--config", ex("c", "firewall"), ...facts, "--state-dir", dir]);
    expect(out()).toMatch(/\ndrift: redirect 'web' added\n$/);
  });

  it("rejects an unknown backend as a usage error", async () => {
    const { h, err } = await host();
    expect(run(h, ["apply", "--ruleset", rs("a"), "--backend", "iptables"])).toBe(64);
    expect(err()).toMatch(/--backend must be one of auto, kmod, conntrack, procfs, not 'iptables'/);
  });
});

describe("natnow status", () => {
  it("shows the switch and why, the backends and the recorded runs, newest first", async () => {
    writeFileSync(join(dir, "bad.json"), "[]");
    const a = await host(["uci"]);
    run(a.h, ["apply", "--ruleset", join(dir, "bad.json"), "--previous-ruleset", rs("a"), ...facts, "--state-dir", dir]);
    run(a.h, ["apply", "--ruleset", rs("a"), "--previous-ruleset", rs("b"), ...facts, "--state-dir", dir]);
    // OpenWrt without uci: the switch is unknown, and why
    const s = await host(["uci"], true);
    expect(run(s.h, ["status", "--state-dir", dir, "--policy", join(dir, "none")])).toBe(0);
    const lines = s.out().split("\n").slice(2);
    expect(s.out()).toMatch(/^switch: unknown \(cannot read the firewall config: uci is not installed\)\ndaemon: not listening \(/);
    expect(lines[0]).toMatch(/^backend: none \(setting 'auto': no backend usable: /);
    expect(lines[1]).toMatch(/^ {2}kmod +no +natnow.ko not loaded/);
    expect(lines[4]).toBe("last runs (newest first):");
    expect(lines[5]).toMatch(/^ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC {2}apply {2}FAILED {2}no backend {2}1 change\(s\) {2}nothing reset {2}\d+ ms$/);
    expect(lines[6]).toBe("      redirect 'SIP' removed");
    expect(s.out()).toMatch(/apply {2}FAILED {2}no backend {2}0 change\(s\)[^\n]*\n {6}error: invalid input: ruleset: no 'nftables' list/);
  });
  it("on plain Linux (no openwrt_release, no uci) the switch is on and nothing of OpenWrt is missed", async () => {
    const s = await host(["uci", "ubus"]);
    expect(run(s.h, ["status", "--state-dir", dir, "--policy", join(dir, "none")])).toBe(0);
    expect(s.out()).toMatch(/^switch: on\ndaemon: no bus to hear \(plain Linux/);
    expect(s.out()).not.toMatch(/uci|ubus/);
  });
  it("says whether a daemon hears the bus: a live pid in the listening file", async () => {
    const cases: [string | null, object][] = [
      [null, { listening: false, pid: null }],
      [`${process.pid}\n`, { listening: true, pid: process.pid }],
      ["999999999\n", { listening: false, pid: 999999999 }],
      ["garbage\n", { listening: false, pid: null }],
    ];
    for (const [file, want] of cases) {
      rmSync(join(dir, "listening"), { force: true });
      if (file !== null) writeFileSync(join(dir, "listening"), file);
      const s = await host();
      run(s.h, ["status", "--state-dir", dir, "--json"]);
      expect(JSON.parse(s.out()).daemon).toEqual(want);
    }
  });
  it("with no state yet", async () => {
    const s = await host();
    run(s.h, ["status", "--state-dir", dir, "--json"]);
    expect(JSON.parse(s.out())).toMatchObject({ backend: null, setting: "auto", kmod: null, runs: [] });
  });
});
