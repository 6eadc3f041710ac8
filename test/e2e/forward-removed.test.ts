/**
 * Scenarios 3, 4 and 6 of the reset path: a forward removed or moved while
 * the client and the old host talk both ways (the old host also sends on
 * its own every 20 ms, like RTP or a keepalive). Once an entry is deleted,
 * the old host's next packet can create a reversed entry that, through
 * masquerade, pins the client to it again: natnow must win that race every
 * time. Runs go two at a time, each in its own namespaces.
 */
import { describe, expect, it } from "vitest";
import { formatIp } from "../../src/net/ip.ts";
import { canRunNetns, config, nowNs, Router, ruleset, sleep, swap, conntrackVersion } from "./harness.ts";

interface Case {
  family: 4 | 6;
  before: { config: string; ruleset: string };
  after: { config: string; ruleset: string };
  /** The new host's LAN address when the forward moves. */
  moveTo: string | null;
}

const V4 = { wan: "198.19.100.2", client: "198.19.100.1", old: "198.18.1.20" };
const V6 = { wan: "2001:db8:100::2", client: "2001:db8:100::1", old: "2001:db8:1::20" };

/** One run: how many client packets the old (and new) host got from 100 ms after the apply on (about 3 s). */
async function twoWay(c: Case, withNatnow: boolean) {
  const a = c.family === 4 ? V4 : V6;
  const six = c.family === 6 ? ["-6"] : [];
  const r = new Router({ l2: "198.18.1.20", l3: "198.18.1.30" });
  try {
    r.loadText(c.before.ruleset);
    const client = r.traffic("w", [...six, "-b", "4000", "-t", a.wan, "-p", "5060", "-i", "20", "-d", "4.5", "-s", r.path("sent")]);
    await sleep(300);
    const old = r.traffic("l2", [...six, "-b", "5060", "-t", a.client, "-p", "4000", "-i", "20", "-d", "4.2", "-r", r.path("old")]);
    const tOldEnd = nowNs() + 4_000_000_000n; // the old host listens for 4.2 s
    const neu = r.traffic("l3", [...six, "-b", "5060", "-d", "4.3", "-r", r.path("new")]);
    await sleep(800);
    r.loadText(c.after.ruleset); // fw4 reload
    const run = withNatnow ? r.apply() : null;
    const t = nowNs() + 100_000_000n;
    await Promise.all([client, old, neu]);
    const entry = r.table().find((f) => f.family === c.family && f.orig.sport === 4000 && f.orig.dport === 5060);
    return {
      run,
      old: r.received("old").filter((x) => x.t > t && x.from === a.client).length,
      // the client's packets after the change, and how many of them the old host did not get
      toOld: r.delivery("sent", "old", a.client, t, tOldEnd),
      moved: r.received("new").filter((x) => x.t > t && x.from === a.client).length,
      entryTo: entry ? formatIp(entry.reply.src) : null,
    };
  } finally {
    r.close();
  }
}

/** n runs, two at a time. */
async function runs(c: Case, n: number) {
  const out: Awaited<ReturnType<typeof twoWay>>[] = [];
  for (let i = 0; i < n; i += 2) out.push(...await Promise.all([twoWay(c, true), twoWay(c, true)].slice(0, n - i)));
  return out;
}

const removed: Case = {
  family: 4, moveTo: null,
  before: { config: config("b"), ruleset: ruleset("b") }, after: { config: config("a"), ruleset: ruleset("a") },
};
const moved: Case = {
  family: 4, moveTo: "198.18.1.30",
  before: { config: config("b"), ruleset: ruleset("b") },
  after: {
    config: swap(config("b"), "option dest_ip '198.18.1.20'", "option dest_ip '198.18.1.30'"),
    ruleset: swap(ruleset("b"), "198.18.1.20", "198.18.1.30"),
  },
};
const removed6: Case = {
  family: 6, moveTo: null,
  before: { config: config("h"), ruleset: ruleset("h") }, after: { config: config("a"), ruleset: ruleset("a") },
};
const moved6: Case = {
  family: 6, moveTo: "2001:db8:1::30",
  before: { config: config("h"), ruleset: ruleset("h") },
  after: { config: swap(config("h"), "2001:db8:1::20", "2001:db8:1::30"), ruleset: swap(ruleset("h"), "2001:db8:1::20", "2001:db8:1::30") },
};

describe.skipIf(!canRunNetns)(`scenario 3: a forward removed under two-way traffic (${conntrackVersion})`, () => {
  it("without natnow the old host keeps receiving the client", async () => {
    const x = await twoWay(removed, false);
    expect(x.toOld.sent).toBeGreaterThan(0);
    expect(x.toOld.lost).toBe(0);
    expect(x.entryTo).toBe("198.18.1.20");
  }, 30_000);
  it("with natnow no packet reaches the old host, 20 of 20 runs", async () => {
    const all = await runs(removed, 20);
    expect(all.map((x) => x.run?.status)).toEqual(Array(20).fill(0));
    expect(all.map((x) => x.old)).toEqual(Array(20).fill(0));
    // no entry translates the client any more (fw4 rejects its new ones at the router's input)
    expect(all.map((x) => x.entryTo)).toEqual(Array(20).fill(null));
  }, 300_000);
});

describe.skipIf(!canRunNetns)(`scenario 4: dest_ip changed under two-way traffic (${conntrackVersion})`, () => {
  it("without natnow the flow stays on the old host", async () => {
    const x = await twoWay(moved, false);
    expect([x.old > 100, x.moved, x.entryTo]).toEqual([true, 0, "198.18.1.20"]);
  }, 30_000);
  it("with natnow it moves to the new host, 20 of 20 runs", async () => {
    const all = await runs(moved, 20);
    expect(all.map((x) => x.old)).toEqual(Array(20).fill(0));
    expect(all.filter((x) => x.moved > 100).length).toBe(20);
    expect(all.map((x) => x.entryTo)).toEqual(Array(20).fill("198.18.1.30"));
  }, 300_000);
});

describe.skipIf(!canRunNetns)(`scenario 6: IPv6 forwards removed and moved under two-way traffic (${conntrackVersion})`, () => {
  it("without natnow the removed forward keeps the old host receiving", async () => {
    const x = await twoWay(removed6, false);
    expect([x.old > 100, x.entryTo]).toEqual([true, "2001:db8:1::20"]);
  }, 30_000);
  it("with natnow the removed forward reaches nobody, 4 of 4 runs", async () => {
    const all = await runs(removed6, 4);
    expect(all.map((x) => [x.run?.status, x.old])).toEqual(Array(4).fill([0, 0]));
  }, 60_000);
  it("without natnow the moved forward stays on the old host", async () => {
    const x = await twoWay(moved6, false);
    expect([x.old > 100, x.moved]).toEqual([true, 0]);
  }, 30_000);
  it("with natnow the moved forward reaches the new host, 4 of 4 runs", async () => {
    const all = await runs(moved6, 4);
    expect(all.map((x) => [x.old, x.moved > 100, x.entryTo])).toEqual(Array(4).fill([0, true, "2001:db8:1::30"]));
  }, 60_000);
});
