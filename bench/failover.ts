/**
 * Multi-WAN failover, natnow against mwan3's flush_conntrack, on the
 * end-to-end test's two-WAN router (test/e2e/multiwan.ts: mwan3's marks,
 * tables, ip rules and mangle chains, its hotplug call into natnow's
 * 17-natnow, the daemon with fake ubus and uci). Traffic, as in
 * test/e2e/failover.test.ts: a phone's two-way UDP stream (every 20 ms) and
 * a WireGuard-like flow (every 100 ms) on wan1, a TCP download on wan1; rules
 * pin a TCP download and ten UDP flows to wan2 (the bystanders).
 *
 * Each run is a fresh router. wan1's upstream stops forwarding (its link
 * stays up) and mwan3 says `disconnected`; once the TCP download is back
 * through wan2, wan1 forwards again and mwan3 says `connected`. With natnow,
 * its daemon (the default failback policy) follows mwan3's hotplug call;
 * for comparison, mwan3's `flush_conntrack` on both events, emulated with
 * `conntrack -F` (Debian's kernel has no writable /proc/net/nf_conntrack).
 * Measured: event → the first datagram of the phone and of the
 * WireGuard-like flow that the far end gets through the new WAN, the
 * entries destroyed (and of them the bystanders), the daemon's run, and at
 * failback what it moved and kept. RUNS runs of each, alternating; the
 * median and min–max are printed. Prints figures only; nothing is asserted.
 *
 * Alone: `node scripts/run-ts.mjs bench/failover.ts` (root; a built bundle).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Flow } from "../src/conntrack/flow.ts";
import { parseLine } from "../src/conntrack/parse.ts";
import { formatIp } from "../src/net/ip.ts";
import { repoRoot } from "../test/helpers/fixtures.ts";
import { sleep } from "../test/e2e/harness.ts";
import { TCPDL, TwoWan } from "../test/e2e/multiwan.ts";

/** Runs of each method (NATNOW_BENCH_FAILOVER_RUNS). */
const RUNS = Number(process.env.NATNOW_BENCH_FAILOVER_RUNS ?? 5);
/** The LAN hosts: the phone, the WireGuard-like peer, the downloads and the pinned flows. */
const HOSTS = { ph: "198.18.1.20", wg: "198.18.1.21", dl: "198.18.1.30", pin: "198.18.1.31" };
const PINNED_UDP = 10;
/** The traffic's bound in seconds (a run closes its router long before). */
const DUR = 20;
const MASK = 0x3f00;
/** natnow's policy: the conntrack backend, the failback policy left at its default (udp). */
const POLICY = "config natnow 'main'\n\toption backend 'conntrack'\n";
/** What each WAN masquerades to: the far end sees the flow come from it. */
const WAN_ADDR = { wan1: "198.19.1.2", wan2: "198.19.2.2" };
/** How long a run waits for a first datagram before it counts as none. */
const WAIT_MS = 5000;

/** How a run follows mwan3's events. */
type Method = "natnow" | "flush";

/** What one event (failover or failback) did, measured in one run. */
export interface EventFigures {
  /** ms from mwan3's event to the phone's first datagram through the new WAN (null: none within WAIT_MS). */
  phoneMs: number | null;
  /** The same for the WireGuard-like flow. */
  wgMs: number | null;
  /** ms from mwan3's event until its handling returned: natnow's hotplug script (ubus send), or conntrack -F. */
  actMs: number;
  /** The LAN hosts' entries in the router's table just before the event, and of them those destroyed. */
  entries: number;
  destroyed: number;
  /** The wan2 bystanders (rule-pinned) before the event, and of them those destroyed. */
  bystanders: number;
  bystandersDestroyed: number;
  /** natnow's run for the event: its duration and what it did to the flows leaving by the WAN they left (null: flush, or no run). */
  run: { ms: number; moved: number; kept: number; to: string[]; notes: string[] } | null;
}

/** One run: a failover and its failback. */
export interface FailoverRun {
  method: Method;
  over: EventFigures;
  back: EventFigures;
}

/** A flow's identity in the table: its ctnetlink id and both tuples. */
const key = (f: Flow) => `${f.id} ${f.proto} ${formatIp(f.orig.src)}:${f.orig.sport}>${formatIp(f.orig.dst)}:${f.orig.dport} ` +
  `${formatIp(f.reply.dst)}:${f.reply.dport}`;
const onWan = (f: Flow, id: number) => f.mark !== undefined && (f.mark & MASK) === id << 8;
const isBystander = (f: Flow) => onWan(f, 2) && (f.orig.dport === 8002 || ((f.orig.dport ?? 0) >= 7000 && (f.orig.dport ?? 0) < 7100));

/** An entry of a LAN host's flow (not the router's own, such as its IGMP reports on br-lan). */
const fromLan = (f: Flow) => Object.values(HOSTS).includes(formatIp(f.orig.src));

/** Waits for a condition (polled every 20 ms), at most `ms`; whether it came. */
async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

/** ms from `t` (ns) to the first datagram a far-end peer logged from `from` after it, or null. */
function firstFrom(r: TwoWan, log: string, from: string, t: bigint): number | null {
  const p = r.path(log);
  if (!existsSync(p)) return null;
  for (const line of readFileSync(p, "utf8").split("\n")) {
    const w = line.split(" ");
    if (w.length < 3 || w[2] !== from) continue;
    const at = BigInt(w[1]);
    if (at > t) return Number(at - t) / 1e6;
  }
  return null;
}

/** Starts the traffic (peers in x, clients on the LAN), bounded by DUR; close() stops it. */
function traffic(r: TwoWan, tool: string): void {
  const d = String(DUR);
  r.start("x", [tool, "-b", "5060", "-e", "-d", d, "-r", r.path("x-phone")]);
  r.start("x", [tool, "-b", "51820", "-e", "-d", d, "-r", r.path("x-wg")]);
  for (const port of ["8001", "8002"]) r.start("x", ["/usr/bin/python3", TCPDL, "serve", port, String(DUR + 3)]);
  for (let i = 0; i < PINNED_UDP; i++) r.start("x", [tool, "-b", String(7000 + i), "-e", "-d", d]);
  r.start("ph", [tool, "-b", "5060", "-t", "198.19.50.1", "-p", "5060", "-i", "20", "-d", d]);
  r.start("wg", [tool, "-b", "51820", "-t", "198.19.50.1", "-p", "51820", "-i", "100", "-d", d]);
  r.start("dl", ["/usr/bin/python3", TCPDL, "get", "198.19.50.3", "8001", d, r.path("dl-wan1")]);
  r.start("dl", ["/usr/bin/python3", TCPDL, "get", "198.19.50.3", "8002", d, r.path("dl-pinned")]);
  for (let i = 0; i < PINNED_UDP; i++) {
    r.start("pin", [tool, "-b", String(7000 + i), "-t", "198.19.50.1", "-p", String(7000 + i), "-i", "200", "-d", d]);
  }
}

/** The `conntrack -E` listeners running (stopped on SIGINT or SIGTERM too). */
const listeners = new Set<ChildProcess>();

/**
 * The router's conntrack DESTROY events while it runs (`conntrack -E`):
 * stop() ends it and gives the keys of the entries destroyed. A re-created
 * entry can get its old id back (the kernel hashes its address and tuple), so
 * the table listed after an event cannot tell; its events can.
 */
async function destroyEvents(r: TwoWan): Promise<{ stop: () => Promise<Set<string>> }> {
  const p = spawn("ip", ["netns", "exec", r.ns("r"), "conntrack", "-E", "-e", "DESTROY", "-o", "extended,id"],
    { stdio: ["ignore", "pipe", "ignore"], detached: true });
  let out = "";
  p.stdout.setEncoding("utf8");
  p.stdout.on("data", (d: string) => {
    out += d;
  });
  listeners.add(p);
  const exited = new Promise<void>((resolve) => p.on("close", () => {
    listeners.delete(p);
    resolve();
  }));
  await sleep(200); // subscribed (it prints nothing until an event)
  return {
    stop: async () => {
      try {
        if (p.pid) process.kill(-p.pid, "SIGTERM");
      } catch { /* gone */ }
      await exited;
      const keys = new Set<string>();
      for (const line of out.split("\n")) {
        if (!line.startsWith("[DESTROY]")) continue;
        try {
          keys.add(key(parseLine(line.replace(/^\[DESTROY\]\s*/, ""))));
        } catch { /* not an entry */ }
      }
      return keys;
    },
  };
}

/**
 * One event: the table before it, the event itself (`act`, which returns
 * its time in ns), the first datagrams through `to`, then natnow's run for
 * it and the entries destroyed (of those in the table before).
 */
async function measure(r: TwoWan, method: Method, trigger: string, from: "wan1" | "wan2", to: "wan1" | "wan2",
  act: () => bigint): Promise<EventFigures> {
  const before = r.table().filter(fromLan);
  const bystanders = before.filter(isBystander).map(key);
  const events = await destroyEvents(r);
  let gone = new Set<string>();
  let run: EventFigures["run"] = null;
  const addr = WAN_ADDR[to];
  let t = 0n;
  let actMs = 0;
  try {
    t = act();
    actMs = Number(BigInt(Date.now()) * 1_000_000n - t) / 1e6;
    await waitFor(() => firstFrom(r, "x-phone", addr, t) !== null && firstFrom(r, "x-wg", addr, t) !== null, WAIT_MS);
    if (method === "natnow") {
      await waitFor(() => r.runs().some((x) => x.trigger.includes(trigger)), 3000);
      const rec = r.runs().find((x) => x.trigger.includes(trigger));
      const f = rec?.failover?.find((x) => x.wan === from);
      if (rec) run = { ms: rec.durationMs, moved: f?.moved ?? 0, kept: f?.kept ?? 0, to: f?.to ?? [], notes: f?.notes ?? [] };
    }
    await sleep(200);
  } finally {
    gone = await events.stop();
  }
  return {
    phoneMs: firstFrom(r, "x-phone", addr, t), wgMs: firstFrom(r, "x-wg", addr, t), actMs,
    entries: before.length, destroyed: before.filter((f) => gone.has(key(f))).length,
    bystanders: bystanders.length, bystandersDestroyed: bystanders.filter((k) => gone.has(k)).length,
    run,
  };
}

/** The router being measured (closed on SIGINT or SIGTERM too). */
let current: TwoWan | null = null;
const onSignal = (sig: NodeJS.Signals) => {
  for (const p of listeners) {
    try {
      if (p.pid) process.kill(-p.pid, "SIGKILL");
    } catch { /* gone */ }
  }
  current?.close();
  process.exit(sig === "SIGINT" ? 130 : 143);
};

/** One run of a method on a fresh router: failover, then failback. */
async function runOnce(method: Method, tool: string): Promise<FailoverRun> {
  const r = new TwoWan(HOSTS);
  current = r;
  try {
    r.setUp();
    if (method === "natnow") {
      r.startDaemon(POLICY);
      if (!await waitFor(() => r.runs().length > 0, 8000)) throw new Error("natnow's daemon made no start-up run");
    }
    traffic(r, tool);
    const ready = await waitFor(() => {
      const t = r.table();
      return t.filter(isBystander).length === PINNED_UDP + 1 &&
        t.some((f) => f.orig.dport === 5060 && onWan(f, 1) && f.replied) &&
        t.some((f) => f.orig.dport === 51820 && onWan(f, 1) && f.replied) && t.some((f) => f.orig.dport === 8001 && onWan(f, 1));
    }, 8000);
    if (!ready) throw new Error("the traffic did not establish on its WANs");
    await sleep(300);
    // mwan3_flush_conntrack: `echo f > /proc/net/nf_conntrack` on OpenWrt; `conntrack -F` here
    const flush = () => {
      if (method === "flush") r.in("r", "conntrack", "-F");
    };
    const over = await measure(r, method, "mwan3 wan1 disconnected", "wan1", "wan2", () => {
      r.blackhole("u1", true);
      const t = r.mwan3Event("wan1", "disconnected", method === "natnow");
      flush();
      return t;
    });
    // the wan1 download broke off and came back through wan2: what failback must leave alone
    await waitFor(() => r.table().some((f) => f.orig.dport === 8001 && onWan(f, 2) && f.replied), WAIT_MS);
    await sleep(300);
    const back = await measure(r, method, "mwan3 wan1 connected", "wan2", "wan1", () => {
      r.blackhole("u1", false);
      const t = r.mwan3Event("wan1", "connected", method === "natnow");
      flush();
      return t;
    });
    return { method, over, back };
  } finally {
    r.close();
    current = null;
  }
}

/** RUNS runs of each method, alternating (natnow first). */
export async function failoverBench(): Promise<FailoverRun[]> {
  const dir = mkdtempSync(join(tmpdir(), "natnow-bench-failover-"));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.on("exit", removeDir);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const runs: FailoverRun[] = [];
  try {
    // the traffic tool of the kmod and end-to-end tests
    const tool = join(dir, "nntraffic");
    execFileSync("gcc", ["-O2", "-o", tool, join(repoRoot, "test/kmod/nntraffic.c")]);
    for (let i = 0; i < RUNS; i++) {
      for (const method of ["natnow", "flush"] as const) {
        const run = await runOnce(method, tool);
        runs.push(run);
        process.stderr.write(`  failover ${i + 1}/${RUNS} ${method}: ${run.over.phoneMs?.toFixed(0) ?? "-"} ms, ` +
          `failback ${run.back.phoneMs?.toFixed(0) ?? "-"} ms\n`);
      }
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", removeDir);
    removeDir();
  }
  return runs;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Milliseconds as "median ms (min–max)", with how many runs had none. */
function ms(xs: (number | null)[]): string {
  const got = xs.filter((x): x is number => x !== null);
  const none = xs.length - got.length;
  if (!got.length) return `none in ${WAIT_MS / 1000} s`;
  const s = `${median(got).toFixed(0)} ms (${Math.min(...got).toFixed(0)}-${Math.max(...got).toFixed(0)})`;
  return none ? `${s}, ${none} none` : s;
}

/** Counts as "n" when every run agrees, else "min-max". */
function count(xs: number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/** The figures as the benchmark prints them. */
export function failoverLines(runs: readonly FailoverRun[]): string[] {
  const of = (m: Method) => runs.filter((r) => r.method === m);
  const n = of("natnow");
  const f = of("flush");
  const row = (what: string, a: string, b: string) => `   ${what.padEnd(53)} ${a.padEnd(32)} ${b}`;
  const destroyed = (rs: FailoverRun[], e: "over" | "back") => (rs.every((r) => r[e].destroyed === r[e].entries)
    ? `all (${count(rs.map((r) => r[e].entries))})` : `${count(rs.map((r) => r[e].destroyed))} of ${count(rs.map((r) => r[e].entries))}`);
  const bystanders = (rs: FailoverRun[], e: "over" | "back") =>
    `${count(rs.map((r) => r[e].bystandersDestroyed))} of ${count(rs.map((r) => r[e].bystanders))}`;
  const runMs = (e: "over" | "back") => {
    const xs = n.map((r) => r[e].run?.ms ?? null);
    return ms(xs);
  };
  const moved = (e: "over" | "back") => {
    const rs = n.map((r) => r[e].run).filter((x): x is NonNullable<EventFigures["run"]> => x !== null);
    if (!rs.length) return "no run";
    const to = [...new Set(rs.flatMap((x) => x.to))].join(", ");
    return `${count(rs.map((x) => x.moved))} moved${to ? ` to ${to}` : ""}, ${count(rs.map((x) => x.kept))} kept`;
  };
  const notes = [...new Set(n.flatMap((r) => [...(r.over.run?.notes ?? []), ...(r.back.run?.notes ?? [])]))].sort();
  return [
    `Multi-WAN failover: natnow's daemon against mwan3's flush_conntrack (${RUNS} run${RUNS === 1 ? "" : "s"} each, alternating, a fresh router each;`,
    "median (min-max)):",
    "",
    "   router: test/e2e/multiwan.ts, two WANs masqueraded, mwan3's marks (0x100/0x200 under 0x3f00), tables, ip rules and",
    "           mangle chains; wan1 preferred, wan2 the backup; its hotplug call runs natnow's 17-natnow under busybox sh",
    "   traffic: a phone's UDP stream (every 20 ms, echoed) and a WireGuard-like flow (every 100 ms, echoed) on wan1, a TCP",
    `           download on wan1; mwan3 rules pin a TCP download and ${PINNED_UDP} UDP flows to wan2 (the bystanders)`,
    "   failover: wan1's upstream stops forwarding (link up), mwan3 says `disconnected`; failback, once the wan1 download",
    "           is back through wan2: wan1 forwards again, mwan3 says `connected`",
    "",
    row("", "natnow daemon (default policy)", "mwan3's flush_conntrack (conntrack -F)"),
    row("wan1 disconnected -> phone's first datagram via wan2", ms(n.map((r) => r.over.phoneMs)), ms(f.map((r) => r.over.phoneMs))),
    row("  -> WireGuard-like flow's first datagram via wan2", ms(n.map((r) => r.over.wgMs)), ms(f.map((r) => r.over.wgMs))),
    row("  LAN flows' entries destroyed", destroyed(n, "over"), destroyed(f, "over")),
    row("  wan2 bystander entries destroyed", bystanders(n, "over"), bystanders(f, "over")),
    row("  17-natnow / conntrack -F returned after", ms(n.map((r) => r.over.actMs)), ms(f.map((r) => r.over.actMs))),
    row("  natnow's run (its record's duration, no snapshot)", runMs("over"), "-"),
    row("  flows leaving by wan1", moved("over"), "all flushed"),
    row("wan1 connected -> phone's first datagram via wan1", ms(n.map((r) => r.back.phoneMs)), ms(f.map((r) => r.back.phoneMs))),
    row("  -> WireGuard-like flow's first datagram via wan1", ms(n.map((r) => r.back.wgMs)), ms(f.map((r) => r.back.wgMs))),
    row("  LAN flows' entries destroyed", destroyed(n, "back"), destroyed(f, "back")),
    row("  wan2 bystander entries destroyed", bystanders(n, "back"), bystanders(f, "back")),
    row("  17-natnow / conntrack -F returned after", ms(n.map((r) => r.back.actMs)), ms(f.map((r) => r.back.actMs))),
    row("  natnow's run (its record's duration, no snapshot)", runMs("back"), "-"),
    row("  flows leaving by wan2 (failback udp)", moved("back"), "all flushed"),
    "",
    `   natnow's notes: ${notes.join("; ") || "-"}`,
    "   A first datagram is the first the far end receives from the new WAN's address after mwan3's event (the hotplug",
    "   call; for the flush, the policies rewritten, then conntrack -F); the WireGuard-like flow sends only every 100 ms.",
    "   natnow's time includes its hotplug script (here its `uci get` starts natnow's bundle in qjs: the test's fake uci;",
    "   OpenWrt's uci takes ~2 ms), the ubus event, the daemon's 0.1 s settle time, its snapshot (ruleset, configs,",
    "   mwan3's states), its run (the record's duration: one table listing, a dump narrowed by the mark, the deletes)",
    "   and the flow's next datagram. Without a flush or natnow, mwan3 leaves every existing flow on its WAN",
    "   (docs/multiwan.md): the UDP flows never reach wan2, and never come back after failback.",
  ];
}

if (/failover\.(mjs|ts)$/.test(process.argv[1] ?? "")) {
  if (process.getuid?.() !== 0) {
    console.error("the benchmark builds network namespaces: run it as root");
    process.exit(1);
  }
  console.log(failoverLines(await failoverBench()).join("\n"));
}
