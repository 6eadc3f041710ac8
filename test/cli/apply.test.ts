/** `natnow apply` and `natnow status` on their error paths and state; the e2e tests run them against real flows. */
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "../../src/cli/run.ts";
import { createNodeHost } from "../../src/host/node.ts";
import type { Host } from "../../src/host/host.ts";
import { utf8Decode } from "../../src/uci/bytes.ts";
import { fixturePath } from "../helpers/fixtures.ts";

const ex = (n: string, f: string) => fixturePath("fw4-examples", n, f);
let dir: string;

/** The Node host with captured output, and without conntrack, the kernel module or procfs consent. */
async function host(): Promise<{ h: Host; out: () => string; err: () => string }> {
  const base = await createNodeHost();
  let o = "";
  let e = "";
  const h: Host = {
    ...base,
    writeStdout: (d) => void (o += utf8Decode(d)),
    writeStderr: (d) => void (e += utf8Decode(d)),
    findProgram: (n) => (n === "conntrack" ? null : base.findProgram(n)),
    readFile: (p) => (p === "/proc/net/natnow" ? null : base.readFile(p)),
  };
  return { h, out: () => o, err: () => e };
}

const facts = ["--interfaces", ex("a", "interfaces.json")];
const runs = () => JSON.parse(readFileSync(join(dir, "runs.json"), "utf8")).runs;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "natnow-apply-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("natnow apply", () => {
  it("a broken config: exit 2, nothing reset, the error recorded, the applied config kept", async () => {
    const { h, err } = await host();
    const code = run(h, ["apply", "--config", fixturePath("uci", "broken", "firewall"), "--previous", ex("a", "firewall"), ...facts, "--state-dir", dir]);
    expect(code).toBe(2);
    expect(err()).toMatch(/^natnow: invalid input, nothing reset: config: /);
    expect(runs()[0]).toMatchObject({ ok: false, backend: null, result: null });
    expect(existsSync(join(dir, "applied.config"))).toBe(false);
  });

  it("no backend: exit 69 with what to install", async () => {
    const { h, err } = await host();
    const code = run(h, ["apply", "--config", ex("a", "firewall"), "--previous", ex("b", "firewall"), ...facts, "--state-dir", dir]);
    expect(code).toBe(69);
    expect(err()).toMatch(/no backend usable: natnow.ko not loaded .*install kmod-natnow; conntrack-tools not installed .*install conntrack; /);
    expect(runs()[0]).toMatchObject({ ok: false, changes: ["redirect 'SIP' removed"], selectors: 3 });
    expect(existsSync(join(dir, "applied.config"))).toBe(false);
  });

  it("an asked-for backend that is missing is not replaced by another", async () => {
    const { h, err } = await host();
    const code = run(h, ["apply", "--config", ex("a", "firewall"), "--previous", ex("b", "firewall"), ...facts, "--state-dir", dir, "--backend", "kmod"]);
    expect([code, err()]).toEqual([69, "natnow: backend 'kmod' asked for, but natnow.ko not loaded (no /proc/net/natnow); install kmod-natnow\n"]);
  });

  it("nothing to compare without --previous or an applied config", async () => {
    const { h, err } = await host();
    expect(run(h, ["apply", "--config", ex("a", "firewall"), ...facts, "--state-dir", dir])).toBe(2);
    expect(err()).toMatch(/nothing to compare/);
  });

  it("an unchanged config needs no backend, and becomes the next run's previous", async () => {
    const a = await host();
    expect(run(a.h, ["apply", "--config", ex("a", "firewall"), "--previous", ex("a", "firewall"), ...facts, "--state-dir", dir])).toBe(0);
    expect(a.out()).toBe("natnow apply: 0 change(s), 0 selector(s)\nnothing to reset\n");
    expect(readFileSync(join(dir, "applied.config"))).toEqual(readFileSync(ex("a", "firewall")));
    const b = await host();
    expect(run(b.h, ["apply", "--config", ex("b", "firewall"), ...facts, "--state-dir", dir, "--dry-run"])).toBe(69);
    expect(b.err()).toMatch(/no backend usable/);
    expect(b.out()).toMatch(/^natnow apply \(dry run\): 1 change\(s\), 3 selector\(s\)\n {2}redirect 'SIP' added\n$/);
  });

  it("rejects an unknown backend as a usage error", async () => {
    const { h, err } = await host();
    expect(run(h, ["apply", "--config", ex("a", "firewall"), "--backend", "iptables"])).toBe(64);
    expect(err()).toMatch(/--backend must be one of auto, kmod, conntrack, procfs, not 'iptables'/);
  });
});

describe("natnow status", () => {
  it("shows the backends and the recorded runs, newest first", async () => {
    const a = await host();
    run(a.h, ["apply", "--config", fixturePath("uci", "broken", "firewall"), "--previous", ex("a", "firewall"), ...facts, "--state-dir", dir]);
    run(a.h, ["apply", "--config", ex("a", "firewall"), "--previous", ex("b", "firewall"), ...facts, "--state-dir", dir]);
    const s = await host();
    expect(run(s.h, ["status", "--state-dir", dir, "--policy", join(dir, "none")])).toBe(0);
    const lines = s.out().split("\n").slice(1);
    expect(s.out()).toMatch(/^switch: unknown \(no include section 'natnow' in \/etc\/config\/firewall, or no uci\)\n/);
    expect(lines[0]).toMatch(/^backend: none \(setting 'auto': no backend usable: /);
    expect(lines[1]).toMatch(/^ {2}kmod +no +natnow.ko not loaded/);
    expect(lines[4]).toBe("last runs (newest first):");
    expect(lines[5]).toMatch(/^ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC {2}apply {2}FAILED {2}no backend {2}1 change\(s\) {2}nothing reset {2}\d+ ms$/);
    expect(lines[6]).toBe("      redirect 'SIP' removed");
    expect(s.out()).toMatch(/apply {2}FAILED {2}no backend {2}0 change\(s\)[^\n]*\n {6}error: invalid input: config: /);
  });
  it("with no state yet", async () => {
    const s = await host();
    run(s.h, ["status", "--state-dir", dir, "--json"]);
    expect(JSON.parse(s.out())).toMatchObject({ backend: null, setting: "auto", kmod: null, runs: [] });
  });
});
