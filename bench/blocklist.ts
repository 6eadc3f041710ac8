/**
 * A blocklist beside fw4: what a banIP-style table of N ipv4 intervals (in
 * its own table, named by no nat chain) costs one `natnow apply --dry-run`
 * under qjs on fw4's example a, in a namespace: bytes natnow reads from nft
 * (the terse listing and the sets the nat paths reach, against a full
 * listing), the run's peak RSS (GNU time: qjs and the nft it runs) and its
 * wall time. Prints figures only; nothing is asserted.
 *
 * Alone: `node scripts/run-ts.mjs bench/blocklist.ts` (root; a built bundle).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Json } from "../src/ruleset/nft.ts";
import { listingItems, parseSetListing, setKey, setListArgv, setsToRead } from "../src/ruleset/refs.ts";
import { fixturePath } from "../test/helpers/fixtures.ts";
import { natnowArgv } from "../test/helpers/qjs.ts";

/** Blocklist sizes measured (NATNOW_BENCH_BLOCKLIST="0,20000,..."). */
const SIZES = (process.env.NATNOW_BENCH_BLOCKLIST ?? "0,20000,100000,300000").split(",").map(Number);
const REPEAT = Number(process.env.NATNOW_BENCH_BLOCKLIST_REPEAT ?? 7);

/** One size's figures (medians of REPEAT runs). */
export interface BlocklistRow {
  elements: number;
  fullBytes: number;
  readBytes: number;
  rssKb: number;
  wallS: number;
  /** User and system time of the run and its children (GNU time, 10 ms steps). */
  cpuS: number;
  status: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The blocklist table: N /31 intervals 4 addresses apart in 100.64.0.0/10, in batches of 10k per command. */
function blocklistScript(n: number): string {
  const lines = ["table inet natnow_bench_bl {",
    "  set bl4 { type ipv4_addr; flags interval; }",
    "  chain pre { type filter hook prerouting priority raw; ip saddr @bl4 drop; }", "}"];
  const base = (100 << 24) | (64 << 16);
  for (let i = 0; i < n; i += 10_000) {
    const el: string[] = [];
    for (let j = i; j < Math.min(n, i + 10_000); j++) {
      const a = base + j * 4;
      el.push(`${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/31`);
    }
    lines.push(`add element inet natnow_bench_bl bl4 { ${el.join(", ")} }`);
  }
  return lines.join("\n") + "\n";
}

/** Measures the blocklist sizes, one namespace each (removed after, also on failure), runs interleaved. */
export function blocklistBench(): BlocklistRow[] {
  const dir = mkdtempSync(join(tmpdir(), "natnow-bench-bl-"));
  const nss = SIZES.map((_, i) => `natnow-bl-${process.pid}-${i}`);
  const inNs = (ns: string, argv: string[]) =>
    execFileSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8", maxBuffer: 1 << 30 });
  const rows: BlocklistRow[] = [];
  const made: string[] = [];
  try {
    const bytes = SIZES.map((n, i) => {
      const ns = nss[i];
      execFileSync("ip", ["netns", "add", ns]);
      made.push(ns);
      inNs(ns, ["nft", "-f", fixturePath("fw4-examples", "a", "ruleset.nft")]);
      const script = join(dir, "bl.nft");
      writeFileSync(script, blocklistScript(n));
      inNs(ns, ["nft", "-f", script]);
      // what a run reads from nft: the terse listing, then each set the nat paths reach
      const terse = inNs(ns, ["nft", "-j", "-t", "list", "ruleset"]);
      const items = listingItems(terse, "terse");
      const elements = new Map<string, Json[]>();
      let read = Buffer.byteLength(terse);
      for (let refs = setsToRead(items, elements); refs.length; refs = setsToRead(items, elements)) {
        for (const r of refs) {
          const out = inNs(ns, setListArgv(r));
          read += Buffer.byteLength(out);
          elements.set(setKey(r), parseSetListing(out, r));
        }
      }
      return { full: Buffer.byteLength(inNs(ns, ["nft", "-j", "list", "ruleset"])), read };
    });
    // sizes interleaved within each round: a busy machine slows them alike
    const runs = SIZES.map(() => [] as { rss: number; wall: number; cpu: number; status: number }[]);
    for (let k = 0; k < REPEAT; k++) {
      SIZES.forEach((n, i) => {
        const out = join(dir, "time");
        const t0 = performance.now();
        const r = spawnSync("/usr/bin/time", ["-v", "-o", out, "ip", "netns", "exec", nss[i], ...natnowArgv("apply", "--dry-run",
          "--previous-ruleset", fixturePath("ruleset", "a.json"), "--interfaces", fixturePath("fw4-examples", "a", "interfaces.json"),
          "--fw4-state", fixturePath("fw4-examples", "a", "fw4.state"), "--state-dir", join(dir, "state"))], { encoding: "utf8" });
        // GNU time's own wall clock has 10 ms steps: timed here instead
        const wall = (performance.now() - t0) / 1000;
        const t = readFileSync(out, "utf8");
        const num = (re: RegExp) => Number(re.exec(t)?.[1] ?? NaN);
        const rss = num(/Maximum resident set size \(kbytes\): ([0-9]+)/);
        const cpu = num(/User time \(seconds\): ([0-9.]+)/) + num(/System time \(seconds\): ([0-9.]+)/);
        runs[i].push({ rss, wall, cpu, status: r.status ?? -1 });
        process.stderr.write(`  blocklist ${n}: ${wall.toFixed(3)} s, cpu ${cpu.toFixed(2)} s, ${rss} kB, status ${r.status}\n`);
      });
    }
    SIZES.forEach((n, i) => rows.push({
      elements: n, fullBytes: bytes[i].full, readBytes: bytes[i].read,
      rssKb: median(runs[i].map((r) => r.rss)), wallS: median(runs[i].map((r) => r.wall)), cpuS: median(runs[i].map((r) => r.cpu)),
      status: Math.max(...runs[i].map((r) => r.status)),
    }));
  } finally {
    for (const ns of made) spawnSync("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** The figures as the benchmark prints them, against the run without a blocklist. */
export function blocklistLines(rows: readonly BlocklistRow[]): string[] {
  const zero = rows.find((r) => r.elements === 0) ?? rows[0];
  const pct = (a: number, b: number) => (b > 0 ? `${a >= b ? "+" : ""}${(((a - b) / b) * 100).toFixed(0)}%` : "");
  return [
    `A blocklist table of N ipv4 intervals beside fw4's example a: one 'natnow apply --dry-run' in qjs (median of ${REPEAT}):`,
    "",
    "   elements   full listing B   natnow reads B   peak RSS kB         wall s          cpu s   status",
    ...rows.map((r) => `   ${String(r.elements).padStart(8)}   ${String(r.fullBytes).padStart(14)}   ${String(r.readBytes).padStart(14)}   ` +
      `${`${r.rssKb} ${pct(r.rssKb, zero.rssKb)}`.padStart(16)}   ${`${r.wallS.toFixed(3)} ${pct(r.wallS, zero.wallS)}`.padStart(12)}   ` +
      `${`${r.cpuS.toFixed(2)} ${pct(r.cpuS, zero.cpuS)}`.padStart(12)}   ${r.status}`),
    "",
    "   'natnow reads': nft -j -t list ruleset and nft -j list set|map of each set the nat paths reach; peak RSS",
    "   is the run's (qjs and the nft it runs), from GNU time; the wall time includes ip netns exec and qjs starting.",
  ];
}

if (/blocklist\.(mjs|ts)$/.test(process.argv[1] ?? "")) {
  if (process.getuid?.() !== 0) {
    console.error("the benchmark builds a network namespace: run it as root");
    process.exit(1);
  }
  console.log(blocklistLines(blocklistBench()).join("\n"));
}
