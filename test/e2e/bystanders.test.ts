/**
 * Scenarios 7 and 9 of the reset path: what natnow must not touch. While
 * redirect 'SIP' is removed under two-way traffic, other flows (another
 * LAN host's UDP, the old host's own outbound UDP, an IPv6 flow, a TCP
 * transfer) keep their exact conntrack entries; and input natnow cannot
 * read (a garbled ruleset) changes nothing at all.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { repoRoot } from "../helpers/fixtures.ts";
import type { Flow } from "../../src/conntrack/flow.ts";
import { canRunNetns, entryKey, nowNs, Router, sleep, conntrackVersion } from "./harness.ts";

const TCP = join(repoRoot, "test/e2e/tcp.py");
const isSip = (f: Flow) => f.family === 4 && f.orig.sport === 4000 && f.orig.dport === 5060;

/**
 * An echo flow after `t`: datagrams sent (not in the last 300 ms, which the
 * echo peer may not outlive) and how many of those never came back.
 */
function echoed(r: Router, name: string, t: bigint): { sent: number; lost: number } {
  const sent = readFileSync(r.path(`${name}.sent`), "utf8").split("\n").filter(Boolean).map((l) => l.split(" ").map(BigInt));
  const last = sent.length ? sent[sent.length - 1][1] : 0n;
  const back = new Set(readFileSync(r.path(name), "utf8").split("\n").filter(Boolean).map((l) => l.split(" ")[0]));
  const due = sent.filter(([, ts]) => ts > t && ts < last - 300_000_000n);
  return { sent: due.length, lost: due.filter(([seq]) => !back.has(String(seq))).length };
}

async function withBystanders(garbled: boolean) {
  const r = new Router({ l2: "198.18.1.20", l3: "198.18.1.30" });
  try {
    r.load("b");
    const d = "4";
    const sipClient = r.traffic("w", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "20", "-d", d]);
    await sleep(300); // the client's entry first, as in scenario 3
    const peers = [
      sipClient,
      r.traffic("l2", ["-b", "5060", "-t", "198.19.100.1", "-p", "4000", "-i", "20", "-d", d, "-r", r.path("old")]),
      r.traffic("w", ["-b", "6000", "-e", "-d", d]), // echo peers on the WAN host
      r.traffic("w", ["-b", "6001", "-e", "-d", d]),
      r.traffic("l3", ["-b", "4100", "-t", "198.19.100.1", "-p", "6000", "-i", "20", "-d", d, "-r", r.path("a"), "-s", r.path("a.sent")]),
      r.traffic("l2", ["-b", "4200", "-t", "198.19.100.1", "-p", "6001", "-i", "20", "-d", d, "-r", r.path("b"), "-s", r.path("b.sent")]),
      r.traffic("l3", ["-6", "-b", "4300", "-t", "2001:db8:100::1", "-p", "6002", "-i", "20", "-d", d]),
    ];
    const server = r.spawnIn("w", ["python3", TCP, "serve", "5201", "4.5"]);
    await sleep(300);
    const sender = r.spawnIn("l3", ["python3", TCP, "send", "198.19.100.1", "5201", "3"]);
    // every bystander's entry first (python may take a while to start on a busy machine)
    for (const pick of [(f: Flow) => f.proto === 6 && f.orig.dport === 5201, (f: Flow) => f.family === 6 && f.orig.sport === 4300,
      (f: Flow) => f.orig.sport === 4100, (f: Flow) => f.orig.sport === 4200]) {
      if (!(await r.waitForEntry(pick))) throw new Error("a bystander's flow never started");
    }
    await sleep(300);
    if (!garbled) r.load("a");
    else writeFileSync(r.path("garbled.json"), '{"nftables": [{"rule": {"family": "inet", "table": "fw4"');
    const before = r.table();
    // every entry destroyed while natnow runs, as the kernel announces it
    const events = r.spawnIn("r", ["timeout", "1.5", "stdbuf", "-oL", "conntrack", "-E", "-e", "DESTROY", "-o", "extended"]);
    await sleep(200);
    const run = r.apply(garbled ? ["--ruleset", r.path("garbled.json")] : []);
    const t = nowNs() + 100_000_000n;
    await sleep(300);
    const after = r.table();
    const ev = await events;
    const destroyed = ev.stdout.split("\n").filter(Boolean);
    const [s, srv] = await Promise.all([sender, server, ...peers]);
    return {
      run, before, after, destroyed,
      old: r.received("old").filter((x) => x.t > t && x.from === "198.19.100.1").length,
      echoes: ["a", "b"].map((g) => echoed(r, g, t)),
      sent: s.stdout.trim(), served: srv.stdout.trim(),
    };
  } finally {
    r.close();
  }
}

describe.skipIf(!canRunNetns)(`scenario 7: bystanders keep their exact entries (${conntrackVersion})`, () => {
  it("without natnow the revoked flow stays pinned (the stuck side)", async () => {
    const r = new Router({ l2: "198.18.1.20" });
    try {
      r.load("b");
      const c = r.traffic("w", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "20", "-d", "2.5", "-s", r.path("sent")]);
      const o = r.traffic("l2", ["-b", "5060", "-t", "198.19.100.1", "-p", "4000", "-i", "20", "-d", "2.5", "-r", r.path("old")]);
      const tOldEnd = nowNs() + 2_300_000_000n; // the old host listens for 2.5 s
      await sleep(800);
      r.load("a");
      const t = nowNs() + 100_000_000n;
      await Promise.all([c, o]);
      // every packet the client sent after the change still reached the old host
      const d = r.delivery("sent", "old", "198.19.100.1", t, tOldEnd);
      expect(d.sent).toBeGreaterThan(0);
      expect(d.lost).toBe(0);
    } finally {
      r.close();
    }
  }, 30_000);

  it("with natnow only the SIP flow's entry goes; every other entry keeps its id", async () => {
    const x = await withBystanders(false);
    expect(x.run.status).toBe(0);
    expect(x.run.stdout).toMatch(/matched 1, renewed 0, revoked 1, gone 0, failed 0 in \d+ ms/);
    expect(x.old).toBe(0);
    const others = x.before.filter((f) => !isSip(f));
    // the bystanders themselves (other entries, such as an IGMP report's, come and go)
    const named = (pick: (f: Flow) => boolean) => others.filter(pick).length;
    expect([
      named((f) => f.proto === 17 && f.orig.sport === 4100), // another LAN host's UDP
      named((f) => f.proto === 17 && f.orig.sport === 4200), // the old host's own outbound UDP
      named((f) => f.family === 6 && f.orig.sport === 4300), // IPv6
      named((f) => f.proto === 6 && f.orig.dport === 5201), // the TCP transfer
    ]).toEqual([1, 1, 1, 1]);
    const afterKeys = new Set(x.after.map(entryKey));
    expect(others.map(entryKey).filter((k) => !afterKeys.has(k))).toEqual([]);
    const sip = x.before.find(isSip);
    expect(sip && afterKeys.has(entryKey(sip))).toBe(false);
    // the kernel destroyed exactly one entry: the SIP flow's
    expect(x.destroyed).toHaveLength(1);
    expect(x.destroyed[0]).toMatch(/^\s*\[DESTROY\] ipv4 +2 udp +17 +\d+ src=198\.19\.100\.1 dst=198\.19\.100\.2 sport=4000 dport=5060 src=198\.18\.1\.20 /);
    // their traffic went on: echoes kept coming, the TCP transfer finished without a reset
    for (const e of x.echoes) {
      expect(e.sent).toBeGreaterThan(10);
      expect(e.lost).toBe(0);
    }
    expect(x.sent).toMatch(/^sent \d+$/);
    expect(x.served).toBe(`accepted 1 bytes ${x.sent.split(" ")[1]}`);
  }, 30_000);
});

describe.skipIf(!canRunNetns)(`scenario 9: a garbled ruleset (${conntrackVersion})`, () => {
  it("exits non-zero and leaves the conntrack table exactly as it was", async () => {
    const x = await withBystanders(true);
    expect(x.run.status).toBe(2);
    expect(x.run.stderr).toBe("natnow: invalid input, nothing reset: ruleset: not valid JSON\n");
    expect(x.after.map(entryKey).sort()).toEqual(x.before.map(entryKey).sort());
    expect(x.destroyed).toEqual([]);
  }, 30_000);
});
