/**
 * A two-WAN router in namespaces, with a stand-in for mwan3 (its scripts
 * need OpenWrt's /lib/functions.sh, procd and ubus): what it puts into the
 * kernel, copied from openwrt/packages net/mwan3 (lib/mwan3/mwan3.sh):
 * interface ids 1 and 2 marked under MMX_MASK 0x3F00 (mwan3_id2mask), a
 * routing table per interface with the main table's routes
 * (mwan3_create_iface_route), the ip rules (iif → table at 1000+id, fwmark
 * → table at 2000+id, fwmark → unreachable at 3000+id, the blackhole and
 * unreachable marks at 2000+their ids), and the mangle chains written
 * through iptables-nft-restore as mwan3_set_general_iptables,
 * mwan3_create_iface_iptables, mwan3_set_user_iptables_rule and
 * mwan3_set_policy write them (CONNMARK restore, ifaces_in, rules,
 * CONNMARK save; a policy chain holding its online members of lowest
 * metric, else its last resort). mwan3's `connected`/`disconnected` is what
 * 15-mwan3 does (the policies rewritten for the new state), then the
 * hotplug call of natnow's own script, under busybox sh.
 *
 *   LAN hosts ─ br-lan 198.18.1.1 [r] eth1 198.19.1.2 ─ u1 ─ 198.19.11.0/24 ─┐
 *                                     eth2 198.19.2.2 ─ u2 ─ 198.19.12.0/24 ─ x (198.19.50.1-9 on lo,
 *                                                                          UDP answers from .1)
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTable } from "../../src/conntrack/parse.ts";
import type { Flow } from "../../src/conntrack/flow.ts";
import { fixturePath, fixtureText, repoRoot } from "../helpers/fixtures.ts";
import { natnowArgv, qjsPath } from "../helpers/qjs.ts";
import { bundle, conntrackBin, Namespaces } from "./harness.ts";

/** mwan3's config for the router (test/fixtures/mwan3/two-wan.config): wan1 preferred, wan2 the backup; rules pinning two services to wan2. */
export const MWAN3_CONFIG = fixtureText("mwan3", "two-wan.config");

const MASK = "0x3f00";
const BUSYBOX = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p)) ?? "busybox";
const WANS = [{ name: "wan1", id: 1, dev: "eth1", up: "u1", net: 1 }, { name: "wan2", id: 2, dev: "eth2", up: "u2", net: 2 }];
const mark = (id: number) => `0x${(id << 8).toString(16)}`;

/** The router, its upstreams, the far end, its LAN hosts and the daemon. */
export class TwoWan extends Namespaces {
  private daemon: ChildProcess | null = null;
  private readonly procs: ChildProcess[] = [];
  /** mwan3's interface states (hotplug state): online or not. */
  readonly online: Record<string, boolean> = { wan1: true, wan2: true };

  constructor(lanHosts: Record<string, string>) {
    super("mwan", "nm");
    try {
      this.build(lanHosts);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private build(lanHosts: Record<string, string>): void {
    for (const n of ["r", "u1", "u2", "x", ...Object.keys(lanHosts)]) {
      this.addNs(n);
      this.in(n, "ip", "link", "set", "lo", "up");
      this.in(n, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
    }
    const link = (a: string, da: string, b: string, db: string) =>
      this.sh("ip", "link", "add", da, "netns", this.ns(a), "type", "veth", "peer", "name", db, "netns", this.ns(b));
    this.in("r", "ip", "link", "add", "br-lan", "type", "bridge");
    this.in("r", "ip", "addr", "add", "198.18.1.1/24", "dev", "br-lan");
    this.in("r", "ip", "link", "set", "br-lan", "up");
    for (const [n, addr] of Object.entries(lanHosts)) {
      link(n, "eth0", "r", `p-${n}`);
      this.in("r", "ip", "link", "set", `p-${n}`, "master", "br-lan", "up");
      this.in(n, "ip", "addr", "add", `${addr}/24`, "dev", "eth0");
      this.in(n, "ip", "link", "set", "eth0", "up");
      this.in(n, "ip", "route", "add", "default", "via", "198.18.1.1");
    }
    for (const w of WANS) {
      link("r", w.dev, w.up, "eth0");
      link(w.up, "eth1", "x", `eth${w.net}`);
      this.in("r", "ip", "addr", "add", `198.19.${w.net}.2/24`, "dev", w.dev);
      this.in(w.up, "ip", "addr", "add", `198.19.${w.net}.1/24`, "dev", "eth0");
      this.in(w.up, "ip", "addr", "add", `198.19.1${w.net}.1/24`, "dev", "eth1");
      this.in("x", "ip", "addr", "add", `198.19.1${w.net}.2/24`, "dev", `eth${w.net}`);
      for (const [n, d] of [["r", w.dev], [w.up, "eth0"], [w.up, "eth1"], ["x", `eth${w.net}`]]) this.in(n, "ip", "link", "set", d, "up");
      this.in(w.up, "sysctl", "-qw", "net.ipv4.ip_forward=1");
      this.in(w.up, "ip", "route", "add", "198.19.50.0/24", "via", `198.19.1${w.net}.2`);
    }
    for (let i = 1; i <= 9; i++) this.in("x", "ip", "addr", "add", `198.19.50.${i}/32`, "dev", "lo");
    // the UDP peers answer from unbound sockets: from 198.19.50.1, whichever way back
    for (const w of WANS) this.in("x", "ip", "route", "add", `198.19.${w.net}.0/24`, "via", `198.19.1${w.net}.1`, "src", "198.19.50.1");
    this.in("r", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.netfilter.nf_conntrack_events=1");
    this.in("r", "ip", "route", "add", "default", "via", "198.19.1.1", "dev", "eth1", "metric", "10");
    this.in("r", "ip", "route", "add", "default", "via", "198.19.2.1", "dev", "eth2", "metric", "20");
  }

  /** The router's NAT (fw4's wan zone masquerading on both devices) and mwan3's routing and mangle rules. */
  setUp(): void {
    this.nft("r", "table inet fw4 {\n chain srcnat {\n  type nat hook postrouting priority srcnat; policy accept;\n" +
      '  oifname { "eth1", "eth2" } masquerade comment "!fw4: wan"\n }\n}\n');
    for (const w of WANS) {
      // mwan3_create_iface_route: the main table's routes, with the interface's default
      this.in("r", "ip", "route", "add", "198.18.1.0/24", "dev", "br-lan", "table", String(w.id));
      for (const v of WANS) this.in("r", "ip", "route", "add", `198.19.${v.net}.0/24`, "dev", v.dev, "table", String(w.id));
      this.in("r", "ip", "route", "add", "default", "via", `198.19.${w.net}.1`, "dev", w.dev, "table", String(w.id));
      // mwan3_create_iface_rules
      this.in("r", "ip", "rule", "add", "pref", String(1000 + w.id), "iif", w.dev, "lookup", String(w.id));
      this.in("r", "ip", "rule", "add", "pref", String(2000 + w.id), "fwmark", `${mark(w.id)}/${MASK}`, "lookup", String(w.id));
      this.in("r", "ip", "rule", "add", "pref", String(3000 + w.id), "fwmark", `${mark(w.id)}/${MASK}`, "unreachable");
    }
    // mwan3_set_general_rules: MM_BLACKHOLE 61 (0x3d00), MM_UNREACHABLE 62 (0x3e00)
    this.in("r", "ip", "rule", "add", "pref", "2061", "fwmark", `0x3d00/${MASK}`, "blackhole");
    this.in("r", "ip", "rule", "add", "pref", "2062", "fwmark", `0x3e00/${MASK}`, "unreachable");
    const m = `-m mark --mark 0x0/${MASK}`;
    const lines = ["*mangle", ":mwan3_hook - [0:0]", ":mwan3_ifaces_in - [0:0]", ":mwan3_rules - [0:0]",
      ":mwan3_policy_wan1_wan2 - [0:0]", ":mwan3_policy_wan2_only - [0:0]",
      ...WANS.map((w) => `:mwan3_iface_in_${w.name} - [0:0]`),
      `-A mwan3_hook ${m} -j CONNMARK --restore-mark --nfmask ${MASK} --ctmask ${MASK}`,
      `-A mwan3_hook ${m} -j mwan3_ifaces_in`,
      `-A mwan3_hook ${m} -j mwan3_rules`,
      `-A mwan3_hook -j CONNMARK --save-mark --nfmask ${MASK} --ctmask ${MASK}`,
      ...WANS.map((w) => `-A mwan3_ifaces_in ${m} -j mwan3_iface_in_${w.name}`),
      ...WANS.map((w) => `-A mwan3_iface_in_${w.name} -i ${w.dev} ${m} -m comment --comment "${w.name}" -j MARK --set-xmark ${mark(w.id)}/${MASK}`),
      `-A mwan3_rules -p tcp -d 198.19.50.3 -m multiport --dports 8002 -m mark --mark 0/${MASK} -j mwan3_policy_wan2_only`,
      `-A mwan3_rules -p udp -m multiport --dports 7000:7099 -m mark --mark 0/${MASK} -j mwan3_policy_wan2_only`,
      `-A mwan3_rules -p all -d 0.0.0.0/0 -m mark --mark 0/${MASK} -j mwan3_policy_wan1_wan2`,
      "-A PREROUTING -j mwan3_hook", "-A OUTPUT -j mwan3_hook", "COMMIT", ""];
    execFileSync("ip", ["netns", "exec", this.ns("r"), "iptables-nft-restore", "-n"], { input: lines.join("\n") });
    this.setPolicies();
  }

  private nft(n: string, text: string): void {
    execFileSync("ip", ["netns", "exec", this.ns(n), "nft", "-f", "-"], { input: text });
  }

  /** mwan3_set_policies_iptables for the current states: each policy's online members of lowest metric, else unreachable. */
  private setPolicies(): void {
    const policies: Record<string, [string, number][]> = { wan1_wan2: [["wan1", 1], ["wan2", 2]], wan2_only: [["wan2", 1]] };
    const lines = ["*mangle"];
    for (const [p, members] of Object.entries(policies)) {
      const up = members.filter(([w]) => this.online[w]);
      const lowest = Math.min(...up.map(([, metric]) => metric));
      lines.push(`-F mwan3_policy_${p}`);
      const chosen = up.filter(([, metric]) => metric === lowest);
      if (!chosen.length) lines.push(`-A mwan3_policy_${p} -m mark --mark 0x0/${MASK} -m comment --comment "unreachable" -j MARK --set-xmark 0x3e00/${MASK}`);
      for (const [w] of chosen) {
        const id = WANS.find((x) => x.name === w)?.id ?? 0;
        lines.push(`-A mwan3_policy_${p} -m mark --mark 0x0/${MASK} -m comment --comment "${w} 1 1" -j MARK --set-xmark ${mark(id)}/${MASK}`);
      }
    }
    lines.push("COMMIT", "");
    execFileSync("ip", ["netns", "exec", this.ns("r"), "iptables-nft-restore", "-n"], { input: lines.join("\n") });
    this.writeStatus();
  }

  // --- the daemon, its fake bus and uci (test/fixtures/bin) ---

  private bus(): string {
    return this.path("bus");
  }
  env(): Record<string, string> {
    return {
      PATH: this.path("tools"), NATNOW_FAKE_UBUS: this.bus(), NATNOW_FAKE_UCI: this.path("uci"), NATNOW_BUNDLE: bundle(),
      NATNOW_FAKE_LOG: this.path("syslog"), NATNOW_QJS: qjsPath(), NATNOW_RUN_DIR: this.path("state"), NATNOW_BIN: this.path("natnow"),
    };
  }
  /** `ubus call mwan3 status` as mwan3's rpcd ucode answers it, for the current states. */
  private writeStatus(): void {
    const interfaces = Object.fromEntries(WANS.map((w) => [w.name, {
      status: this.online[w.name] ? "online" : "offline", enabled: true, up: true, online: this.online[w.name] ? 100 : 0,
      running: true, tracking: "active",
    }]));
    mkdirSync(join(this.bus(), "call"), { recursive: true });
    writeFileSync(join(this.bus(), "call", "mwan3.status"), JSON.stringify({ interfaces }));
  }

  /** Starts natnow's daemon in the router with the given natnow policy (mwan3's config in the fake uci). */
  startDaemon(policy: string): void {
    const tools = this.path("tools");
    for (const d of [join(this.bus(), "call"), this.path("uci"), this.path("state"), tools]) mkdirSync(d, { recursive: true });
    writeFileSync(join(this.bus(), "ubusd"), "1\n");
    writeFileSync(join(this.bus(), "call", "network.interface.dump"), JSON.stringify({ interface: [
      { interface: "lan", up: true, l3_device: "br-lan", "ipv4-address": [{ address: "198.18.1.1", mask: 24 }] },
      ...WANS.map((w) => ({ interface: w.name, up: true, l3_device: w.dev, "ipv4-address": [{ address: `198.19.${w.net}.2`, mask: 24 }],
        route: [{ target: "0.0.0.0", mask: 0, nexthop: `198.19.${w.net}.1` }] })),
    ] }));
    this.writeStatus();
    const own = ["conntrack", "nft", "ip", "sh", "sed", "head", "printf", "dirname", "cksum", "cat", "mv", "rm", "kill",
      "iptables-nft-save", "iptables-save", "python3"];
    const where = (t: string) => ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map((d) => join(d, t)).find((p) => existsSync(p));
    for (const t of own) {
      const p = t === "conntrack" ? (process.env.NATNOW_CONNTRACK ? conntrackBin : where(t)) : where(t);
      if (p) symlinkSync(p, join(tools, t));
    }
    const fakes = fixturePath("bin");
    for (const f of ["ubus", "ubus-fake.py", "uci", "logger"]) symlinkSync(join(fakes, f), join(tools, f));
    writeFileSync(join(this.path("uci"), "mwan3"), MWAN3_CONFIG);
    writeFileSync(join(this.path("uci"), "firewall"), "config include 'natnow'\n\toption path '/usr/share/natnow/fw4.include'\n");
    writeFileSync(join(this.path("uci"), "natnow"), policy);
    writeFileSync(this.path("natnow"), `#!/bin/sh\nexec ${natnowArgv().join(" ")} "$@" --state-dir ${this.path("state")}\n`, { mode: 0o755 });
    this.daemon = spawn("ip", ["netns", "exec", this.ns("r"), ...natnowArgv("daemon", "--state-dir", this.path("state"),
      "--policy", join(this.path("uci"), "natnow"), "--fw4-state", join(this.path("uci"), "none"), "--debounce", "0.1")],
    { env: { ...process.env, ...this.env() }, stdio: "ignore", detached: true });
  }

  /**
   * mwan3track's verdict on a WAN: 15-mwan3 rewrites the policies for its
   * new state, then hotplug-call runs natnow's script (17-natnow). Returns
   * the time of the hotplug call (ns since the epoch).
   */
  mwan3Event(wan: string, action: "connected" | "disconnected", hotplug = true): bigint {
    this.online[wan] = action === "connected";
    this.setPolicies();
    const t = BigInt(Date.now()) * 1_000_000n;
    if (!hotplug) return t;
    const dev = WANS.find((w) => w.name === wan)?.dev ?? "";
    const r = spawnSync(BUSYBOX, ["sh", "-c", `( . '${join(repoRoot, "openwrt-feed/natnow/files/natnow.hotplug-iface")}' )`],
      { env: { ...this.env(), ACTION: action, INTERFACE: wan, DEVICE: dev }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`hotplug script: status ${r.status}: ${r.stderr}`);
    return t;
  }

  /** The upstream of a WAN stops forwarding (the link stays up) or starts again. */
  blackhole(up: "u1" | "u2", on: boolean): void {
    if (on) this.nft(up, "table ip dead {\n chain blk {\n  type filter hook forward priority 0; policy drop;\n }\n}\n");
    else this.in(up, "nft", "delete", "table", "ip", "dead");
  }

  /** Starts a process in a namespace (stopped by close()); resolves when it ends. */
  start(n: string, argv: string[]): Promise<number> {
    const p = spawn("ip", ["netns", "exec", this.ns(n), ...argv], { stdio: "ignore", detached: true });
    this.procs.push(p);
    return new Promise((resolve) => p.on("exit", (c) => resolve(c ?? -1)));
  }

  /** The router's conntrack table. */
  table(): Flow[] {
    return parseTable(this.in("r", "conntrack", "-L", "-f", "ipv4", "-o", "extended,id")).flows;
  }

  /** The daemon's runs, newest first (its records in runs.json: what triggered each, how long it took, what it did per WAN). */
  runs(): {
    trigger: string; durationMs: number; failover?: { wan: string; moved: number; kept: number; to: string[]; notes?: string[] }[];
    errors: string[]; warnings?: string[];
  }[] {
    const f = this.path("state/runs.json");
    return existsSync(f) ? JSON.parse(readFileSync(f, "utf8")).runs : [];
  }

  override close(): void {
    for (const p of [...this.procs, this.daemon]) {
      try {
        if (p?.pid) process.kill(-p.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    super.close();
  }
}

/** The TCP download tool (server and client, bounded): test/e2e/tcpdl.py. */
export const TCPDL = join(repoRoot, "test", "e2e", "tcpdl.py");
