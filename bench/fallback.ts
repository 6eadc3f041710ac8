/**
 * What the fallback costs: a DNAT natnow cannot read whole (gated by
 * `meta mark 0x1`) added to a router whose conntrack table is full, 30% of
 * it never-replied UDP and TCP, against the same rule without the mark, which
 * natnow reads whole and plans exactly. The router is the end-to-end one
 * (test/e2e/harness.ts: namespaces with br-lan, eth1, an upstream host and
 * the PBX 198.18.1.20) with fw4's example a and a mangle rule that marks
 * what comes from the SIP trunk (198.19.50.0/24) 0x1; bench/ctfill.c fills
 * its table. For each size and rule: the flows one `natnow apply` (conntrack
 * backend, in qjs) renews, how many of them the exact rule renews too and
 * how many come from the marked trunk (measured: the table listed before and
 * after a run of its own), the conntrack runs it makes, and its wall and CPU
 * time (median of REPEAT runs, each on a fresh table). A run that fails is
 * a figure too (its exit status and first error line), not repeated.
 * Prints figures only; nothing is asserted.
 *
 * Alone: `node scripts/run-ts.mjs bench/fallback.ts` (root; a built bundle).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseTable } from "../src/conntrack/parse.ts";
import { formatIp } from "../src/net/ip.ts";
import { fixturePath, fixtureText, repoRoot } from "../test/helpers/fixtures.ts";
import { natnowArgv } from "../test/helpers/qjs.ts";
import { natnowPath, Router } from "../test/e2e/harness.ts";

/** Table sizes measured (NATNOW_BENCH_FALLBACK="10000,100000"). */
const SIZES = (process.env.NATNOW_BENCH_FALLBACK ?? "10000,100000").split(",").map(Number);
/** Timed runs of each rule per size (the median is printed). */
const REPEAT = Number(process.env.NATNOW_BENCH_FALLBACK_REPEAT ?? 3);
/** Seconds past which a rule's first run is not repeated (keeps the part within minutes). */
const SLOW_S = Number(process.env.NATNOW_BENCH_FALLBACK_SLOW ?? 10);
/** The router's WAN address (eth1), the masquerade address of LAN flows. */
const WAN = "198.19.100.2";
/** The SIP trunk: the mangle rule marks what comes from it on eth1 0x1. */
const TRUNK = "198.19.50.0/24";

/** One kind of entry in the table: a share of it, made by one ctfill pattern (or a few, 50k entries at most each). */
interface Part {
  share: number;
  proto: 6 | 17;
  src: string;
  dst: string;
  dport: number;
  /** LAN → WAN, masqueraded to the WAN address (else to the router itself, untranslated). */
  masq: boolean;
  replied: boolean;
}

/** The table: 70% replied LAN → WAN traffic, 30% never-replied (1% of it from the marked trunk). */
const PARTS: readonly Part[] = [
  { share: 0.50, proto: 6, src: "198.18.1.100", dst: "198.19.200.1", dport: 443, masq: true, replied: true },
  { share: 0.20, proto: 17, src: "198.18.1.101", dst: "198.19.201.1", dport: 443, masq: true, replied: true },
  { share: 0.10, proto: 17, src: "198.18.1.102", dst: "198.19.210.1", dport: 53, masq: true, replied: false },
  { share: 0.06, proto: 6, src: "198.18.1.103", dst: "198.19.211.1", dport: 443, masq: true, replied: false },
  { share: 0.01, proto: 17, src: "198.19.50.1", dst: WAN, dport: 5060, masq: false, replied: false },
  { share: 0.03, proto: 17, src: "198.19.60.1", dst: WAN, dport: 5060, masq: false, replied: false },
  { share: 0.05, proto: 17, src: "198.19.70.1", dst: WAN, dport: 51820, masq: false, replied: false },
  { share: 0.05, proto: 6, src: "198.19.80.1", dst: WAN, dport: 22, masq: false, replied: false },
];

/** The table's make-up in words, for the printed figures. */
const MAKEUP = ["70% replied LAN -> WAN (TCP and UDP 443); 30% never-replied: LAN -> WAN UDP 53 (10%) and TCP 443 (6%),",
  "WAN -> router UDP 5060 from the trunk (1%, marked 0x1) and from elsewhere (3%), UDP 51820 (5%), TCP 22 (5%)"];

/** A rule added to the router, one per row. */
interface Added {
  /** The row's name. */
  key: string;
  chain: "dstnat" | "dstnat_wan";
  rule: string;
  /** What natnow plans for it: its readable part (fallback) or the rule itself (exact). */
  plan: "fallback" | "exact";
  /** The row whose flows this one's are compared with (the same rule without the mark). */
  exact: string;
  /** What the row shows, in words. */
  what: string;
}

const ADDED: readonly Added[] = [
  {
    key: "A~", chain: "dstnat_wan", rule: "meta mark 0x1 udp dport 5060 dnat ip to 198.18.1.20:5060", plan: "fallback", exact: "A",
    what: "readable: udp dport 5060 from the WAN",
  },
  { key: "A", chain: "dstnat_wan", rule: "udp dport 5060 dnat ip to 198.18.1.20:5060", plan: "exact", exact: "A", what: "A~ without its mark" },
  {
    key: "B~", chain: "dstnat", rule: "meta mark 0x1 dnat ip to 198.18.1.20", plan: "fallback", exact: "B",
    what: "readable: all of ipv4",
  },
  { key: "B", chain: "dstnat", rule: "dnat ip to 198.18.1.20", plan: "exact", exact: "B", what: "B~ without its mark" },
  {
    key: "M", chain: "dstnat_wan", rule: `ip saddr ${TRUNK} udp dport 5060 dnat ip to 198.18.1.20:5060`, plan: "exact", exact: "M",
    what: "what mark 0x1 picks, read whole",
  },
];

/** What one apply did. */
interface Applied {
  status: number;
  renewed: number | null;
  /** The first line natnow wrote to stderr. */
  error: string;
  /** conntrack runs: dumps (-L) and deletes (-D). */
  lists: number;
  deletes: number;
  wall: number;
  cpu: number;
}

/** One size and rule's figures. */
export interface FallbackRow {
  entries: number;
  key: string;
  plan: "fallback" | "exact";
  /** natnow's exit status (the first run's that failed, else 0) and the first line of its errors. */
  status: number;
  error: string;
  /** Flows natnow reported renewed (min and max over the timed runs; null: they failed). */
  renewed: [number, number] | null;
  /**
   * Entries the counting run deleted; of those, the ones the rule without
   * the mark deletes too, and the ones from the marked trunk (row M's).
   * Null: not counted (the timed run failed).
   */
  deleted: number | null;
  exactToo: number | null;
  marked: number | null;
  /** conntrack runs of one apply: dumps (-L) and deletes (-D). */
  lists: number;
  deletes: number;
  /** Timed runs (a failed or slow run is not repeated). */
  runs: number;
  wall: number;
  cpu: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** An IPv4 address `k` past `a`. */
function plus(a: string, k: number): string {
  const n = (a.split(".").reduce((x, o) => x * 256 + Number(o), 0) + k) >>> 0;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** ctfill's patterns for a table of `n` entries (the replied TCP part takes the rounding). */
function fillSpec(n: number): string {
  const counts = PARTS.map((p) => Math.floor(p.share * n));
  counts[0] += n - counts.reduce((a, b) => a + b, 0);
  const lines: string[] = [];
  PARTS.forEach((p, i) => {
    // masqueraded parts in pieces of 50k, each to its own server: reply tuples stay unique and untranslated at the source
    const step = p.masq ? 50_000 : counts[i];
    for (let k = 0, done = 0; done < counts[i]; k++, done += step) {
      const c = Math.min(step, counts[i] - done);
      const dst = p.masq ? plus(p.dst, k) : p.dst;
      lines.push([c, p.proto, p.src, dst, p.dport, dst, p.masq ? WAN : "-", p.dport, p.replied ? 14 : 8, 900].join(" "));
    }
  });
  return lines.join("\n") + "\n";
}

/** fw4's example a, the dstnat_wan chain it jumps to from eth1 (empty), and the mangle rule that marks the trunk. */
function baseRuleset(): string {
  return [
    fixtureText("fw4-examples", "a", "ruleset.nft"),
    "add chain inet fw4 dstnat_wan",
    `insert rule inet fw4 dstnat iifname "eth1" jump dstnat_wan`,
    "table inet natnow_bench_mark",
    "flush table inet natnow_bench_mark",
    "table inet natnow_bench_mark {",
    "  chain pre {",
    "    type filter hook prerouting priority mangle; policy accept;",
    `    iifname "eth1" ip saddr ${TRUNK} meta mark set 0x1`,
    "  }",
    "}",
  ].join("\n") + "\n";
}

/** The router, its table tools and the scratch files of the runs. */
class Bench {
  readonly router = new Router({ pbx: "198.18.1.20" });
  readonly dir = mkdtempSync(join(tmpdir(), "natnow-bench-fb-"));
  readonly ctfill = join(this.dir, "ctfill");
  readonly shims = join(this.dir, "bin");
  readonly log = join(this.dir, "conntrack.log");
  private readonly base = join(this.dir, "base.nft");
  private readonly previous = join(this.dir, "previous.json");

  constructor() {
    try {
      execFileSync("gcc", ["-O2", "-Wall", "-Werror", "-o", this.ctfill, join(repoRoot, "bench", "ctfill.c")]);
      writeFileSync(this.base, baseRuleset());
      // conntrack as natnow finds it, each run logged (one line, a few ms) to count the walks
      const real = execFileSync("sh", ["-c", "command -v conntrack"], { encoding: "utf8", env: { ...process.env, PATH: natnowPath() } }).trim();
      mkdirSync(this.shims);
      writeFileSync(join(this.shims, "conntrack"), `#!/bin/sh\necho "$1" >>'${this.log}'\nexec '${real}' "$@"\n`);
      chmodSync(join(this.shims, "conntrack"), 0o755);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Runs a command in the router; throws with its stderr when it fails. */
  in(argv: string[], input?: string): string {
    return execFileSync("ip", ["netns", "exec", this.router.ns("r"), ...argv],
      { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], maxBuffer: 1 << 30 });
  }

  /** The base ruleset live, natnow's previous ruleset taken from it, then the rule added. */
  addRule(a: Added): void {
    this.in(["nft", "-f", this.base]);
    writeFileSync(this.previous, this.in(["nft", "-j", "list", "ruleset"]));
    this.in(["nft", "-f", "-"], `add rule inet fw4 ${a.chain} ${a.rule}\n`);
  }

  /** Empties the table and fills it with `n` entries. */
  fill(n: number): void {
    this.in(["conntrack", "-F"]);
    const out = this.in([this.ctfill], fillSpec(n));
    if (!out.startsWith(`created ${n} `)) throw new Error(`ctfill: ${out.trim()}`);
  }

  /** The IPv4 entries' original tuples. */
  tuples(): Set<string> {
    const t = parseTable(this.in(["conntrack", "-L", "-f", "ipv4", "-o", "extended,id"]));
    return new Set(t.flows.map((f) => `${f.proto} ${formatIp(f.orig.src)}:${f.orig.sport} ${formatIp(f.orig.dst)}:${f.orig.dport}`));
  }

  /**
   * One `natnow apply --json` (conntrack backend) in the router: its exit
   * status, the flows it renewed (null when it failed), the first line of
   * its errors, its conntrack runs, wall and CPU seconds.
   */
  apply(): Applied {
    const state = join(this.dir, "state");
    rmSync(state, { recursive: true, force: true });
    rmSync(this.log, { force: true });
    const out = join(this.dir, "out.json");
    const argv = ["ip", "netns", "exec", this.router.ns("r"), ...natnowArgv("apply", "--json", "--backend", "conntrack",
      "--previous-ruleset", this.previous, "--interfaces", fixturePath("fw4-examples", "a", "interfaces.json"), "--state-dir", state)];
    const quoted = argv.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const t = performance.now();
    const r = spawnSync("bash", ["-c", `${quoted} >'${out}' 2>'${out}.err'; s=$?; times; exit $s`],
      { encoding: "utf8", env: { ...process.env, PATH: `${this.shims}:${natnowPath()}` } });
    const wall = (performance.now() - t) / 1000;
    if (r.signal || r.status === null) throw new Error(`natnow apply was stopped (${r.signal ?? r.error?.message ?? "no status"})`);
    // `times`: the shell's own user and system time, then its children's
    const cpu = (r.stdout.trim().split("\n")[1] ?? "").split(/\s+/).map((x) => /^([0-9]+)m([0-9.]+)s$/.exec(x))
      .reduce((sum, m) => (m ? sum + Number(m[1]) * 60 + Number(m[2]) : sum), 0);
    const calls = existsSync(this.log) ? readFileSync(this.log, "utf8").split("\n") : [];
    const status = r.status;
    let renewed: number | null = null;
    try {
      const run: unknown = JSON.parse(readFileSync(out, "utf8"));
      const result = typeof run === "object" && run !== null ? (run as { result?: { renewed?: unknown } | null }).result : null;
      if (status === 0 && typeof result?.renewed === "number") renewed = result.renewed;
    } catch {
      // no JSON: the run failed before its report
    }
    return {
      status, renewed, error: readFileSync(`${out}.err`, "utf8").split("\n")[0] ?? "", wall, cpu,
      lists: calls.filter((c) => c === "-L").length, deletes: calls.filter((c) => c === "-D").length,
    };
  }

  close(): void {
    this.router.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Measures every size and rule in one router (removed after, also on failure); rules interleaved within each round. */
export function fallbackBench(): FallbackRow[] {
  const max = Number(execFileSync("sysctl", ["-n", "net.netfilter.nf_conntrack_max"], { encoding: "utf8" }).trim());
  const need = Math.max(...SIZES) + 10_000;
  const b = new Bench();
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    b.close();
    if (need > max) spawnSync("sysctl", ["-qw", `net.netfilter.nf_conntrack_max=${max}`]);
  };
  // Node runs a signal's listener only once these synchronous runs end (so a signal never leaves the
  // namespaces behind): Ctrl-C stops the running child too, which throws, and the finally cleans up
  const stop = () => {
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const rows: FallbackRow[] = [];
  try {
    if (need > max) execFileSync("sysctl", ["-qw", `net.netfilter.nf_conntrack_max=${need}`]);
    for (const n of SIZES) {
      // the rules interleaved in each round, each on a fresh table; a rule whose run failed, or was slow, is not run again
      const runs = new Map<string, Applied[]>(ADDED.map((a) => [a.key, []]));
      const failed = (k: string) => (runs.get(k) ?? []).some((r) => r.status !== 0);
      const slow = (k: string) => (runs.get(k) ?? []).some((r) => r.wall > SLOW_S);
      for (let i = 0; i < REPEAT; i++) {
        for (const a of ADDED) {
          if (failed(a.key) || slow(a.key)) continue;
          b.addRule(a);
          b.fill(n);
          const m = b.apply();
          runs.get(a.key)?.push(m);
          process.stderr.write(`  fallback ${n} ${a.key}: status ${m.status}, renewed ${m.renewed}, ${m.wall.toFixed(3)} s\n`);
        }
      }
      // which entries each rule's run deletes: a run of its own, the table listed before and after
      const gone = new Map<string, Set<string>>();
      for (const a of ADDED) {
        if (failed(a.key)) continue;
        b.addRule(a);
        b.fill(n);
        const before = b.tuples();
        b.apply();
        const after = b.tuples();
        gone.set(a.key, new Set([...before].filter((k) => !after.has(k))));
      }
      const marked = gone.get("M");
      for (const a of ADDED) {
        const mine = gone.get(a.key);
        const exact = gone.get(a.exact);
        const rs = runs.get(a.key) ?? [];
        const bad = rs.find((r) => r.status !== 0);
        const ok = rs.filter((r) => r.status === 0);
        const overlap = (other: Set<string> | undefined) => (mine && other ? [...mine].filter((k) => other.has(k)).length : null);
        rows.push({
          entries: n, key: a.key, plan: a.plan, status: bad?.status ?? 0, error: bad?.error ?? "",
          renewed: ok.length ? [Math.min(...ok.map((r) => r.renewed ?? 0)), Math.max(...ok.map((r) => r.renewed ?? 0))] : null,
          deleted: mine?.size ?? null, exactToo: overlap(exact), marked: overlap(marked),
          lists: median(rs.map((r) => r.lists)), deletes: median(rs.map((r) => r.deletes)), runs: rs.length,
          wall: median(rs.map((r) => r.wall)), cpu: median(rs.map((r) => r.cpu)),
        });
      }
    }
  } finally {
    cleanup();
  }
  return rows;
}

/** The figures as the benchmark prints them. */
export function fallbackLines(rows: readonly FallbackRow[]): string[] {
  const opt = (x: number | null) => (x === null ? "-" : String(x));
  const lines = [
    "What the fallback costs: a rule natnow cannot read whole (gated by meta mark 0x1) added in a full table,",
    `against the same rule without the mark (exact plan); natnow apply, conntrack backend, in qjs (median of ${REPEAT}):`,
    "",
    `   table: ${MAKEUP[0]}`,
    `          ${MAKEUP[1]}`,
    `   router: fw4's example a, eth1 -> dstnat_wan; a mangle rule marks eth1 traffic from ${TRUNK} 0x1`,
    ...ADDED.map((a) => `   ${a.key.padEnd(3)}${a.plan.padEnd(9)} ${`${a.chain}: ${a.rule}`.padEnd(80)} ${a.what}`),
    "",
    "   entries  rule  plan      status  renewed  exact rule's   extra  marked   -L  -D    wall s    cpu s",
    ...rows.map((r) => `   ${String(r.entries).padStart(7)}  ${r.key.padEnd(4)}  ${r.plan.padEnd(8)} ${String(r.status).padStart(7)} ` +
      `${(r.renewed === null ? "-" : r.renewed[0] === r.renewed[1] ? String(r.renewed[0]) : r.renewed.join("-")).padStart(8)} ` +
      `${opt(r.exactToo).padStart(13)} ${opt(r.deleted === null || r.exactToo === null ? null : r.deleted - r.exactToo).padStart(7)} ` +
      `${opt(r.marked).padStart(7)} ${String(r.lists).padStart(4)} ${String(r.deletes).padStart(3)} ` +
      `${r.wall.toFixed(3).padStart(9)} ${r.cpu.toFixed(3).padStart(8)}${r.runs < REPEAT ? `  (${r.runs} run)` : ""}`),
    "",
  ];
  for (const n of new Set(rows.map((r) => r.entries))) {
    const at = (k: string) => rows.find((r) => r.entries === n && r.key === k);
    const m = at("M");
    for (const [fb, ex] of [["A~", "A"], ["B~", "B"]]) {
      const f = at(fb);
      const e = at(ex);
      if (!f || !e || !m) continue;
      if (f.status !== 0) {
        lines.push(`   ${n} entries: ${fb} fails (exit ${f.status}, ${f.wall.toFixed(1)} s): ${f.error}`);
        continue;
      }
      const beyond = f.deleted === null || f.exactToo === null || f.marked === null ? "" :
        ` (${f.deleted - f.exactToo} beyond ${ex}, ${f.deleted - f.marked} beyond the ${f.marked} marked)`;
      lines.push(`   ${n} entries: ${fb} renews ${opt(f.deleted)}${beyond}; wall time ${fb} / ${ex} = ${(f.wall / e.wall).toFixed(2)}, ` +
        `${fb} / M = ${(f.wall / m.wall).toFixed(2)}`);
    }
  }
  lines.push(
    "",
    "   status: natnow's exit status; renewed: its count (every timed run); exact rule's, extra, marked: of the entries",
    "   a run of its own deleted (the table listed before and after), those the rule without the mark deletes too, the",
    "   rest, and those from the marked trunk (what M deletes); -L, -D: conntrack runs of one apply. A run that failed,",
    `   or took over ${SLOW_S} s, is not repeated. Renewing a never-replied flow deletes its entry; its next packet makes a`,
    "   new one. The wall time includes ip netns exec and qjs starting.",
  );
  return lines;
}

if (/fallback\.(mjs|ts)$/.test(process.argv[1] ?? "")) {
  if (process.getuid?.() !== 0) {
    console.error("the benchmark builds network namespaces: run it as root");
    process.exit(1);
  }
  console.log(fallbackLines(fallbackBench()).join("\n"));
}
