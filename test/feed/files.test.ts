/**
 * The natnow package's router files (openwrt-feed/natnow/files): shellcheck
 * clean as POSIX sh, the fw4 include returns at once with the daemon up or
 * down, and the rpcd plugin speaks rpcd's exec protocol.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fixturePath, repoRoot } from "../helpers/fixtures.ts";
import { bundle } from "../e2e/harness.ts";
import { natnowArgv } from "../helpers/qjs.ts";

const FILES = join(repoRoot, "openwrt-feed", "natnow", "files");
const dir = mkdtempSync(join(tmpdir(), "natnow-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A `natnow` command for the scripts: the bundle in qjs, as the router's wrapper runs it, recording each call. */
function natnowBin(): string {
  const p = join(dir, "natnow");
  bundle();
  const argv = natnowArgv().map((a) => `"${a}"`).join(" ");
  writeFileSync(p, `#!/bin/sh\necho "$*" >> "${dir}/calls"\nexec ${argv} "$@" --state-dir "${dir}/state"\n`);
  chmodSync(p, 0o755);
  return p;
}

describe("shell scripts", () => {
  const scripts = ["fw4.include", "natnow.init", "natnow.uci-defaults", "natnow.rpcd", "natnow.wrapper"];
  for (const s of scripts) {
    it(`${s} is shellcheck -s sh clean`, () => {
      const r = spawnSync("shellcheck", ["-s", "sh", join(FILES, s)], { encoding: "utf8" });
      expect(r.error).toBeUndefined(); // shellcheck is installed by scripts/setup.sh
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    });
  }
});

describe("the fw4 include", () => {
  /** Sources the include the way fw4's run_includes does, in busybox sh as on the router; returns the milliseconds it took. */
  function source(env: Record<string, string>): { ms: number; status: number } {
    const t = performance.now();
    const r = spawnSync("busybox", ["sh", "-c", `exec 1000>&-; config() { echo "You cannot use UCI in firewall includes!" >&2; exit 1; }; . '${join(FILES, "fw4.include")}'`],
      { env: { ...process.env, ...env }, encoding: "utf8" });
    return { ms: performance.now() - t, status: r.status ?? -1 };
  }

  it("with the daemon up: announces the reload on the bus and returns in under 100 ms", () => {
    const bus = join(dir, "bus");
    mkdirSync(bus, { recursive: true });
    mkdirSync("/var/run/natnow", { recursive: true });
    const pidfile = "/var/run/natnow/daemon.pid";
    const saved = existsSync(pidfile) ? readFileSync(pidfile) : null;
    writeFileSync(pidfile, `${process.pid}\n`); // a live process stands for the daemon
    try {
      const r = source({ PATH: `${fixturePath("bin")}:${process.env.PATH}`, NATNOW_FAKE_UBUS: bus, NATNOW_BIN: natnowBin() });
      expect(r.status).toBe(0);
      expect(r.ms).toBeLessThan(100);
      expect(readFileSync(join(bus, "events"), "utf8")).toBe('{"type":"natnow.reload","data":{"action":"reload"}}\n');
      // and a fake listener relays it as `ubus listen` prints it
      const l = spawnSync("timeout", ["1", join(fixturePath("bin"), "ubus-fake.py"), "listen"], { env: { ...process.env, NATNOW_FAKE_UBUS: bus } });
      expect(l.status).toBe(124); // still listening when stopped
    } finally {
      if (saved) writeFileSync(pidfile, saved);
      else rmSync(pidfile);
    }
  });

  it("with the daemon down: starts natnow run detached and returns in under 100 ms", async () => {
    const pidfile = "/var/run/natnow/daemon.pid";
    const saved = existsSync(pidfile) ? readFileSync(pidfile) : null;
    rmSync(pidfile, { force: true });
    try {
      const r = source({ NATNOW_BIN: natnowBin() });
      expect(r.status).toBe(0);
      expect(r.ms).toBeLessThan(100);
      await new Promise((res) => setTimeout(res, 300));
      expect(readFileSync(join(dir, "calls"), "utf8")).toMatch(/^run\n/m);
    } finally {
      if (saved) writeFileSync(pidfile, saved);
    }
  });
});

describe("the rpcd plugin (rpcd's exec protocol)", () => {
  const plugin = (args: string[], input = "") =>
    spawnSync(join(FILES, "natnow.rpcd"), args, { input, encoding: "utf8", env: { ...process.env, NATNOW_BIN: natnowBin() } });
  it("list names the three methods", () => {
    expect(JSON.parse(plugin(["list"]).stdout)).toEqual({ status: {}, plan: {}, apply: {} });
  });
  it("call status answers a JSON object from natnow status", () => {
    const r = plugin(["call", "status"], "{}");
    expect(r.status).toBe(0);
    const st = JSON.parse(r.stdout);
    expect(st).toMatchObject({ setting: "auto" });
    expect(Array.isArray(st.runs)).toBe(true);
  });
  it("an unknown method is an error object", () => {
    expect(JSON.parse(plugin(["call", "bogus"], "{}").stdout)).toEqual({ error: "unknown method" });
  });
  it("the ACL grants status and plan to read, apply to write, nothing else", () => {
    expect(JSON.parse(readFileSync(join(FILES, "natnow.acl.json"), "utf8"))).toEqual({
      natnow: {
        description: expect.any(String),
        read: { ubus: { natnow: ["status", "plan"] } },
        write: { ubus: { natnow: ["apply"] } },
      },
    });
  });
});

describe("the uci-defaults script (with the FAKE uci)", () => {
  const run = (confdir: string) => spawnSync("sh", [join(FILES, "natnow.uci-defaults")], {
    encoding: "utf8", env: { ...process.env, PATH: `${fixturePath("bin")}:${process.env.PATH}`, NATNOW_FAKE_UCI: confdir, NATNOW_BUNDLE: bundle() },
  });
  it("adds the switch once, touching nothing else", () => {
    const conf = join(dir, "uci-defaults");
    mkdirSync(conf, { recursive: true });
    const original = readFileSync(fixturePath("fw4-examples", "a", "firewall"), "utf8");
    writeFileSync(join(conf, "firewall"), original);
    expect(run(conf).status).toBe(0);
    const once = readFileSync(join(conf, "firewall"), "utf8");
    expect(once.startsWith(original)).toBe(true);
    expect(once.slice(original.length)).toBe("\nconfig include 'natnow'\n\toption path '/usr/share/natnow/fw4.include'\n\toption enabled '1'\n");
    expect(run(conf).status).toBe(0);
    expect(readFileSync(join(conf, "firewall"), "utf8")).toBe(once);
  });
  it("leaves a switched-off include alone", () => {
    const conf = join(dir, "uci-defaults-off");
    mkdirSync(conf, { recursive: true });
    const off = readFileSync(fixturePath("fw4-examples", "a", "firewall"), "utf8") +
      "\nconfig include 'natnow'\n\toption path '/usr/share/natnow/fw4.include'\n\toption enabled '0'\n";
    writeFileSync(join(conf, "firewall"), off);
    expect(run(conf).status).toBe(0);
    expect(readFileSync(join(conf, "firewall"), "utf8")).toBe(off);
  });
});

describe("the init script (with FAKE rc.common and procd functions)", () => {
  /** Sources the script the way /etc/rc.common does and calls start_service with recording procd_* functions. */
  function startService(firewallConf: string): string {
    const conf = mkdtempSync(join(dir, "init-"));
    writeFileSync(join(conf, "firewall"), firewallConf);
    const stubs = [
      "procd_open_instance() { echo open; }",
      "procd_set_param() { echo \"param $*\"; }",
      "procd_close_instance() { echo close; }",
      "procd_add_reload_trigger() { echo \"trigger $*\"; }",
    ].join("\n");
    const r = spawnSync("sh", ["-c", `${stubs}\n. '${join(FILES, "natnow.init")}'\nstart_service\nservice_triggers`], {
      encoding: "utf8", env: { ...process.env, PATH: `${fixturePath("bin")}:${process.env.PATH}`, NATNOW_FAKE_UCI: conf, NATNOW_BUNDLE: bundle() },
    });
    return r.stdout;
  }
  const base = readFileSync(fixturePath("fw4-examples", "a", "firewall"), "utf8");
  it("runs natnow daemon under procd with respawn, and reloads on firewall and natnow changes", () => {
    expect(startService(base + "\nconfig include 'natnow'\n\toption path '/usr/share/natnow/fw4.include'\n\toption enabled '1'\n")).toBe([
      "open", "param command /usr/bin/natnow daemon", "param respawn 3600 5 5", "param stdout 1", "param stderr 1", "close",
      "trigger firewall natnow", "",
    ].join("\n"));
  });
  it("starts nothing when the switch is off", () => {
    expect(startService(base + "\nconfig include 'natnow'\n\toption enabled '0'\n")).toBe("trigger firewall natnow\n");
  });
});
