/**
 * The end-to-end router: network namespaces shaped like the fw4 examples'
 * router model. "r" has br-lan (198.18.1.1/24, 2001:db8:1::1/64) with the
 * LAN hosts bridged in and eth1 (198.19.100.2/24, 2001:db8:100::2/64)
 * towards the upstream host "w" (198.19.100.1, 2001:db8:100::1), which has
 * no route back to the LAN. Rulesets are fw4's own output. natnow runs as a
 * user runs it: the built bundle, `natnow apply`, inside the router.
 * Everything is removed by close(), also after a failure.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseTable } from "../../src/conntrack/parse.ts";
import type { Flow } from "../../src/conntrack/flow.ts";
import { formatIp } from "../../src/net/ip.ts";
import { fixturePath, fixtureText, repoRoot } from "../helpers/fixtures.ts";
import { natnowArgv } from "../helpers/qjs.ts";

/** Whether this machine can run the namespace tests (root, nft, conntrack, gcc). */
export const canRunNetns = process.getuid?.() === 0 &&
  ["nft", "conntrack", "gcc"].every((t) => spawnSync(t, ["--version"]).status === 0);

const TOOLS = mkdtempSync(join(tmpdir(), "natnow-e2e-tools-"));
process.on("exit", () => rmSync(TOOLS, { recursive: true, force: true }));
let tool: string | null = null;

/** The traffic tool (test/kmod/nntraffic.c), built once per test process. */
function trafficTool(): string {
  if (!tool) {
    tool = join(TOOLS, "nntraffic");
    execFileSync("gcc", ["-O2", "-o", tool, join(repoRoot, "test/kmod/nntraffic.c")]);
  }
  return tool;
}

/**
 * The conntrack-tools natnow runs with: Debian 12's 1.4.7 in PATH, or the
 * binary NATNOW_CONNTRACK names (OpenWrt 24.10's 1.4.8, built by
 * scripts/setup.sh), put first in natnow's PATH as `conntrack`.
 */
export const conntrackBin: string = process.env.NATNOW_CONNTRACK ?? "conntrack";

/** `conntrack-tools 1.4.7`: which one the tests run natnow with, for their names. */
export const conntrackVersion: string = (() => {
  const v = /v([0-9.]+)/.exec(spawnSync(conntrackBin, ["--version"], { encoding: "utf8" }).stdout ?? "");
  return `conntrack-tools ${v ? v[1] : "missing"}`;
})();

/** The PATH natnow runs with: the chosen conntrack first. */
export function natnowPath(): string {
  if (!process.env.NATNOW_CONNTRACK) return process.env.PATH ?? "";
  const dir = join(TOOLS, "conntrack");
  if (!existsSync(dir)) {
    mkdirSync(dir);
    symlinkSync(process.env.NATNOW_CONNTRACK, join(dir, "conntrack"));
  }
  return `${dir}:${process.env.PATH ?? ""}`;
}

/** The bundle users run, built when missing. */
export function bundle(): string {
  const p = join(repoRoot, "dist", "natnow.js");
  if (!existsSync(p)) execFileSync(process.execPath, [join(repoRoot, "scripts", "build.mjs")], { stdio: "ignore" });
  return p;
}

/** A LAN host's IPv6 address from its IPv4 one: 198.18.1.20 → 2001:db8:1::20. */
export const v6of = (v4: string): string => `2001:db8:1::${v4.split(".")[3]}`;

/** What a command printed. */
export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

let spaces = 0;

/** Network namespaces a test makes, a scratch directory, and their removal. */
export class Namespaces {
  readonly dir: string;
  // pid and a per-process count, apart: a random suffix collided once in a clean-clone run
  private readonly prefix: string;
  protected readonly names: string[] = [];

  constructor(kind: string, letters: string) {
    this.dir = mkdtempSync(join(tmpdir(), `natnow-${kind}-`));
    this.prefix = `${letters}${process.pid}x${++spaces}`;
  }

  /** Adds a namespace (removed by close()). */
  protected addNs(n: string): void {
    this.sh("ip", "netns", "add", this.ns(n));
    this.names.push(n);
  }

  /** A namespace's full name. */
  ns(n: string): string {
    return `${this.prefix}${n}`;
  }

  /** Runs a command; throws with its stderr when it fails. */
  sh(...argv: string[]): string {
    return execFileSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  /** Runs a command inside a namespace. */
  in(n: string, ...argv: string[]): string {
    return this.sh("ip", "netns", "exec", this.ns(n), ...argv);
  }

  /** A path inside the scratch directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Removes the namespaces and the scratch directory. */
  close(): void {
    for (const n of this.names) spawnSync("ip", ["netns", "del", this.ns(n)]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One router and its hosts. */
export class Router extends Namespaces {

  /** `lanHosts`: namespace name → IPv4 address on the LAN (its IPv6 one follows, see v6of). */
  constructor(lanHosts: Record<string, string>) {
    super("e2e", "nn");
    try {
      this.build(lanHosts);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private build(lanHosts: Record<string, string>): void {
    for (const n of ["r", "w", ...Object.keys(lanHosts)]) {
      this.addNs(n);
      this.in(n, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0");
      this.in(n, "ip", "link", "set", "lo", "up");
    }
    this.in("r", "ip", "link", "add", "br-lan", "type", "bridge");
    this.in("r", "ip", "addr", "add", "198.18.1.1/24", "dev", "br-lan");
    this.in("r", "ip", "addr", "add", "2001:db8:1::1/64", "dev", "br-lan", "nodad");
    for (const [n, addr] of Object.entries(lanHosts)) {
      this.sh("ip", "link", "add", "eth0", "netns", this.ns(n), "type", "veth", "peer", "name", `p-${n}`, "netns", this.ns("r"));
      this.in("r", "ip", "link", "set", `p-${n}`, "master", "br-lan", "up");
      this.in(n, "ip", "addr", "add", `${addr}/24`, "dev", "eth0");
      this.in(n, "ip", "addr", "add", `${v6of(addr)}/64`, "dev", "eth0", "nodad");
      this.in(n, "ip", "link", "set", "eth0", "up");
      this.in(n, "ip", "route", "add", "default", "via", "198.18.1.1");
      this.in(n, "ip", "-6", "route", "add", "default", "via", "2001:db8:1::1");
    }
    this.sh("ip", "link", "add", "eth1", "netns", this.ns("r"), "type", "veth", "peer", "name", "eth0", "netns", this.ns("w"));
    this.in("r", "ip", "addr", "add", "198.19.100.2/24", "dev", "eth1");
    this.in("r", "ip", "addr", "add", "2001:db8:100::2/64", "dev", "eth1", "nodad");
    this.in("w", "ip", "addr", "add", "198.19.100.1/24", "dev", "eth0");
    this.in("w", "ip", "addr", "add", "2001:db8:100::1/64", "dev", "eth0", "nodad");
    for (const [n, d] of [["r", "br-lan"], ["r", "eth1"], ["w", "eth0"]]) this.in(n, "ip", "link", "set", d, "up");
    this.in("r", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
    // events for every entry (the default 2 only covers entries made while a listener runs)
    this.in("r", "sysctl", "-qw", "net.netfilter.nf_conntrack_events=1");
    this.waitAddressesUsable();
  }

  /**
   * Waits (at most `ms`) until no namespace has a tentative IPv6 address.
   * Even a `nodad` address, or one added with accept_dad=0, stays tentative
   * until the kernel's DAD work runs after its link comes up; a socket bound
   * to it meanwhile fails with EADDRNOTAVAIL, so its flows never start.
   * Throws when an address is still tentative (or DAD failed) by then.
   */
  waitAddressesUsable(ms = 5000): void {
    const until = Date.now() + ms;
    const pending = () => this.names.filter((n) => this.in(n, "ip", "-6", "addr", "show", "tentative").trim() !== "" ||
      this.in(n, "ip", "-6", "addr", "show", "dadfailed").trim() !== "");
    let left = pending();
    while (left.length && Date.now() < until) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // a short pause between polls
      left = pending();
    }
    if (left.length) throw new Error(`IPv6 addresses still tentative after ${ms} ms in ${left.join(", ")}`);
  }

  /** The router's ruleset as `nft -j` prints it. */
  rulesetJson(): string {
    return this.in("r", "nft", "-j", "list", "ruleset");
  }

  /**
   * Loads an fw4 example's ruleset the way fw4 reloads (one atomic nft -f).
   * The ruleset before it is kept: what natnow applied last, for apply().
   */
  load(example: string): void {
    this.loadFile(fixturePath("fw4-examples", example, "ruleset.nft"));
  }

  /** Loads a ruleset given as text (an example rendered for a changed config). */
  loadText(ruleset: string): void {
    const f = join(this.dir, `ruleset-${Date.now()}.nft`);
    writeFileSync(f, ruleset);
    this.loadFile(f);
  }

  private loadFile(f: string): void {
    writeFileSync(this.path("previous.json"), this.rulesetJson());
    this.in("r", "nft", "-f", f);
  }

  /** Runs the traffic tool in a namespace; resolves when it ends. */
  traffic(n: string, args: string[]): Promise<void> {
    return new Promise((resolve) => {
      spawn("ip", ["netns", "exec", this.ns(n), trafficTool(), ...args], { stdio: "ignore" }).on("exit", () => resolve());
    });
  }

  /** Starts a command in a namespace; resolves with what it printed when it ends. */
  spawnIn(n: string, argv: string[]): Promise<Run> {
    return new Promise((resolve) => {
      const p = spawn("ip", ["netns", "exec", this.ns(n), ...argv], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      p.on("exit", (code) => resolve({ status: code ?? -1, stdout, stderr }));
    });
  }

  /** Datagrams the traffic tool logged with -r: receive time (ns) and sender. */
  received(file: string): { t: bigint; from: string }[] {
    const p = join(this.dir, file);
    if (!existsSync(p)) return [];
    return readFileSync(p, "utf8").split("\n").filter(Boolean)
      .map((l) => l.split(" ")).map((w) => ({ t: BigInt(w[1]), from: w[2] }));
  }

  /** Datagrams the traffic tool logged with -s: sequence number and send time (ns). */
  sent(file: string): { seq: number; t: bigint }[] {
    const p = join(this.dir, file);
    if (!existsSync(p)) return [];
    return readFileSync(p, "utf8").split("\n").filter(Boolean)
      .map((l) => l.split(" ")).map((w) => ({ seq: Number(w[0]), t: BigInt(w[1]) }));
  }

  /**
   * What the test controls, not a count in a wall-clock window: of the
   * datagrams sent (log `sendFile`) after `t`, how many were sent and how
   * many `from` never delivered to the receiver (log `recvFile`), up to
   * `until` (the receiver's own end).
   */
  delivery(sendFile: string, recvFile: string, from: string, t: bigint, until?: bigint): { sent: number; lost: number } {
    const got = new Set(readFileSync(join(this.dir, recvFile), "utf8").split("\n").filter(Boolean)
      .map((l) => l.split(" ")).filter((w) => w[2] === from).map((w) => Number(w[0])));
    const sent = this.sent(sendFile).filter((x) => x.t > t && (until === undefined || x.t < until));
    return { sent: sent.length, lost: sent.filter((x) => !got.has(x.seq)).length };
  }

  /**
   * Runs `natnow apply` (the bundle in the router's engine, qjs) inside the router with the
   * example router's interface dump: the live ruleset against the one
   * before the last load (what natnow would have applied then).
   */
  apply(extra: string[] = []): Run {
    mkdirSync(this.path("state"), { recursive: true });
    const args = ["apply", "--interfaces", fixturePath("fw4-examples", "a", "interfaces.json"), "--state-dir", this.path("state")];
    if (existsSync(this.path("previous.json"))) args.push("--previous-ruleset", this.path("previous.json"));
    const r = spawnSync("ip", ["netns", "exec", this.ns("r"), ...natnowArgv(...args, ...extra)],
      { encoding: "utf8", env: { ...process.env, PATH: natnowPath() } });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Waits until an entry the predicate picks is in the table (at most `ms`); whether it came. */
  async waitForEntry(pick: (f: Flow) => boolean, ms = 5000): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.table().some(pick)) return true;
      await sleep(50);
    }
    return false;
  }

  /** The router's conntrack table, both families. */
  table(): Flow[] {
    return [4, 6].flatMap((f) =>
      parseTable(this.in("r", "conntrack", "-L", "-f", `ipv${f}`, "-o", "extended,id")).flows
    );
  }
}

/** An fw4 example's config text. */
export const config = (example: string): string => fixtureText("fw4-examples", example, "firewall");

/** An fw4 example's ruleset text. */
export const ruleset = (example: string): string => fixtureText("fw4-examples", example, "ruleset.nft");

/** Replaces every occurrence (a config or ruleset rendered for a changed value). */
export const swap = (text: string, from: string, to: string): string => {
  if (text.indexOf(from) < 0) throw new Error(`'${from}' is not in the text`);
  return text.split(from).join(to);
};

/** Nanoseconds since the epoch, as the traffic tool logs them. */
export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Waits. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A flow's entry id with both tuples, to compare tables before and after.
 * The kernel's id hashes the entry's address and original tuple only, so a
 * deleted entry whose memory is reused for the same tuple can show the same
 * id: the reply tuple tells a DNATed entry from its untranslated successor.
 */
export const entryKey = (f: Flow): string =>
  `${f.id} ${f.proto} ${formatIp(f.orig.src)}:${f.orig.sport}>${formatIp(f.orig.dst)}:${f.orig.dport} ` +
  `${formatIp(f.reply.src)}:${f.reply.sport}>${formatIp(f.reply.dst)}:${f.reply.dport}`;
