/** The conntrack-tools backend: its pure parts, then real conntrack entries in a network namespace (root). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { applyConntrack, aroundArgs, deleteArgs, deleteGroups, filterKey, FULL_TUPLE_MAX, listArgs, narrowedBy } from "../../src/backend/conntrack.ts";
import { parseTable } from "../../src/conntrack/parse.ts";
import { flow, fwd, revokeSip } from "../helpers/flows.ts";
import type { Flow } from "../../src/conntrack/flow.ts";
import { createNodeHost } from "../../src/host/node.ts";
import type { Host } from "../../src/host/host.ts";
import type { Selector } from "../../src/plan/selector.ts";
import { ANY_PORT } from "../../src/plan/selector.ts";

const NS = `natnow-ctb-${process.pid}`;
const inNs = (argv: string[]) => ["ip", "netns", "exec", NS, ...argv];
const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const canRun = process.getuid?.() === 0 && spawnSync("conntrack", ["--version"]).status === 0 &&
  spawnSync("nft", ["--version"]).status === 0;

describe("grouping chosen flows into conntrack -D filters", () => {
  const a1 = fwd("198.19.5.1", 4000, 5060, "198.18.1.20");
  const a2 = fwd("198.19.5.2", 4000, 5060, "198.18.1.20");
  const a3 = fwd("198.19.5.2", 4001, 5060, "198.18.1.20");
  const b1 = fwd("198.19.5.1", 4002, 5061, "198.18.1.30");
  const z1 = fwd("198.19.5.3", 4000, 5060, "198.18.1.20", 7);
  const cases: { name: string; table: Flow[]; chosen: Flow[]; want: string[] }[] = [
    {
      name: "all flows of one forward, nothing else there: one filter",
      table: [a1, a2, a3, b1], chosen: [a1, a2, a3],
      want: ["4/17/0 dst=198.19.0.1 dport=5060 reply-src=198.18.1.20 reply-sport=5060"],
    },
    {
      name: "one client of the forward left out: per client, then the full tuple",
      table: [a1, a2, a3], chosen: [a1, a3],
      want: [
        "4/17/0 dst=198.19.0.1 dport=5060 reply-src=198.18.1.20 reply-sport=5060 src=198.19.5.1",
        "4/17/0 dst=198.19.0.1 dport=5060 reply-src=198.18.1.20 reply-sport=5060 src=198.19.5.2 sport=4001 reply-dst=198.19.5.2 reply-dport=4001",
      ],
    },
    {
      name: "zones are kept apart",
      table: [a1, z1], chosen: [a1],
      want: ["4/17/0 dst=198.19.0.1 dport=5060 reply-src=198.18.1.20 reply-sport=5060"],
    },
    {
      name: "two forwards chosen: one filter each",
      table: [a1, b1], chosen: [a1, b1],
      want: [
        "4/17/0 dst=198.19.0.1 dport=5060 reply-src=198.18.1.20 reply-sport=5060",
        "4/17/0 dst=198.19.0.1 dport=5061 reply-src=198.18.1.30 reply-sport=5061",
      ],
    },
    { name: "nothing chosen: no filter", table: [a1, b1], chosen: [], want: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const groups = deleteGroups(c.table, new Set(c.chosen));
      expect(groups.map((g) => filterKey(g.filter)).sort()).toEqual([...c.want].sort());
      // every group's filter matches chosen flows only, and every chosen flow is in exactly one group
      expect(groups.flatMap((g) => g.flows).sort()).toEqual([...c.chosen].sort());
    });
  }

  it("a dump narrowed by a field: every filter keeps it (the dump cannot speak for what it left out)", () => {
    // the dump showed only 198.19.5.2's flows: a1 of 198.19.5.1 shares the forward's filter but is not in it
    const view = { narrowed: { 4: narrowedBy(["conntrack", "-L", "-f", "ipv4", "-p", "17", "-s", "198.19.5.2"]) }, unrepliedOnly: false };
    expect(view.narrowed[4]).toEqual({ src: "198.19.5.2" });
    const groups = deleteGroups([a2, a3], new Set([a2, a3]), view);
    expect(groups.map((g) => filterKey(g.filter))).toEqual(["4/17/0 dst=198.19.0.1 dport=5060 reply-src=198.18.1.20 reply-sport=5060 src=198.19.5.2"]);
  });

  it("a second dump around chosen flows narrows by what they all share, and so do the filters it allows", () => {
    // a1, a2, a3: one forward's clients; what they share is the service side
    const argv = aroundArgs(4, [a1, a2, a3]);
    expect(argv).toEqual(["conntrack", "-L", "-f", "ipv4", "-o", "extended,id", "-p", "17", "-d", "198.19.0.1", "--dport", "5060",
      "-r", "198.18.1.20", "--reply-port-src", "5060"]);
    const view = { narrowed: { 4: narrowedBy(argv) }, unrepliedOnly: false };
    expect(deleteGroups([a1, a2, a3], new Set([a1, a2, a3]), view).map((g) => filterKey(g.filter)))
      .toEqual(["4/17/0 dst=198.19.0.1 dport=5060 reply-src=198.18.1.20 reply-sport=5060"]);
    // different protocols share nothing a filter can say
    const icmp = flow("ipv4 2 icmp 1 29 src=198.19.5.1 dst=198.19.0.1 type=8 code=0 id=7 src=198.18.1.20 dst=198.19.5.1 type=0 code=0 id=7 mark=0 use=1");
    expect(aroundArgs(4, [a1, icmp])).toEqual(["conntrack", "-L", "-f", "ipv4", "-o", "extended,id"]);
  });

  it("a dump of never-replied entries only: full tuples (-D does not filter by status)", () => {
    const groups = deleteGroups([a1, a2], new Set([a1, a2]), { narrowed: {}, unrepliedOnly: true });
    expect(groups.map((g) => Object.keys(g.filter.values).length)).toEqual([8, 8]);
  });

  it("gives conntrack -D options for a filter", () => {
    const [g] = deleteGroups([a1], new Set([a1]));
    expect(deleteArgs(g.filter)).toEqual([
      "conntrack", "-D", "-f", "ipv4", "-p", "17", "-d", "198.19.0.1", "--dport", "5060",
      "-r", "198.18.1.20", "--reply-port-src", "5060", "-w", "0", "-o", "extended,id",
    ]);
  });

  it("leaves ports out for protocols without them", () => {
    const icmp = flow("ipv4 2 icmp 1 29 src=198.19.5.1 dst=198.19.0.1 type=8 code=0 id=7 src=198.18.1.20 dst=198.19.5.1 type=0 code=0 id=7 mark=0 use=1");
    const [g] = deleteGroups([icmp], new Set([icmp]));
    expect(filterKey(g.filter)).toBe("4/1/0 dst=198.19.0.1 reply-src=198.18.1.20");
  });
});

describe("conntrack -L narrowing", () => {
  const sel = (proto: number | null, port: number | null, family: 4 | 6 = 4, replySrc = "198.18.1.20/32"): Selector => ({
    ...revokeSip, family, proto, origDport: port === null ? ANY_PORT : { pos: [{ min: port, max: port }], neg: [] },
    replySrc: { pos: [replySrc], neg: [] },
  });
  const base = ["conntrack", "-L", "-f", "ipv4", "-o", "extended,id"];
  const cases: { name: string; selectors: Selector[]; want: string[] }[] = [
    { name: "all fields shared", selectors: [sel(17, 5060), sel(17, 5060)], want: [...base, "-p", "17", "-r", "198.18.1.20", "--dport", "5060"] },
    { name: "ports differ: the reply source still narrows", selectors: [sel(17, 5060), sel(17, 5061)], want: [...base, "-p", "17", "-r", "198.18.1.20"] },
    { name: "a port on one selector only", selectors: [sel(17, 5060), sel(17, null)], want: [...base, "-p", "17", "-r", "198.18.1.20"] },
    { name: "a prefix is not a single address", selectors: [sel(17, 5060, 4, "198.18.1.0/24")], want: [...base, "-p", "17", "--dport", "5060"] },
    { name: "two protocols: addresses only, no ports", selectors: [sel(17, 5060), sel(6, 5060)], want: [...base, "-r", "198.18.1.20"] },
    { name: "any protocol", selectors: [sel(null, null)], want: base },
    { name: "the other family's selectors do not count", selectors: [sel(17, 5060), sel(6, 80, 6, "2001:db8:1::20/128")], want: [...base, "-p", "17", "-r", "198.18.1.20", "--dport", "5060"] },
  ];
  for (const c of cases) it(c.name, () => expect(listArgs(4, c.selectors)).toEqual(c.want));
  it("never-replied selectors only: the kernel sends only unreplied entries (unless it cannot)", () => {
    const renew = { ...sel(17, 5060), action: "renew" as const, replied: false, dnat: null };
    expect(listArgs(4, [renew, renew])).toEqual([...base, "-u", "UNREPLIED", "-p", "17", "-r", "198.18.1.20", "--dport", "5060"]);
    expect(listArgs(4, [renew], false)).toEqual([...base, "-p", "17", "-r", "198.18.1.20", "--dport", "5060"]);
    expect(listArgs(4, [renew, sel(17, 5060)])).toEqual([...base, "-p", "17", "-r", "198.18.1.20", "--dport", "5060"]);
  });
});

let host: Host;

/** The Node host, with every command run inside the test namespace. */
async function nsHost(): Promise<Host> {
  const h = await createNodeHost();
  const exec = (argv: string[], opts?: { input?: string }) => h.exec(inNs(argv), opts);
  return { ...h, exec, execAll: (argvs) => argvs.map((a) => exec(a)) };
}

function insert(args: string[]): void {
  sh(inNs(["conntrack", "-I", "-t", "300", ...args]));
}

function table(): Map<string, number> {
  const t = parseTable(sh(inNs(["conntrack", "-L", "-f", "ipv4", "-o", "extended,id"])));
  return new Map(t.flows.map((f) => [`${f.orig.src.join(".")}:${f.orig.sport}>${f.orig.dport}`, f.id ?? 0]));
}

const opts = { holdMs: 5000, tombstoneMs: 0 };

describe.skipIf(!canRun)("conntrack backend (real conntrack-tools in a namespace)", () => {
  beforeAll(async () => {
    sh(["ip", "netns", "add", NS]);
    sh(inNs(["ip", "link", "set", "lo", "up"]));
    host = await nsHost();
    // two clients forwarded to 198.18.1.20, one to a bystander forward, and an untranslated flow on the same port
    for (const [c, sport] of [["198.19.0.2", "4000"], ["198.19.0.4", "4000"]]) {
      insert(["-p", "udp", "-s", c, "-d", "198.19.0.1", "--sport", sport, "--dport", "5060",
        "-r", "198.18.1.20", "-q", c, "--reply-port-src", "5060", "--reply-port-dst", sport, "-u", "SEEN_REPLY"]);
    }
    insert(["-p", "udp", "-s", "198.19.0.2", "-d", "198.19.0.1", "--sport", "4100", "--dport", "5061",
      "-r", "198.18.2.30", "-q", "198.19.0.2", "--reply-port-src", "5061", "--reply-port-dst", "4100", "-u", "SEEN_REPLY"]);
    insert(["-p", "udp", "-s", "198.19.0.3", "-d", "198.19.0.1", "--sport", "4001", "--dport", "5060", "-u", "SEEN_REPLY"]);
  });
  afterAll(() => {
    spawnSync("ip", ["netns", "del", NS]);
  });

  it("a dry run only counts", () => {
    const r = applyConntrack(host, [revokeSip], { ...opts, dryRun: true });
    expect([r.matched, r.revoked, table().size]).toEqual([2, 0, 4]);
  });

  it("revokes exactly the forwarded flows, holds their reply tuples, leaves bystanders' entries", () => {
    const before = table();
    const r = applyConntrack(host, [revokeSip], opts);
    expect(r).toEqual({ backend: "conntrack", matched: 2, renewed: 0, revoked: 2, gone: 0, failed: 0, collateral: 0, armed: 0,
      byChange: [{ change: revokeSip.reason, renewed: 0, revoked: 2, armed: 0 }], commands: [], errors: [] });
    const after = table();
    expect([...after.keys()].sort()).toEqual(["198.19.0.2:4100>5061", "198.19.0.3:4001>5060"]);
    for (const [k, id] of after) expect(id).toBe(before.get(k));
    const held = sh(inNs(["nft", "list", "set", "inet", "natnow_hold", "h4_17_198_18_1_20_5060"]));
    expect(held).toMatch(/elements = \{ udp \. 198\.19\.0\.(2|4) \. 4000 timeout 5s expires \S+,\s+udp \. 198\.19\.0\.(2|4) \. 4000 /);
  });

  it("finds nothing more the second time", () => {
    const r = applyConntrack(host, [revokeSip], opts);
    expect([r.matched, r.revoked, r.errors]).toEqual([0, 0, []]);
  });

  it("holds a gone forward's client for as long as it sends, and keeps earlier holds", () => {
    insert(["-p", "udp", "-s", "198.19.0.2", "-d", "198.19.0.1", "--sport", "4000", "--dport", "5060",
      "-r", "198.18.1.20", "-q", "198.19.0.2", "--reply-port-src", "5060", "--reply-port-dst", "4000", "-u", "SEEN_REPLY"]);
    const r = applyConntrack(host, [revokeSip], { ...opts, tombstoneMs: 30000 });
    expect([r.revoked, r.errors]).toEqual([1, []]);
    const listing = sh(inNs(["nft", "list", "table", "inet", "natnow_hold"]));
    expect(listing).toMatch(/set t4_17_198_18_1_20_5060 \{[^}]*elements = \{ udp \. 198\.19\.0\.2 \. 4000 timeout 30s/);
    expect(listing).toMatch(/update @t4_17_198_18_1_20_5060 \{ meta l4proto \. ip saddr \. th sport timeout 30s \}/);
    // the first run's hold is still there, with its rule
    expect(listing).toMatch(/@h4_17_198_18_1_20_5060 counter/);
  });

  it("a renew from a never-replied dump deletes no replied bystander sharing its filter (pbr's DNS case)", () => {
    // two hosts' DNS queries to one resolver: 198.19.0.7's never replied, 198.19.0.8's replied
    const dns = (c: string, sport: string, status: string) => insert(["-p", "udp", "-s", c, "-d", "198.19.0.53", "--sport", sport,
      "--dport", "53", "-r", "198.19.0.53", "-q", c, "--reply-port-src", "53", "--reply-port-dst", sport, "-u", status]);
    dns("198.19.0.7", "5100", "UNSET");
    dns("198.19.0.8", "5101", "SEEN_REPLY");
    const renew: Selector = {
      ...revokeSip, action: "renew", reason: "pbr", replied: false, dnat: null, origSrc: { pos: [], neg: [] },
      origDport: { pos: [{ min: 53, max: 53 }], neg: [] }, replySrc: { pos: [], neg: [] }, replySport: ANY_PORT, keep: [],
    };
    const r = applyConntrack(host, [renew], opts);
    expect([r.matched, r.renewed, r.collateral, r.errors]).toEqual([1, 1, 0, []]);
    expect([...table().keys()].filter((k) => k.endsWith(">53"))).toEqual(["198.19.0.8:5101>53"]);
  });

  it(`more than ${FULL_TUPLE_MAX} never-replied flows: dumped again whole and grouped, bystanders kept`, () => {
    for (let i = 0; i <= FULL_TUPLE_MAX; i++) {
      insert(["-p", "udp", "-s", "198.19.0.9", "-d", "198.19.0.54", "--sport", String(6000 + i), "--dport", "53", "-u", "UNSET"]);
    }
    insert(["-p", "udp", "-s", "198.19.0.10", "-d", "198.19.0.54", "--sport", "6100", "--dport", "53", "-u", "SEEN_REPLY"]);
    const renew: Selector = {
      ...revokeSip, action: "renew", reason: "many", replied: false, dnat: null, origSrc: { pos: [], neg: [] },
      origDst: { pos: ["198.19.0.54/32"], neg: [] }, origDport: { pos: [{ min: 53, max: 53 }], neg: [] },
      replySrc: { pos: [], neg: [] }, replySport: ANY_PORT, keep: [],
    };
    const r = applyConntrack(host, [renew], opts);
    expect([r.matched, r.renewed, r.collateral, r.errors]).toEqual([FULL_TUPLE_MAX + 1, FULL_TUPLE_MAX + 1, 0, []]);
    expect([...table().keys()].filter((k) => k.startsWith("198.19.0.9:") || k.startsWith("198.19.0.10:"))).toEqual(["198.19.0.10:6100>53"]);
  });

  it("reports a missing conntrack instead of failing", async () => {
    const h = await createNodeHost();
    const noTools: Host = { ...h, findProgram: (n) => (n === "conntrack" ? null : h.findProgram(n)) };
    const before = table();
    const r = applyConntrack(noTools, [revokeSip], opts);
    expect(r.errors).toEqual(["conntrack-tools is not installed (the conntrack command is missing)"]);
    expect(table()).toEqual(before);
  });
});
