/**
 * Multi-WAN failover and failback on a namespace router with two WANs and
 * a stand-in for mwan3 (multiwan.ts): its marks, tables, ip rules and
 * mangle chains through iptables-nft, its hotplug call into natnow's own
 * script, natnow's daemon with fake ubus and uci. A phone's two-way UDP
 * stream and a WireGuard-like UDP flow leave by wan1; a TCP download by
 * wan1; rules pin a TCP download and ten UDP flows to wan2 (the
 * bystanders). wan1's upstream stops forwarding (its link stays up) and
 * mwan3 says `disconnected`: the UDP flows must reach their peers through
 * wan2 within 1 s, no bystander entry is destroyed. wan1 comes back: the
 * failback policy (UDP) moves the UDP flows back, the TCP download stays,
 * no bystander is touched. For comparison, mwan3's flush_conntrack (a
 * global flush) destroys every bystander entry.
 */
import { describe, expect, it } from "vitest";
import { canRunNetns, sleep } from "./harness.ts";
import { TCPDL, TwoWan } from "./multiwan.ts";
import type { Flow } from "../../src/conntrack/flow.ts";
import { formatIp } from "../../src/net/ip.ts";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/fixtures.ts";
import { execFileSync } from "node:child_process";

const HOSTS = { ph: "198.18.1.20", wg: "198.18.1.21", dl: "198.18.1.30", pin: "198.18.1.31" };
const PINNED_UDP = 10;
const DUR = 16;
const MASK = 0x3f00;
const POLICY = "config natnow 'main'\n\toption backend 'conntrack'\n\toption failback 'udp'\n";

const tool = (() => {
  let p: string | null = null;
  return () => {
    if (!p) {
      p = join(TOOLDIR, "nntraffic");
      execFileSync("gcc", ["-O2", "-o", p, join(repoRoot, "test/kmod/nntraffic.c")]);
    }
    return p;
  };
})();
const TOOLDIR = mkdtempSync(join(tmpdir(), "natnow-failover-"));
process.on("exit", () => rmSync(TOOLDIR, { recursive: true, force: true }));

/** A flow's identity in the table, id and both tuples: a destroyed and re-created entry differs. */
const key = (f: Flow) => `${f.id} ${f.proto} ${formatIp(f.orig.src)}:${f.orig.sport}>${formatIp(f.orig.dst)}:${f.orig.dport} ` +
  `${formatIp(f.reply.dst)}:${f.reply.dport}`;

/** Waits for a condition (polled every 20 ms), at most `ms`; whether it came. */
async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

/** Datagrams a peer logged: receive time (ns) and sender address. */
function got(r: TwoWan, file: string): { t: bigint; from: string }[] {
  const p = r.path(file);
  if (!existsSync(p)) return [];
  return readFileSync(p, "utf8").split("\n").filter(Boolean).map((l) => l.split(" ")).map((w) => ({ t: BigInt(w[1]), from: w[2] }));
}

/** Milliseconds from `t` to the first datagram the peer got from `from` after it, or null. */
function firstFrom(r: TwoWan, file: string, from: string, t: bigint): number | null {
  const f = got(r, file).find((x) => x.t > t && x.from === from);
  return f ? Number((f.t - t) / 1_000_000n) : null;
}

/** Starts the traffic: peers in x, clients on the LAN. Resolves when all of it has ended. */
function traffic(r: TwoWan): Promise<number[]> {
  const nn = tool();
  const d = String(DUR);
  const all = [
    r.start("x", [nn, "-b", "5060", "-e", "-d", d, "-r", r.path("x-phone")]),
    r.start("x", [nn, "-b", "51820", "-e", "-d", d, "-r", r.path("x-wg")]),
    r.start("x", ["/usr/bin/python3", TCPDL, "serve", "8001", String(DUR + 3)]),
    r.start("x", ["/usr/bin/python3", TCPDL, "serve", "8002", String(DUR + 3)]),
  ];
  for (let i = 0; i < PINNED_UDP; i++) all.push(r.start("x", [nn, "-b", String(7000 + i), "-e", "-d", d]));
  all.push(
    r.start("ph", [nn, "-b", "5060", "-t", "198.19.50.1", "-p", "5060", "-i", "20", "-d", d, "-r", r.path("ph-recv")]),
    r.start("wg", [nn, "-b", "51820", "-t", "198.19.50.1", "-p", "51820", "-i", "100", "-d", d]),
    r.start("dl", ["/usr/bin/python3", TCPDL, "get", "198.19.50.3", "8001", d, r.path("dl-wan1")]),
    r.start("dl", ["/usr/bin/python3", TCPDL, "get", "198.19.50.3", "8002", d, r.path("dl-pinned")]),
  );
  for (let i = 0; i < PINNED_UDP; i++) {
    all.push(r.start("pin", [nn, "-b", String(7000 + i), "-t", "198.19.50.1", "-p", String(7000 + i), "-i", "200", "-d", d]));
  }
  return Promise.all(all);
}

const onWan = (f: Flow, id: number) => f.mark !== undefined && (f.mark & MASK) === id << 8;
const isBystander = (f: Flow) => onWan(f, 2) && (f.orig.dport === 8002 || (f.orig.dport ?? 0) >= 7000 && (f.orig.dport ?? 0) < 7100);

/** Waits until every flow is in the table on the WAN mwan3 gives it; the bystanders' keys. */
async function established(r: TwoWan): Promise<Set<string>> {
  const ready = await waitFor(() => {
    const t = r.table();
    return t.filter(isBystander).length === PINNED_UDP + 1 &&
      t.some((f) => f.orig.dport === 5060 && onWan(f, 1) && f.replied) && t.some((f) => f.orig.dport === 8001 && onWan(f, 1));
  }, 8000);
  if (!ready) console.log(r.in("r", "conntrack", "-L"));
  expect(ready).toBe(true);
  return new Set(r.table().filter(isBystander).map(key));
}

/** The bystander entries no longer in the table. */
const destroyed = (r: TwoWan, before: Set<string>) => {
  const now = new Set(r.table().map(key));
  return [...before].filter((k) => !now.has(k)).length;
};

const lines = (r: TwoWan, f: string) => (existsSync(r.path(f)) ? readFileSync(r.path(f), "utf8").split("\n").filter(Boolean) : []);

describe.skipIf(!canRunNetns)("multi-WAN: mwan3 failover and failback", () => {
  it("wan1 disconnected: the UDP flows reach their peers through wan2 within 1 s, no wan2 bystander reset; " +
    "wan1 back: UDP fails back, TCP stays, no rule-pinned flow reset", async () => {
    const r = new TwoWan(HOSTS);
    try {
      r.setUp();
      r.startDaemon(POLICY);
      expect(await waitFor(() => r.runs().length > 0, 8000)).toBe(true); // the daemon's start-up run
      const done = traffic(r);
      const bystanders = await established(r);
      await sleep(300);

      r.blackhole("u1", true);
      const tDown = r.mwan3Event("wan1", "disconnected");
      expect(await waitFor(() => firstFrom(r, "x-phone", "198.19.2.2", tDown) !== null &&
        firstFrom(r, "x-wg", "198.19.2.2", tDown) !== null, 5000)).toBe(true);
      const phoneMs = firstFrom(r, "x-phone", "198.19.2.2", tDown) ?? Infinity;
      const wgMs = firstFrom(r, "x-wg", "198.19.2.2", tDown) ?? Infinity;
      console.log(`failover: phone's first datagram through wan2 ${phoneMs} ms, WireGuard-like ${wgMs} ms after mwan3's event`);
      expect(phoneMs).toBeLessThan(1000);
      expect(wgMs).toBeLessThan(1000);
      // the phone hears its peer again (two-way)
      expect(await waitFor(() => got(r, "ph-recv").some((x) => x.t > tDown + 1_000_000_000n), 3000)).toBe(true);
      expect(await waitFor(() => r.runs().some((x) => x.trigger.includes("mwan3 wan1 disconnected")), 3000)).toBe(true);
      const down = r.runs().find((x) => x.trigger.includes("mwan3 wan1 disconnected"));
      console.log(`failover run: ${JSON.stringify(down?.failover)}`);
      expect(down?.failover?.find((f) => f.wan === "wan1")?.moved).toBeGreaterThanOrEqual(3); // phone, WireGuard, TCP
      expect(down?.failover?.find((f) => f.wan === "wan1")?.to).toEqual(["wan2"]);
      expect(destroyed(r, bystanders)).toBe(0);

      // the wan1 download broke off (its path is dead) and came back through wan2
      expect(await waitFor(() => r.table().some((f) => f.orig.dport === 8001 && onWan(f, 2) && f.replied), 5000)).toBe(true);
      await sleep(500);
      const tcpOnWan2 = r.table().filter((f) => f.orig.dport === 8001 && onWan(f, 2)).map(key);

      r.blackhole("u1", false);
      const tUp = r.mwan3Event("wan1", "connected");
      expect(await waitFor(() => firstFrom(r, "x-phone", "198.19.1.2", tUp) !== null, 5000)).toBe(true);
      console.log(`failback: phone's first datagram through wan1 ${firstFrom(r, "x-phone", "198.19.1.2", tUp)} ms after mwan3's event`);
      expect(await waitFor(() => firstFrom(r, "x-wg", "198.19.1.2", tUp) !== null, 3000)).toBe(true);
      expect(await waitFor(() => r.runs().some((x) => x.trigger.includes("mwan3 wan1 connected")), 3000)).toBe(true);
      const up = r.runs().find((x) => x.trigger.includes("mwan3 wan1 connected"));
      console.log(`failback run: ${JSON.stringify(up?.failover)}`);
      const back = up?.failover?.find((f) => f.wan === "wan2");
      expect(back?.moved).toBe(2); // the phone and the WireGuard-like flow
      expect(back?.kept).toBeGreaterThanOrEqual(1); // the TCP download: failback 'udp'
      // the TCP download on wan2 and every rule-pinned flow are untouched
      const now = new Set(r.table().map(key));
      expect(tcpOnWan2.every((k) => now.has(k))).toBe(true);
      expect(destroyed(r, bystanders)).toBe(0);
      await done;
      expect(lines(r, "dl-pinned")).toEqual(["connect"]);
    } finally {
      r.close();
    }
  }, 90_000);

  it("for comparison, mwan3's flush_conntrack: a global flush destroys every wan2 bystander entry", async () => {
    const r = new TwoWan(HOSTS);
    try {
      r.setUp();
      const done = traffic(r);
      const bystanders = await established(r);
      r.blackhole("u1", true);
      const t = r.mwan3Event("wan1", "disconnected", false);
      // mwan3_flush_conntrack: echo f > /proc/net/nf_conntrack (OpenWrt's writable file; conntrack -F here)
      r.in("r", "conntrack", "-F");
      expect(await waitFor(() => firstFrom(r, "x-phone", "198.19.2.2", t) !== null, 5000)).toBe(true);
      console.log(`flush: phone's first datagram through wan2 ${firstFrom(r, "x-phone", "198.19.2.2", t)} ms after mwan3's event`);
      const n = destroyed(r, bystanders);
      console.log(`flush: ${n} of ${bystanders.size} wan2 bystander entries destroyed`);
      expect(n).toBe(bystanders.size);
      await done;
    } finally {
      r.close();
    }
  }, 60_000);
});
