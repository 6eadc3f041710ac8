/**
 * natnow's benchmark (`npm run bench`), all measured in one run, printed as
 * tables. Needs root; builds its own namespaces and removes them.
 *
 * 1. Latency of scenario 1: from "rule live" (fw4's reload returned) to the
 *    first packet the LAN server receives, with `natnow apply` run at once,
 *    and with `natnow daemon` (the default policy) noticing the change itself.
 * 2, 2b, 3. Changes affecting 100 flows (redirect 'SIP' removed: 100 WAN
 *    clients forwarded to the PBX revoked; a forward for one remote network
 *    removed: the same 100 revoked in one walk; 'SIP' added: 100 stuck ones
 *    renewed) in tables of 10k, 100k and 1M entries, filled
 *    inside a namespace with batched ctnetlink messages (bench/ctfill.c):
 *    wall and CPU time of `natnow apply` against `conntrack -D` with the
 *    equivalent filter, a hand-written `conntrack -D` filter, and
 *    `conntrack -F`, with the entries each destroyed.
 * 4. A blocklist table of 0 to 300k intervals beside fw4 (bench/blocklist.ts):
 *    bytes read, peak RSS and time of one `natnow apply --dry-run`.
 * 5. What the fallback costs against the exact plan, in 10k and 100k tables (bench/fallback.ts).
 * 6. Multi-WAN failover and failback, natnow's daemon against mwan3's flush_conntrack (bench/failover.ts).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePath, repoRoot } from "../test/helpers/fixtures.ts";
import { nowNs, Router, sleep } from "../test/e2e/harness.ts";
import { natnowArgv } from "../test/helpers/qjs.ts";
import { blocklistBench, blocklistLines } from "./blocklist.ts";
import { fallbackBench, fallbackLines } from "./fallback.ts";
import { failoverBench, failoverLines } from "./failover.ts";

const SIZES = (process.env.NATNOW_BENCH_SIZES ?? "10000,100000,1000000").split(",").map(Number);
const AFFECTED = 100;
/** Runs of each method per table size (the median is printed). */
const REPEAT = Number(process.env.NATNOW_BENCH_REPEAT ?? 3);
const LATENCY_RUNS = 5;

const sh = (argv: string[], input?: string) =>
  execFileSync(argv[0], argv.slice(1), { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], maxBuffer: 1 << 30 });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Part 1: rule live → first packet delivered, natnow started right after the reload. */
async function latency(): Promise<{ firstMs: number[]; applyMs: number[] }> {
  const firstMs: number[] = [];
  const applyMs: number[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const r = new Router({ phone: "198.18.1.50", pbx: "198.18.1.20" });
    try {
      r.load("a");
      const pbx = r.traffic("pbx", ["-b", "5060", "-d", "2.5", "-r", r.path("pbx")]);
      const phone = r.traffic("phone", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "5", "-d", "2.2"]);
      await sleep(700);
      r.load("b");
      const live = nowNs();
      const run = r.apply();
      applyMs.push(Number(nowNs() - live) / 1e6);
      if (run.status !== 0) throw new Error(`natnow apply failed: ${run.stderr}`);
      await Promise.all([pbx, phone]);
      const got = r.received("pbx").filter((x) => x.t > live);
      firstMs.push(got.length ? Number(got[0].t - live) / 1e6 : NaN);
    } finally {
      r.close();
    }
  }
  return { firstMs, applyMs };
}

/**
 * Part 1b: the daemon with the default policy (a 2 s debounce) on a plain
 * Linux router (no ubus: it follows `nft monitor`), quiet for 3 s, then the
 * new ruleset is loaded: load returned → first packet at the PBX.
 */
async function daemonLatency(): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const r = new Router({ phone: "198.18.1.50", pbx: "198.18.1.20" });
    let daemon: ChildProcess | null = null;
    try {
      r.load("a");
      const state = r.path("state");
      mkdirSync(state, { recursive: true });
      writeFileSync(join(state, "applied.ruleset.json"), r.rulesetJson());
      daemon = spawn("ip", ["netns", "exec", r.ns("r"), ...natnowArgv("daemon", "--state-dir", state, "--policy", r.path("none"),
        "--fw4-state", r.path("none"))], { stdio: "ignore", detached: true });
      const pbx = r.traffic("pbx", ["-b", "5060", "-d", "4.5", "-r", r.path("pbx")]);
      const phone = r.traffic("phone", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "5", "-d", "4.2"]);
      await sleep(3000);
      r.load("b");
      const live = nowNs();
      await Promise.all([pbx, phone]);
      const got = r.received("pbx").filter((x) => x.t > live);
      out.push(got.length ? Number(got[0].t - live) / 1e6 : NaN);
    } finally {
      if (daemon?.pid) {
        try {
          process.kill(-daemon.pid, "SIGTERM");
        } catch { /* gone */ }
      }
      r.close();
    }
  }
  return out;
}

interface Row {
  entries: number;
  method: string;
  wall: number;
  cpu: number;
  affected: number;
  bystanders: number;
  fill: number;
}

/**
 * A change measured in full tables: the ruleset live after it, the one
 * before (as nft printed it), the affected entries (a ctfill pattern), the
 * `conntrack -D` filter that names exactly them, and a count of those left.
 */
interface Scenario {
  /** Its part of the printout ("2b": beside part 2). */
  part: string;
  title: string;
  live: string;
  /** The ruleset before: a fixture (test/fixtures/ruleset), or `{ over }`: nft text loaded over the live one. */
  previous: string | { over: string };
  affected: string;
  equivalent: string[];
  /** `conntrack -L` options that list the affected entries still there (natnow's tombstones are theirs too). */
  left: string[];
}

const SCENARIOS: Scenario[] = [
  {
    // 100 WAN clients forwarded to the PBX, replied
    part: "2",
    title: "redirect 'SIP' removed: 100 forwarded WAN clients revoked",
    live: "a", previous: "b.json",
    affected: `${AFFECTED} 17 198.19.50.1 198.19.100.2 5060 198.18.1.20 - 5060 14 900`,
    equivalent: ["-d", "198.19.100.2", "--dport", "5060", "-r", "198.18.1.20", "--reply-port-src", "5060"],
    left: ["-r", "198.18.1.20"],
  },
  {
    // the same 100 flows, forwarded by a rule for their network only: exact -D filters name them (one walk)
    part: "2b",
    title: "a forward for one remote network removed: its 100 flows revoked in one walk",
    live: "a",
    previous: {
      over: "table ip trunk {\n chain pre {\n  type nat hook prerouting priority dstnat - 1; policy accept;\n" +
        '  iifname "eth1" ip saddr 198.19.50.0/24 udp dport 5060 dnat to 198.18.1.20:5060\n }\n}\n',
    },
    affected: `${AFFECTED} 17 198.19.50.1 198.19.100.2 5060 198.18.1.20 - 5060 14 900`,
    equivalent: ["-s", "198.19.50.0/24", "--dport", "5060", "-r", "198.18.1.20", "--reply-port-src", "5060"],
    left: ["-r", "198.18.1.20"],
  },
  {
    // 100 WAN clients stuck on the router's own address, never replied
    part: "3",
    title: "redirect 'SIP' added: 100 stuck WAN clients renewed",
    live: "b", previous: "a.json",
    affected: `${AFFECTED} 17 198.19.50.1 198.19.100.2 5060 198.19.100.2 - 5060 8 900`,
    equivalent: ["-d", "198.19.100.2", "--dport", "5060", "-r", "198.19.100.2"],
    left: ["-d", "198.19.100.2", "-r", "198.19.100.2"],
  },
];

/** A namespace holding a big conntrack table, with fw4's ruleset (after the change) loaded. */
class Table {
  readonly ns = `nnbench${process.pid % 100000}`;
  readonly dir = mkdtempSync(join(tmpdir(), "natnow-bench-"));
  readonly ctfill = join(this.dir, "ctfill");
  constructor(private readonly sc: Scenario) {
    sh(["gcc", "-O2", "-Wall", "-Werror", "-o", this.ctfill, join(repoRoot, "bench", "ctfill.c")]);
    sh(["ip", "netns", "add", this.ns]);
    this.in(["nft", "-f", fixturePath("fw4-examples", sc.live, "ruleset.nft")]);
  }
  in(argv: string[], input?: string): string {
    return sh(["ip", "netns", "exec", this.ns, ...argv], input);
  }
  /** The ruleset before the change, as nft prints it: a fixture, or the live one with more loaded over it. */
  previous(): string {
    const p = this.sc.previous;
    if (typeof p === "string") return fixturePath("ruleset", p);
    const file = join(this.dir, "previous.json");
    this.in(["nft", "-f", "-"], p.over);
    writeFileSync(file, this.in(["nft", "-j", "list", "ruleset"]));
    this.in(["nft", "flush", "ruleset"]);
    this.in(["nft", "-f", fixturePath("fw4-examples", this.sc.live, "ruleset.nft")]);
    return file;
  }
  /** Fills the table: bystanders (most LAN → WAN HTTPS, a tenth outbound SIP) and the affected forwarded flows. */
  fill(total: number): number {
    this.in(["conntrack", "-F"]);
    const sip = Math.floor((total - AFFECTED) / 10);
    const https = total - AFFECTED - sip;
    const spec = [
      `${https} 17 198.18.128.1 198.19.200.1 443 198.19.200.1 198.19.100.2 443 14 900`,
      `${sip} 17 198.18.64.1 198.19.201.1 5060 198.19.201.1 198.19.100.2 5060 14 900`,
      this.sc.affected,
    ].join("\n") + "\n";
    const t = performance.now();
    this.in([this.ctfill], spec);
    return (performance.now() - t) / 1000;
  }
  count(args: string[] = []): number {
    if (!args.length) return Number(this.in(["conntrack", "-C"]).trim());
    return this.in(["conntrack", "-L", "-f", "ipv4", ...args]).split("\n").filter(Boolean).length;
  }
  /** Runs a command in the namespace: wall seconds, and CPU seconds of it and its children. */
  timed(argv: string[]): { wall: number; cpu: number; status: number } {
    const quoted = argv.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const t = performance.now();
    const r = spawnSync("bash", ["-c", `ip netns exec ${this.ns} ${quoted} >/dev/null 2>&1; s=$?; times; exit $s`], { encoding: "utf8" });
    const wall = (performance.now() - t) / 1000;
    const child = (r.stdout.trim().split("\n")[1] ?? "").match(/([0-9]+)m([0-9.]+)s/g) ?? [];
    const cpu = child.map((x) => {
      const m = /([0-9]+)m([0-9.]+)s/.exec(x) as RegExpExecArray;
      return Number(m[1]) * 60 + Number(m[2]);
    }).reduce((a, b) => a + b, 0);
    return { wall, cpu, status: r.status ?? -1 };
  }
  close(): void {
    spawnSync("ip", ["netns", "del", this.ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function tables(sc: Scenario): Promise<Row[]> {
  const max = Number(sh(["sysctl", "-n", "net.netfilter.nf_conntrack_max"]).trim());
  const need = Math.max(...SIZES) + 10_000;
  if (need > max) sh(["sysctl", "-qw", `net.netfilter.nf_conntrack_max=${need}`]);
  const t = new Table(sc);
  const rows: Row[] = [];
  try {
    const methods: [string, string[]][] = [
      // the live ruleset against the one before the change, as nft printed it
      ["natnow apply (conntrack backend)", natnowArgv("apply", "--previous-ruleset", t.previous(),
        "--interfaces", fixturePath("fw4-examples", "a", "interfaces.json"),
        "--state-dir", join(t.dir, "state"), "--backend", "conntrack")],
      ["conntrack -D, the equivalent filter", ["conntrack", "-D", "-f", "ipv4", "-p", "17", ...sc.equivalent]],
      ["conntrack -D -p udp --dport 5060", ["conntrack", "-D", "-f", "ipv4", "-p", "17", "--dport", "5060"]],
      ["conntrack -F", ["conntrack", "-F"]],
    ];
    for (const n of SIZES) {
      // each method REPEAT times on a fresh table, interleaved: the median wall and CPU time, the most bystanders
      const runs = new Map<string, Row[]>();
      for (let i = 0; i < REPEAT; i++) {
        for (const [method, argv] of methods) {
          const fill = t.fill(n);
          const before = t.count();
          rmSync(join(t.dir, "state"), { recursive: true, force: true });
          const m = t.timed(argv);
          if (m.status !== 0 && !method.startsWith("conntrack -D")) throw new Error(`${method} failed (${m.status})`);
          const affectedLeft = t.count(["-p", "17", ...sc.left]);
          const clientEntries = t.count(["-p", "17", "-d", "198.19.100.2", "--dport", "5060"]);
          const after = t.count();
          const row = {
            entries: before, method, wall: m.wall, cpu: m.cpu, fill,
            affected: AFFECTED - affectedLeft,
            bystanders: (before - AFFECTED) - (after - clientEntries),
          };
          runs.set(method, [...(runs.get(method) ?? []), row]);
          process.stderr.write(`  ${n} ${method}: ${m.wall.toFixed(3)} s\n`);
        }
      }
      for (const [method, rs] of runs) {
        rows.push({
          ...rs[0], method,
          wall: median(rs.map((r) => r.wall)), cpu: median(rs.map((r) => r.cpu)), fill: median(rs.map((r) => r.fill)),
          affected: Math.min(...rs.map((r) => r.affected)), bystanders: Math.max(...rs.map((r) => r.bystanders)),
        });
      }
    }
  } finally {
    t.close();
    if (need > max) sh(["sysctl", "-qw", `net.netfilter.nf_conntrack_max=${max}`]);
  }
  return rows;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error("the benchmark builds network namespaces: run it as root");
    return 1;
  }
  const cpu = sh(["nproc"]).trim();
  console.log(`natnow benchmark, ${new Date().toISOString().slice(0, 10)}, kernel ${sh(["uname", "-r"]).trim()}, ${cpu} CPUs, ` +
    `${sh(["conntrack", "--version"]).trim()}, ${spawnSync(natnowArgv()[0], ["-h"], { encoding: "utf8" }).stdout.split("\n")[0].trim()}`);
  console.log();
  process.stderr.write("latency runs...\n");
  const l = await latency();
  const f = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  console.log(`1. Scenario 1, a LAN phone sending every 5 ms; natnow apply started as the new ruleset went live (${LATENCY_RUNS} runs):`);
  console.log(`   rule live -> first packet at the PBX: ${f(l.firstMs)}`);
  console.log(`   natnow apply, whole command (qjs start included): ${f(l.applyMs)}`);
  console.log();
  process.stderr.write("daemon latency runs...\n");
  const d = await daemonLatency();
  console.log(`1b. The same with natnow daemon (the default policy), quiet before the reload (${LATENCY_RUNS} runs):`);
  console.log(`   new ruleset loaded -> first packet at the PBX: ${f(d)}`);
  console.log();
  const starts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const [qjs, ...argv] = natnowArgv("version");
    spawnSync(qjs, argv);
    starts.push(performance.now() - t);
  }
  for (const sc of SCENARIOS) {
    process.stderr.write(`table runs: ${sc.title}...\n`);
    const rows = await tables(sc);
    console.log(`${sc.part}. ${sc.title}, in a full table:`);
    console.log();
    console.log("   entries   method                                 fill s   wall s   cpu s   destroyed: affected  bystanders");
    for (const r of rows) {
      console.log(`   ${String(r.entries).padStart(7)}   ${r.method.padEnd(38)} ${r.fill.toFixed(2).padStart(6)} ` +
        `${r.wall.toFixed(3).padStart(8)} ${r.cpu.toFixed(3).padStart(7)}   ${String(r.affected).padStart(18)}  ${String(r.bystanders).padStart(10)}`);
    }
    console.log();
    for (const n of SIZES) {
      const at = rows.filter((r) => Math.abs(r.entries - n) < 10);
      const nn = at.find((r) => r.method.startsWith("natnow"));
      const raw = at.find((r) => r.method.includes("equivalent"));
      if (nn && raw) {
        console.log(`   ${n} entries: natnow / conntrack -D (equivalent filter) wall time = ${(nn.wall / raw.wall).toFixed(2)}, ` +
          `CPU time = ${(nn.cpu / raw.cpu).toFixed(2)}`);
      }
    }
    console.log();
  }
  console.log(`   Median of ${REPEAT} runs each. natnow runs in qjs, the router's engine; its times include starting it`);
  console.log(`   (${median(starts).toFixed(0)} ms for 'natnow version'). conntrack-tools walks the whole table in userspace for every`);
  console.log("   -L and every -D. A revoke whose selectors one -D filter names exactly is one walk: a wide hold on the");
  console.log("   old peer, the -D, then the exact holds; fw4's zone scopes cannot be named so (no negation in conntrack-tools),");
  console.log("   and take the dump, then the delete. A renew's dump is filtered by the kernel to never-replied entries.");
  console.log();
  process.stderr.write("blocklist runs...\n");
  const next = Number(SCENARIOS[SCENARIOS.length - 1].part) + 1;
  console.log(`${next}. ${blocklistLines(blocklistBench()).join("\n")}`);
  console.log();
  process.stderr.write("fallback runs...\n");
  console.log(`${next + 1}. ${fallbackLines(fallbackBench()).join("\n")}`);
  console.log(`\n${next + 2}. ${failoverLines(await failoverBench()).join("\n")}`);
  return 0;
}

process.exit(await main());
