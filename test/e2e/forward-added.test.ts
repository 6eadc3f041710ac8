/**
 * Scenarios 1, 2 and 8 of the reset path: flows that an added or re-pointed
 * forward should take, stuck on their old entries until natnow renews them.
 * Each runs twice in the same harness: without natnow (it must stay stuck)
 * and with `natnow apply` (it must be fixed), asserting traffic and table.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/fixtures.ts";
import { canRunNetns, nowNs, Router, ruleset, sleep, swap, conntrackVersion } from "./harness.ts";

const TCP = join(repoRoot, "test/e2e/tcp.py");

/** Scenario 1: a LAN host streams to the WAN address:5060 (accepted by the router); redirect 'SIP' with reflection is added. */
async function reflection(withNatnow: boolean) {
  const r = new Router({ l1: "198.18.1.50", l2: "198.18.1.20" });
  try {
    r.load("a");
    const server = r.traffic("l2", ["-b", "5060", "-d", "4", "-r", r.path("srv")]);
    const client = r.traffic("l1", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "20", "-d", "3.6", "-s", r.path("sent")]);
    await sleep(800);
    r.load("b"); // fw4 reload: the redirect is live
    const tRule = nowNs();
    await sleep(300);
    const tApply = nowNs(); // from here natnow runs (for about 100 ms: Node starting, conntrack -L, -D)
    const run = withNatnow ? r.apply() : null;
    const entry = () => r.table().find((f) => f.orig.sport === 4000 && f.orig.dport === 5060);
    await sleep(1000);
    const e = entry();
    await Promise.all([client, server]);
    const got = r.received("srv");
    const first = got.find((x) => x.t > tApply);
    return {
      run,
      // from the first packet at the PBX on (plus one interval in flight), every packet sent arrives
      stream: first ? r.delivery("sent", "srv", "198.18.1.1", first.t + 20_000_000n) : null,
      beforeApply: got.filter((x) => x.t > tRule && x.t < tApply).length,
      // the first packet at the PBX after natnow started, in ms (what natnow controls)
      firstMs: (() => {
        const first = got.find((x) => x.t > tApply);
        return first ? Number((first.t - tApply) / 1_000_000n) : null;
      })(),
      after: got.filter((x) => x.t > tApply).length,
      entry: e && { replySrc: e.reply.src.join("."), replyDst: e.reply.dst.join("."), replied: e.replied },
    };
  } finally {
    r.close();
  }
}

/** Scenario 2: TCP SYN retries from a fixed port to a forward whose host is down; the forward is re-pointed. */
async function tcpRepoint(withNatnow: boolean) {
  const r = new Router({ l11: "198.18.1.11" });
  try {
    r.load("c");
    const server = r.spawnIn("l11", ["python3", TCP, "serve", "80", "6"]);
    await sleep(300);
    const client = r.spawnIn("w", ["python3", TCP, "connect", "198.19.100.2", "8080", "40000", "5"]);
    // the first SYN went to 198.18.1.10, which is down (python may take a while to start on a busy machine)
    if (!(await r.waitForEntry((f) => f.orig.sport === 40000))) throw new Error("the client's first SYN never came");
    await sleep(200);
    r.loadText(swap(ruleset("c"), "198.18.1.10", "198.18.1.11"));
    const run = withNatnow ? r.apply() : null;
    const c = await client;
    const e = r.table().find((f) => f.orig.sport === 40000);
    await server;
    return {
      run, client: c.stdout.trim(),
      entry: e && { replySrc: e.reply.src.join("."), replied: e.replied },
    };
  } finally {
    r.close();
  }
}

/** Scenario 8: a WAN client's stream is tracked before any ruleset exists (boot); fw4 then loads redirect 'SIP'. */
async function bootRace(withNatnow: boolean) {
  const r = new Router({ l2: "198.18.1.20" });
  try {
    // conntrack runs (a ct rule needs it) but there is no firewall yet
    r.loadText("table inet boot {\n chain pre {\n  type filter hook prerouting priority 0; policy accept;\n  ct state new counter\n }\n}\n");
    const server = r.traffic("l2", ["-b", "5060", "-d", "3.5", "-r", r.path("srv")]);
    const client = r.traffic("w", ["-b", "4000", "-t", "198.19.100.2", "-p", "5060", "-i", "20", "-d", "3.2", "-s", r.path("sent")]);
    await sleep(600);
    r.in("r", "nft", "delete", "table", "inet", "boot");
    r.load("b"); // fw4 start
    await sleep(200);
    const run = withNatnow ? r.apply(["--boot"]) : null;
    const tApply = nowNs();
    await sleep(800);
    const e = r.table().find((f) => f.orig.sport === 4000 && f.orig.dport === 5060);
    await Promise.all([client, server]);
    const first = r.received("srv").find((x) => x.t > tApply);
    return {
      run,
      after: r.received("srv").filter((x) => x.t > tApply).length,
      stream: first ? r.delivery("sent", "srv", "198.19.100.1", first.t + 20_000_000n) : null,
      entry: e && { replySrc: e.reply.src.join("."), replied: e.replied },
    };
  } finally {
    r.close();
  }
}

describe.skipIf(!canRunNetns)(`scenario 1: reflection added while a LAN host streams to the WAN address (${conntrackVersion})`, () => {
  it("without natnow the LAN server receives nothing and the entry stays untranslated", async () => {
    const x = await reflection(false);
    expect([x.beforeApply, x.after]).toEqual([0, 0]);
    expect(x.entry).toEqual({ replySrc: "198.19.100.2", replyDst: "198.18.1.50", replied: false });
  }, 30_000);
  it("with natnow apply the stream's first packet arrives within 1 s, DNATed and reflected", async () => {
    const x = await reflection(true);
    expect(x.run?.status).toBe(0);
    expect(x.run?.stdout).toMatch(/redirect 'SIP' added\nmatched 1, renewed 1, revoked 0, gone 0, failed 0 in \d+ ms\n$/);
    expect(x.beforeApply).toBe(0);
    expect(x.firstMs).not.toBeNull();
    expect(x.firstMs as number).toBeLessThan(1000);
    expect(x.stream?.sent).toBeGreaterThan(0);
    expect(x.stream?.lost).toBe(0);
    // the server only listens: the new entry is translated, not replied
    expect(x.entry).toEqual({ replySrc: "198.18.1.20", replyDst: "198.18.1.1", replied: false });
  }, 30_000);
});

describe.skipIf(!canRunNetns)(`scenario 2: TCP SYN retries pinned to a down host; the forward is re-pointed (${conntrackVersion})`, () => {
  it("without natnow the connection times out, the entry still on the old host", async () => {
    const x = await tcpRepoint(false);
    expect(x.client).toMatch(/^failed /);
    expect(x.entry).toEqual({ replySrc: "198.18.1.10", replied: false });
  }, 30_000);
  it("with natnow apply the next SYN retry reaches the new host and connects", async () => {
    const x = await tcpRepoint(true);
    expect(x.run?.status).toBe(0);
    expect(x.run?.stdout).toMatch(/redirect 'web' changed/);
    expect(x.client).toMatch(/^connected \d+$/);
    expect(Number(x.client.split(" ")[1])).toBeLessThan(3500); // the SYN retry at 1 s or 3 s
    expect(x.entry).toEqual({ replySrc: "198.18.1.11", replied: true });
  }, 30_000);
});

describe.skipIf(!canRunNetns)(`scenario 8: boot race, flows tracked before the ruleset existed (${conntrackVersion})`, () => {
  it("without natnow they never reach the forward", async () => {
    const x = await bootRace(false);
    expect(x.after).toBe(0);
    expect(x.entry).toEqual({ replySrc: "198.19.100.2", replied: false });
  }, 30_000);
  it("natnow apply --boot renews them", async () => {
    const x = await bootRace(true);
    expect(x.run?.status).toBe(0);
    expect(x.run?.stdout).toMatch(/^natnow apply \(boot\): /);
    expect(x.run?.stdout).toMatch(/renewed 1,/);
    expect(x.stream?.sent).toBeGreaterThan(0);
    expect(x.stream?.lost).toBe(0);
    expect(x.entry).toEqual({ replySrc: "198.18.1.20", replied: false });
  }, 30_000);
});
