/**
 * The daemon on the namespace router, with FAKE ubus and uci
 * (test/fixtures/bin: there is no ubusd or libuci here) and real conntrack,
 * nft and traffic: a reload announced on the bus fixes scenario 1's stuck
 * flow; a storm of announcements is one run; a broken config leaves the
 * table alone and the run record says why; the daemon survives conntrack
 * going missing.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixturePath } from "../helpers/fixtures.ts";
import { bundle, canRunNetns, config, entryKey, nowNs, Router, sleep } from "./harness.ts";

const FAKES = fixturePath("bin");

/** A daemon inside the router, with its fake bus and config directory. */
class Daemon {
  readonly bus: string;
  readonly uci: string;
  readonly state: string;
  readonly tools: string;
  readonly log: string;
  private proc: ChildProcess | null = null;
  constructor(private readonly r: Router, firewall: string) {
    this.bus = r.path("bus");
    this.uci = r.path("uci");
    this.state = r.path("state");
    this.tools = r.path("tools");
    this.log = r.path("syslog");
    for (const d of [join(this.bus, "call"), this.uci, this.state, this.tools]) mkdirSync(d, { recursive: true });
    copyFileSync(fixturePath("fw4-examples", "a", "interfaces.json"), join(this.bus, "call", "network.interface.dump"));
    // the router's own tools, in a directory a test can take conntrack out of
    for (const t of ["conntrack", "nft", "ip"]) symlinkSync(spawnSync("sh", ["-c", `command -v ${t}`], { encoding: "utf8" }).stdout.trim(), join(this.tools, t));
    this.setConfig(firewall);
    writeFileSync(join(this.state, "applied.config"), firewall); // not a boot: this config is live
  }
  env(): Record<string, string> {
    return {
      PATH: `${FAKES}:${this.tools}:/usr/bin:/bin`, NATNOW_FAKE_UBUS: this.bus, NATNOW_FAKE_UCI: this.uci,
      NATNOW_BUNDLE: bundle(), NATNOW_FAKE_LOG: this.log,
    };
  }
  setConfig(text: string): void {
    writeFileSync(join(this.uci, "firewall"), text);
  }
  start(debounce = "0.3"): void {
    this.proc = spawn("ip", ["netns", "exec", this.r.ns("r"), process.execPath, bundle(), "daemon", "--state-dir", this.state,
      "--policy", join(this.uci, "natnow"), "--fw4-state", join(this.uci, "none"), "--debounce", debounce],
    { env: { ...process.env, ...this.env() }, stdio: "ignore", detached: true });
  }
  /** What fw4's include does: announce the reload. */
  announce(): number {
    return spawnSync(join(FAKES, "ubus"), ["send", "natnow.reload", '{"action":"reload"}'], { env: { ...process.env, ...this.env() } }).status ?? -1;
  }
  runs(): { trigger: string; ok: boolean; errors: string[]; changes: string[]; backend: string | null }[] {
    const f = join(this.state, "runs.json");
    return existsSync(f) ? JSON.parse(readFileSync(f, "utf8")).runs : [];
  }
  stop(): void {
    if (this.proc?.pid) {
      try {
        process.kill(-this.proc.pid, "SIGTERM");
      } catch { /* gone */ }
    }
  }
}

async function withDaemon<T>(hosts: Record<string, string>, fn: (r: Router, d: Daemon) => Promise<T>): Promise<T> {
  const r = new Router(hosts);
  const d = new Daemon(r, config("a"));
  try {
    r.load("a");
    return await fn(r, d);
  } finally {
    d.stop();
    r.close();
  }
}

describe.skipIf(!canRunNetns)("natnow daemon on the namespace router (fake ubus and uci)", () => {
  it("a reload announced on the bus fixes scenario 1's stuck flow", async () => {
    const x = await withDaemon({ l1: "198.18.1.50", l2: "198.18.1.20" }, async (r, d) => {
      d.start();
      const server = r.traffic("l2", ["-b", "5060", "-d", "4.5", "-r", r.path("srv")]);
      const client = r.traffic("l1", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "20", "-d", "4"]);
      await sleep(1000);
      r.load("b");
      d.setConfig(config("b"));
      await sleep(500);
      const tSend = nowNs();
      const sent = d.announce();
      await Promise.all([client, server]);
      const got = r.received("srv");
      return { sent, stuck: got.filter((p) => p.t < tSend).length, after: got.filter((p) => p.t > tSend).length, runs: d.runs(), log: readFileSync(d.log, "utf8") };
    });
    expect([x.sent, x.stuck]).toEqual([0, 0]);
    expect(x.after).toBeGreaterThan(80); // ~2.5 s at 50 per second, minus the debounce
    expect(x.runs[0]).toMatchObject({ trigger: "fw4 reload", ok: true, changes: ["redirect 'SIP' added"] });
    expect(x.log).toMatch(/-t natnow .*fw4 reload: 1 change\(s\) \(redirect 'SIP' added\), renewed 1, revoked 0, backend conntrack, \d+ ms/);
  }, 30_000);

  it("100 announcements in 1 s are at most 2 runs", async () => {
    const runs = await withDaemon({ l1: "198.18.1.50" }, async (_r, d) => {
      d.start("0.5");
      await sleep(1500); // the start-up run
      const before = d.runs().length;
      for (let i = 0; i < 100; i++) {
        d.announce();
        await sleep(10);
      }
      await sleep(1500);
      return d.runs().length - before;
    });
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThanOrEqual(2);
  }, 30_000);

  it("a broken config leaves conntrack alone, and the run record says why", async () => {
    const x = await withDaemon({ l2: "198.18.1.20" }, async (r, d) => {
      r.load("b");
      d.setConfig(config("b"));
      writeFileSync(join(d.state, "applied.config"), config("b"));
      d.start();
      const c = r.traffic("w", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "20", "-d", "3"]);
      await sleep(1500);
      const before = r.table().map(entryKey).sort();
      d.setConfig(readFileSync(fixturePath("uci", "broken", "firewall"), "utf8"));
      d.announce();
      await sleep(1000);
      const after = r.table().map(entryKey).sort();
      const status = spawnSync(process.execPath, [bundle(), "status", "--state-dir", d.state], { encoding: "utf8", env: { ...process.env, ...d.env() } });
      await c;
      return { before, after, runs: d.runs(), status: status.stdout };
    });
    expect(x.after).toEqual(x.before);
    expect(x.status).toMatch(/^switch: unknown/);
    expect(x.status).toMatch(/fw4 reload {2}FAILED .*\n {6}error: invalid input: uci export firewall failed \(status 1\): uci: Parse error \(invalid command\) at line 5, byte 1\n/);
    expect(x.runs[0]).toMatchObject({ trigger: "fw4 reload", ok: false });
    expect(x.runs[0].errors.join(" ")).toMatch(/invalid input/);
  }, 30_000);

  it("keeps running when conntrack goes missing, and recovers when it returns", async () => {
    const x = await withDaemon({ l2: "198.18.1.20" }, async (r, d) => {
      r.load("b");
      d.setConfig(config("b"));
      writeFileSync(join(d.state, "applied.config"), config("b"));
      d.start();
      const c = r.traffic("w", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "20", "-d", "4"]);
      await sleep(1200);
      const target = spawnSync("readlink", [join(d.tools, "conntrack")], { encoding: "utf8" }).stdout.trim();
      rmSync(join(d.tools, "conntrack"));
      r.load("a");
      d.setConfig(config("a"));
      d.announce();
      await sleep(1000);
      const missing = d.runs()[0];
      symlinkSync(target, join(d.tools, "conntrack"));
      d.announce();
      await sleep(1000);
      await c;
      return { missing, recovered: d.runs()[0] };
    });
    expect(x.missing).toMatchObject({ ok: false, backend: null });
    expect(x.missing.errors.join(" ")).toMatch(/install conntrack/);
    expect(x.recovered).toMatchObject({ ok: true, backend: "conntrack", changes: ["redirect 'SIP' removed"] });
  }, 30_000);
});
