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
import { fixturePath, fixtureText, repoRoot } from "../helpers/fixtures.ts";
import { bundle } from "../e2e/harness.ts";
import { natnowArgv, qjsPath } from "../helpers/qjs.ts";

const FILES = join(repoRoot, "openwrt-feed", "natnow", "files");
const dir = mkdtempSync(join(tmpdir(), "natnow-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the FAKE uci needs to run natnow's own uci printer in qjs. */
function fakeUciEnv(): Record<string, string> {
  return { NATNOW_BUNDLE: bundle(), NATNOW_QJS: qjsPath() };
}

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
  const scripts = ["fw4.include", "natnow.init", "natnow.uci-defaults", "natnow.rpcd", "natnow.wrapper", "natnow.prerm", "natnow.hotplug-iface"];
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

  const runDir = join(dir, "run");
  mkdirSync(runDir, { recursive: true });
  const bus = join(dir, "bus");
  mkdirSync(bus, { recursive: true });
  const fakes = `${fixturePath("bin")}:${process.env.PATH}`;
  /** Sources the include with the daemon's `listening` file holding `pid` (null: no file) and ubusd up or down. */
  async function include(pid: number | null, ubusd: boolean): Promise<{ ms: number; status: number; events: string; calls: string }> {
    rmSync(join(runDir, "listening"), { force: true });
    if (pid !== null) writeFileSync(join(runDir, "listening"), `${pid}\n`);
    if (ubusd) writeFileSync(join(bus, "ubusd"), "1\n");
    else rmSync(join(bus, "ubusd"), { force: true });
    rmSync(join(bus, "events"), { force: true });
    rmSync(join(dir, "calls"), { force: true });
    const r = source({ PATH: fakes, NATNOW_FAKE_UBUS: bus, NATNOW_BIN: natnowBin(), NATNOW_RUN_DIR: runDir });
    await new Promise((res) => setTimeout(res, 300));
    const read = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : "");
    return { ...r, events: read(join(bus, "events")), calls: read(join(dir, "calls")) };
  }

  it("with the daemon listening: announces the reload on the bus, runs nothing itself, returns in under 100 ms", async () => {
    const r = await include(process.pid, true); // a live process stands for the daemon
    expect(r.status).toBe(0);
    expect(r.ms).toBeLessThan(100);
    expect(r.events).toBe('{"type":"natnow.reload","data":{"action":"reload"}}\n');
    expect(r.calls).toBe("");
    // and a fake listener relays it as `ubus listen` prints it
    const l = spawnSync("timeout", ["1", join(fixturePath("bin"), "ubus-fake.py"), "listen"], { env: { ...process.env, NATNOW_FAKE_UBUS: bus } });
    expect(l.status).toBe(124); // still listening when stopped
  });

  const itself: [string, number | null, boolean][] = [
    ["no daemon listening (down, or not subscribed again after a ubusd restart)", null, true],
    ["a listening file left by a daemon that died", 999_999, true],
    ["the daemon listening but ubusd gone (the announcement fails)", process.pid, false],
  ];
  for (const [name, pid, ubusd] of itself) {
    it(`${name}: starts natnow run detached and returns in under 100 ms`, async () => {
      const r = await include(pid, ubusd);
      expect(r.status).toBe(0);
      expect(r.ms).toBeLessThan(100);
      expect(r.calls).toMatch(/^run\n/m);
    });
  }
});

describe("the iface hotplug script (17-natnow, after mwan3's; busybox sh, FAKE ubus and uci)", () => {
  const bus = join(dir, "hbus");
  const uci = join(dir, "huci");
  const runDir = join(dir, "hrun");
  for (const d of [bus, uci, runDir]) mkdirSync(d, { recursive: true });
  writeFileSync(join(uci, "mwan3"), fixtureText("mwan3", "two-wan.config"));
  writeFileSync(join(bus, "ubusd"), "1\n");
  /** Runs the script as hotplug-call does (sourced in a subshell) with the daemon listening or not. */
  async function hotplug(env: Record<string, string>, listening: boolean): Promise<{ status: number; ms: number; events: string; calls: string }> {
    rmSync(join(runDir, "listening"), { force: true });
    if (listening) writeFileSync(join(runDir, "listening"), `${process.pid}\n`);
    rmSync(join(bus, "events"), { force: true });
    rmSync(join(dir, "calls"), { force: true });
    const t = performance.now();
    const r = spawnSync("busybox", ["sh", "-c", `( . '${join(FILES, "natnow.hotplug-iface")}' )`], { encoding: "utf8", env: {
      ...process.env, ...fakeUciEnv(), PATH: `${fixturePath("bin")}:${process.env.PATH}`, NATNOW_FAKE_UBUS: bus, NATNOW_FAKE_UCI: uci,
      NATNOW_BIN: natnowBin(), NATNOW_RUN_DIR: runDir, ...env,
    } });
    const ms = performance.now() - t;
    await new Promise((res) => setTimeout(res, 300));
    const read = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : "");
    return { status: r.status ?? -1, ms, events: read(join(bus, "events")), calls: read(join(dir, "calls")) };
  }
  it.each(["connected", "disconnected", "ifup", "ifdown"])("%s on an mwan3 interface, the daemon listening: one natnow.route event", async (action) => {
    const r = await hotplug({ ACTION: action, INTERFACE: "wan1", DEVICE: "eth1" }, true);
    expect(r.status).toBe(0);
    expect(r.events).toBe(`{"type":"natnow.route","data":{"interface":"wan1","action":"${action}"}}\n`);
    expect(r.calls).toBe("");
  });
  it("without a listening daemon: starts natnow run detached", async () => {
    const r = await hotplug({ ACTION: "disconnected", INTERFACE: "wan2", DEVICE: "eth2" }, false);
    expect(r.status).toBe(0);
    expect(r.calls).toMatch(/^run\n/m);
  });
  it.each([
    ["an action mwan3 does not route by", { ACTION: "ifupdate", INTERFACE: "wan1" }],
    ["mwan3track's first connect", { ACTION: "connected", INTERFACE: "wan1", FIRSTCONNECT: "1" }],
    ["mwan3 stopping (its ifdown for each interface)", { ACTION: "ifdown", INTERFACE: "wan1", MWAN3_SHUTDOWN: "1" }],
    ["an interface mwan3 does not know", { ACTION: "ifdown", INTERFACE: "lan" }],
    ["a name that is no UCI name", { ACTION: "ifdown", INTERFACE: 'wan1","x":"y' }],
  ])("%s: nothing", async (_w, env) => {
    const r = await hotplug(env, true);
    expect(r.status).toBe(0);
    expect(r.events + r.calls).toBe("");
  });
});

describe("the rpcd plugin (rpcd's exec protocol)", () => {
  const plugin = (args: string[], input = "") =>
    spawnSync("busybox", ["sh", join(FILES, "natnow.rpcd"), ...args], { input, encoding: "utf8", env: { ...process.env, NATNOW_BIN: natnowBin() } });
  it("list names the four methods", () => {
    expect(JSON.parse(plugin(["list"]).stdout)).toEqual({ status: {}, plan: {}, apply: {}, dismiss: {} });
  });
  it("call status answers a JSON object from natnow status", () => {
    const r = plugin(["call", "status"], "{}");
    expect(r.status).toBe(0);
    const st = JSON.parse(r.stdout);
    expect(st).toMatchObject({ setting: "auto" });
    expect(Array.isArray(st.runs)).toBe(true);
  });
  it("an unknown method is an error object", () => {
    expect(JSON.parse(plugin(["call", "bogus"], "{}").stdout)).toEqual({ ok: false, error: "unknown method" });
  });
  it("call dismiss answers a JSON object from natnow dismiss", () => {
    const r = plugin(["call", "dismiss"], "{}");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: expect.any(Boolean) });
  });
  it("the ACL grants status and plan to read, apply and dismiss to write, nothing else", () => {
    expect(JSON.parse(readFileSync(join(FILES, "natnow.acl.json"), "utf8"))).toEqual({
      natnow: {
        description: expect.any(String),
        read: { ubus: { natnow: ["status", "plan"] } },
        write: { ubus: { natnow: ["apply", "dismiss"] } },
      },
    });
  });
});

describe("the uci-defaults script (with the FAKE uci)", () => {
  const run = (confdir: string) => spawnSync("busybox", ["sh", join(FILES, "natnow.uci-defaults")], {
    encoding: "utf8", env: { ...process.env, PATH: `${fixturePath("bin")}:${process.env.PATH}`, NATNOW_FAKE_UCI: confdir, ...fakeUciEnv() },
  });
  it("adds the switch once, touching nothing else", () => {
    const conf = join(dir, "uci-defaults");
    mkdirSync(conf, { recursive: true });
    const original = readFileSync(fixturePath("fw4-examples", "a", "firewall"), "utf8");
    writeFileSync(join(conf, "firewall"), original);
    expect(run(conf).status).toBe(0);
    const once = readFileSync(join(conf, "firewall"), "utf8");
    // libuci rewrites the file as uci_export() prints it: each section after
    // a blank line, one blank line at the end (the original is in that form)
    expect(original.endsWith("'\n\n")).toBe(true);
    expect(once).toBe(`${original}config include 'natnow'\n\toption path '/usr/share/natnow/fw4.include'\n\toption enabled '1'\n\n`);
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

describe("the init script (with FAKE rc.common, functions.sh and procd functions)", () => {
  /**
   * Sources the script the way /etc/rc.common does (busybox sh) and calls
   * `what` with recording procd_* functions and FAKE config_load /
   * config_get_bool that read like OpenWrt's functions.sh: config_get_bool
   * takes 1/on/true/yes/enabled and 0/off/false/no/disabled, else the default.
   */
  function initScript(firewallConf: string, what: string): string {
    const conf = mkdtempSync(join(dir, "init-"));
    writeFileSync(join(conf, "firewall"), firewallConf);
    // mkdir and sysctl are recorded, not run; procd, like instance.c, writes
    // the pid file with fopen() when it starts the instance: its directory
    // must have been made
    const stubs = [
      "made=''",
      "mkdir() { echo \"mkdir $*\"; made=\"$made ${2:-$1}\"; }",
      "sysctl() { echo \"sysctl $*\"; }",
      "procd_open_instance() { echo open; }",
      "procd_set_param() { echo \"param $*\"; [ \"$1\" = pidfile ] && pidfile=$2; }",
      "procd_close_instance() { case \" $made \" in *\" ${pidfile%/*} \"*) echo close ;; *) echo \"procd: failed to open pidfile for writing: $pidfile\" ;; esac; }",
      "procd_add_reload_trigger() { echo \"trigger $*\"; }",
      // rc.common's start under USE_PROCD: rc_procd start_service, between
      // procd_open_service and procd_close_service, which (procd.sh
      // _procd_close_service) adds the service's triggers before its ubus
      // call; procd then replaces the service's instances with the ones
      // declared (service.c service_update: vlist_flush), so none stops the daemon
      "start() { echo open_service; start_service \"$@\"; service_triggers; echo close_service; }",
      "config_load() { CONFIG_PKG=$1; }",
      "config_get_bool() {",
      "  _v=$(uci -q get \"$CONFIG_PKG.$2.$3\") || _v=$4",
      "  case \"$_v\" in 1|on|true|yes|enabled) _v=1 ;; 0|off|false|no|disabled) _v=0 ;; *) _v=$4 ;; esac",
      "  eval \"$1=\\$_v\"",
      "}",
    ].join("\n");
    const r = spawnSync("busybox", ["sh", "-c", `${stubs}\n. '${join(FILES, "natnow.init")}'\n${what}`], {
      encoding: "utf8", env: { ...process.env, PATH: `${fixturePath("bin")}:${process.env.PATH}`, NATNOW_FAKE_UCI: conf, ...fakeUciEnv() },
    });
    expect(r.stderr).toBe("");
    return r.stdout;
  }
  const base = readFileSync(fixturePath("fw4-examples", "a", "firewall"), "utf8");
  const section = (enabled: string) => `${base}\nconfig include 'natnow'\n\toption path '/usr/share/natnow/fw4.include'\n\toption enabled '${enabled}'\n`;
  const started = [
    "mkdir -p /var/run/natnow", "open", "param command /usr/bin/natnow daemon", "param file /etc/config/natnow", "param pidfile /var/run/natnow/daemon.pid",
    "param respawn 3600 5 5", "param stdout 1", "param stderr 1", "close", "",
  ].join("\n");
  const cases: [string, string, string][] = [
    ["on", section("1"), started],
    ["on ('yes')", section("yes"), started],
    ["on ('enabled')", section("enabled"), started],
    ["on (no include section: the default)", base, started],
    ["off ('0')", section("0"), ""],
    ["off ('off')", section("off"), ""],
    ["off ('no')", section("no"), ""],
    ["off ('false')", section("false"), ""],
    ["off ('disabled')", section("disabled"), ""],
  ];
  for (const [name, conf, want] of cases) {
    it(`the switch ${name}: ${want ? "runs natnow daemon under procd, its pid and policy file with it" : "starts nothing"}`, () => {
      expect(initScript(conf, "start_service")).toBe(want);
    });
  }
  it("asks procd for a reload on firewall and natnow config changes", () => {
    expect(initScript(section("1"), "service_triggers")).toBe("trigger firewall natnow\n");
  });
  it("a reload declares the instance again from the config: switched off, none (procd stops the daemon)", () => {
    expect(initScript(section("1"), "reload_service")).toBe(`open_service\n${started}trigger firewall natnow\nclose_service\n`);
    expect(initScript(section("0"), "reload_service")).toBe("open_service\ntrigger firewall natnow\nclose_service\n");
  });
});

describe("removing the package (prerm, with the FAKE uci)", () => {
  function prerm(firewallConf: string): { firewall: string; initd: string; status: number } {
    const conf = mkdtempSync(join(dir, "prerm-"));
    writeFileSync(join(conf, "firewall"), firewallConf);
    const initd = join(conf, "init.d");
    mkdirSync(initd);
    writeFileSync(join(initd, "natnow"), `#!/bin/sh\necho "$1" >> "${initd}/calls"\n`);
    chmodSync(join(initd, "natnow"), 0o755);
    const r = spawnSync("busybox", ["sh", join(FILES, "natnow.prerm")], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${fixturePath("bin")}:${process.env.PATH}`, NATNOW_FAKE_UCI: conf, NATNOW_INITD: initd, ...fakeUciEnv() },
    });
    return { firewall: readFileSync(join(conf, "firewall"), "utf8"), initd: readFileSync(join(initd, "calls"), "utf8"), status: r.status ?? -1 };
  }
  const base = readFileSync(fixturePath("fw4-examples", "a", "firewall"), "utf8");
  it("stops the service and removes the include section, nothing else", () => {
    const r = prerm(`${base}config include 'natnow'\n\toption path '/usr/share/natnow/fw4.include'\n\toption enabled '1'\n\n`);
    expect(r).toEqual({ firewall: base, initd: "stop\ndisable\n", status: 0 });
  });
  it("leaves a config without the section as it is", () => {
    expect(prerm(base)).toEqual({ firewall: base, initd: "stop\ndisable\n", status: 0 });
  });
  it("the package's prerm runs it only on removal", () => {
    const mk = readFileSync(join(repoRoot, "openwrt-feed", "natnow", "Makefile"), "utf8");
    expect(mk).toMatch(/define Package\/natnow\/prerm\n#!\/bin\/sh\n\[ -n "\$\$\{IPKG_INSTROOT\}" \] \|\| \[ "\$\$\{PKG_UPGRADE\}" = 1 \] \|\| \/usr\/share\/natnow\/prerm\n/);
    expect(mk).toMatch(/\$\(INSTALL_BIN\) \.\/files\/natnow\.prerm \$\(1\)\/usr\/share\/natnow\/prerm/);
  });
});
