/**
 * The one-walk revoke (src/backend/onewalk.ts) and its wide hold
 * (widehold.ts): the pure parts, the order of commands against a fake host,
 * then the real kernel in network namespaces (root): the wide hold stops the
 * old peer's new flows to the revoked clients and nothing else, and a run
 * deletes, counts and holds exactly what the filter names, in one walk.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { exactFilter, type ExactFilter } from "../../src/backend/exact.ts";
import { addResults, applyConntrackOneWalk, countDeleted, listedEntries, WIDE_HOLD_MS } from "../../src/backend/onewalk.ts";
import { emptyResult } from "../../src/backend/result.ts";
import { type WideHold, wideHoldDrop, wideHolds, wideHoldScript } from "../../src/backend/widehold.ts";
import { parseTable } from "../../src/conntrack/parse.ts";
import type { ExecResult, Host } from "../../src/host/host.ts";
import { createNodeHost } from "../../src/host/node.ts";
import type { Selector } from "../../src/plan/selector.ts";
import { revokeSip } from "../helpers/flows.ts";

const one = (p: number) => ({ pos: [{ min: p, max: p }], neg: [] });

/** A mapping from one remote host removed: udp 6001 → 198.18.1.20:6001. */
const mapping: Selector = {
  ...revokeSip, reason: "mapping removed", origSrc: { pos: ["198.19.7.7/32"], neg: [] }, origDport: one(6001),
  replySrc: { pos: ["198.18.1.20/32"], neg: [] }, replySport: one(6001),
};

/** The same mapping on port 6000. */
const mapping6000: Selector = { ...mapping, origDport: one(6000), replySport: one(6000) };

function filterOf(s: Selector): ExactFilter {
  const f = exactFilter(s);
  if ("why" in f) throw new Error(f.why);
  return f.ok;
}

/** A `conntrack -L/-D -o extended,id` line of a flow from c:sport to the router's :dport, forwarded to `to`. */
const line = (c: string, sport: number, dport: number, to: string, id: number) =>
  `ipv4     2 udp      17 29 src=${c} dst=198.19.100.2 sport=${sport} dport=${dport} src=${to} dst=${c} sport=${dport} dport=${sport} mark=0 use=1 id=${id}`;

describe("the wide hold", () => {
  it("is keyed on the old peer, towards the clients' side the filter names", () => {
    const cases: [string, Selector, Partial<WideHold>][] = [
      ["the original source (no source NAT: the reply goes there)", mapping, { daddr: "198.19.7.7", dport: null }],
      ["a source prefix and port", { ...mapping, origSrc: { pos: ["198.19.50.0/24"], neg: [] }, origSport: one(4000) }, { daddr: "198.19.50.0/24", dport: 4000 }],
      ["the reply destination where named", { ...mapping, replyDst: { pos: ["198.18.1.1/32"], neg: [] }, snat: true }, { daddr: "198.18.1.1", dport: null }],
      ["source-NATed entries with no reply destination: anywhere", { ...mapping, snat: true }, { daddr: null, dport: null }],
    ];
    for (const [name, s, want] of cases) {
      expect(wideHolds([filterOf(s)]), name).toEqual([{ family: 4, proto: 17, addr: "198.18.1.20", port: 6001, ...want }]);
    }
    const gre = filterOf({ ...mapping, proto: 47, origDport: { pos: [], neg: [] }, replySport: { pos: [], neg: [] }, origDst: { pos: ["198.19.100.2/32"], neg: [] } });
    expect(wideHolds([gre])).toEqual([]);
  });

  it("installs rules for new entries only, on a set whose element times out; drops them all", () => {
    const holds = wideHolds([filterOf(mapping), filterOf({ ...mapping, family: 6, origSrc: { pos: ["2001:db8:7::7/128"], neg: [] },
      origDst: { pos: ["2001:db8:100::2/128"], neg: [] }, replySrc: { pos: ["2001:db8:1::20/128"], neg: [] } })]);
    const script = wideHoldScript(holds, 60000) ?? "";
    const lines = script.split("\n");
    expect(lines).toContain("  set wide4 { type inet_proto . ipv4_addr . inet_service; flags timeout; }");
    expect(lines).toContain("add element inet natnow_hold wide4 { udp . 198.18.1.20 . 6001 timeout 60000ms }");
    expect(lines).toContain("add element inet natnow_hold wide6 { udp . 2001:db8:1::20 . 6001 timeout 60000ms }");
    for (const c of ["wide_pre", "wide_out"]) {
      expect(lines).toContain(`add rule inet natnow_hold ${c} ct state new meta l4proto 17 ip saddr 198.18.1.20 th sport 6001 ` +
        "ip daddr 198.19.7.7 meta l4proto . ip saddr . th sport @wide4 counter drop");
      expect(lines).toContain(`add rule inet natnow_hold ${c} ct state new meta l4proto 17 ip6 saddr 2001:db8:1::20 th sport 6001 ` +
        "ip6 daddr 2001:db8:7::7 meta l4proto . ip6 saddr . th sport @wide6 counter drop");
    }
    expect(wideHoldDrop(holds).split("\n").filter(Boolean)).toEqual([
      "flush chain inet natnow_hold wide_pre", "delete chain inet natnow_hold wide_pre",
      "flush chain inet natnow_hold wide_out", "delete chain inet natnow_hold wide_out",
      "delete set inet natnow_hold wide4", "delete set inet natnow_hold wide6",
    ]);
    expect(wideHoldScript([], 1000)).toBeNull();
    expect(wideHoldDrop([])).toBe("");
  });
});

describe("counting what -D listed", () => {
  it("lists an entry once, however often the runs print it", () => {
    const a = line("198.19.7.7", 4000, 6001, "198.18.1.20", 1);
    expect(listedEntries([`${a}\n`, `${a}\n${line("198.19.7.7", 4001, 6001, "198.18.1.20", 2)}\ngarbage\n`]).length).toBe(2);
  });

  it("counts chosen flows per change and anything else as collateral; holds the revoked, refreshing a gone forward", () => {
    const r = emptyResult("conntrack");
    const flows = parseTable(`${line("198.19.7.7", 4000, 6001, "198.18.1.20", 1)}\n${line("198.19.7.8", 4000, 6001, "198.18.1.20", 2)}\n`).flows;
    const revoked = countDeleted(r, flows, [mapping], 30000);
    expect([r.matched, r.revoked, r.collateral, r.byChange]).toEqual([1, 1, 1, [{ change: "mapping removed", renewed: 0, revoked: 1, armed: 0 }]]);
    expect(revoked.map((x) => [x.flow.orig.sport, x.refresh])).toEqual([[4000, true]]);
    expect(countDeleted(emptyResult("conntrack"), flows, [mapping], 0).map((x) => x.refresh)).toEqual([false]);
  });

  it("adds two results of one run", () => {
    const a = { ...emptyResult("conntrack"), matched: 2, revoked: 2, byChange: [{ change: "x", renewed: 0, revoked: 2, armed: 0 }], errors: ["e1"] };
    const b = { ...emptyResult("conntrack"), matched: 1, revoked: 1, failed: 1, byChange: [{ change: "x", renewed: 0, revoked: 1, armed: 0 }, { change: "y", renewed: 1, revoked: 0, armed: 0 }] };
    expect(addResults(a, b)).toMatchObject({
      matched: 3, revoked: 3, failed: 1, errors: ["e1"],
      byChange: [{ change: "x", renewed: 0, revoked: 3, armed: 0 }, { change: "y", renewed: 1, revoked: 0, armed: 0 }],
    });
  });
});

/** A host that records commands and answers the -D runs with `deleted` in turn (the last one after that), -L with `listed`. */
function fakeHost(deleted: ExecResult[], listed = ""): { host: Host; log: string[] } {
  let nth = 0;
  const log: string[] = [];
  const ok = (stdout = ""): ExecResult => ({ status: 0, stdout, stderr: "" });
  const exec = (argv: string[], opts?: { input?: string }): ExecResult => {
    log.push(opts?.input === undefined ? argv.join(" ") : `${argv.join(" ")} <<${opts.input}`);
    if (argv[0] === "nft" && argv[1] === "list") return { status: 1, stdout: "", stderr: "No such file or directory" };
    if (argv[0] === "conntrack" && argv[1] === "-L") return ok(listed);
    if (argv[0] === "conntrack" && argv[1] === "-D") return deleted[Math.min(nth++, deleted.length - 1)];
    return ok();
  };
  const fail = () => {
    throw new Error("not in this fake");
  };
  const host = {
    kind: "node", findProgram: (n: string) => `/usr/sbin/${n}`, exec, execAll: (argvs: readonly string[][]) => argvs.map((a) => exec(a)),
    exists: () => false, args: fail, readFile: fail, writeFileAtomic: fail, writeControl: fail, createExclusive: fail, removeFile: fail,
    makeDirs: fail, writeStdout: fail, writeStderr: fail, exit: fail, getenv: () => null, spawnLines: fail, setTimeout: fail,
    clearTimeout: fail, sleep: fail, now: () => 0, time: () => 0, pid: () => 1, log: fail,
  } satisfies Host;
  return { host, log };
}

describe("the order of a one-walk revoke (fake host)", () => {
  const opts = { holdMs: 2000, tombstoneMs: 30000 };
  const two = `${line("198.19.7.7", 4000, 6001, "198.18.1.20", 1)}\n${line("198.19.7.7", 4001, 6001, "198.18.1.20", 2)}\n`;

  it("wide hold, one -D, then the exact holds and the wide hold's drop in one transaction; no dump", () => {
    const { host, log } = fakeHost([{ status: 0, stdout: two, stderr: "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n" }]);
    const r = applyConntrackOneWalk(host, [mapping], opts);
    expect([r.matched, r.revoked, r.gone, r.failed, r.collateral, r.errors]).toEqual([2, 2, 0, 0, 0, []]);
    expect(log.length).toBe(4);
    expect(log[0]).toMatch(/^nft -f - <<table inet natnow_hold \{/);
    expect(log[0]).toContain(`add element inet natnow_hold wide4 { udp . 198.18.1.20 . 6001 timeout ${WIDE_HOLD_MS}ms }`);
    expect(log[1]).toBe("conntrack -D -f ipv4 -p 17 --dport 6001 -r 198.18.1.20 --reply-port-src 6001 -s 198.19.7.7 --dst-nat -o extended,id");
    expect(log[2]).toBe("nft list table inet natnow_hold");
    expect(log[3]).toContain("add element inet natnow_hold t4_17_198_18_1_20_6001 { udp . 198.19.7.7 . 4000 timeout 30000ms, udp . 198.19.7.7 . 4001 timeout 30000ms }");
    expect(log[3].indexOf("delete chain inet natnow_hold wide_pre")).toBeGreaterThan(log[3].indexOf("add element inet natnow_hold t4_"));
    expect(log.some((l) => l.startsWith("conntrack -L"))).toBe(false);
  });

  it("nothing left to delete: the wide hold is still dropped", () => {
    const { host, log } = fakeHost([{ status: 1, stdout: "", stderr: "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n" }]);
    const r = applyConntrackOneWalk(host, [mapping], { ...opts, holds: [] });
    expect([r.matched, r.revoked, r.errors]).toEqual([0, 0, []]);
    expect(log[log.length - 1]).toMatch(/^nft -f - <<flush chain inet natnow_hold wide_pre\ndelete chain/);
  });

  it("a -D that failed: the dump path finishes the run, and the counts add up", () => {
    const second = line("198.19.7.7", 4001, 6001, "198.18.1.20", 2);
    const { host, log } = fakeHost([
      { status: 1, stdout: `${line("198.19.7.7", 4000, 6001, "198.18.1.20", 1)}\n`, stderr: "conntrack v1.4.7 (conntrack-tools): Operation failed: Device or resource busy\n" },
      { status: 0, stdout: `${second}\n`, stderr: "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted.\n" },
    ], `${second}\n`);
    const r = applyConntrackOneWalk(host, [mapping], { ...opts, holds: [] });
    expect(log.filter((l) => l.startsWith("conntrack")).map((l) => l.split(" ")[1])).toEqual(["-D", "-L", "-D"]);
    expect([r.matched, r.revoked, r.failed, r.collateral, r.errors]).toEqual([2, 2, 0, 0, []]);
  });

  it("takes the dump path for a zone-scoped forward and for a dry run", () => {
    for (const [sel, o] of [[revokeSip, opts], [mapping, { ...opts, dryRun: true }]] as const) {
      const { host, log } = fakeHost([{ status: 0, stdout: "", stderr: "" }]);
      applyConntrackOneWalk(host, [sel], o);
      expect(log[0]).toMatch(/^conntrack -L /);
    }
  });
});

// --- the real kernel -------------------------------------------------------

const R = `natnow-owr-${process.pid}`;
const P = `natnow-owp-${process.pid}`;
const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const inNs = (ns: string, argv: string[]) => ["ip", "netns", "exec", ns, ...argv];
const canRun = process.getuid?.() === 0 && spawnSync("conntrack", ["--version"]).status === 0 &&
  spawnSync("nft", ["--version"]).status === 0;

/** Runs an nft script in the router namespace. */
const nftIn = (o: { input: string }) => execFileSync("ip", inNs(R, ["nft", "-f", "-"]).slice(1), { ...o, stdio: ["pipe", "pipe", "pipe"] });

/** The old peer (198.18.1.20, in P) sends one datagram from each `from` port to `to` addresses and ports at the router. */
function peerSends(sends: [number, string, number][]): void {
  const js = "const d=require('dgram');const l=JSON.parse(process.argv[1]);let n=l.length;" +
    "for(const [sp,a,dp] of l){const s=d.createSocket({type:'udp4',reuseAddr:true});" +
    "s.bind(sp,'198.18.1.20',()=>s.send('x',dp,a,()=>{s.close();if(--n===0)process.exit(0)}))}";
  sh(inNs(P, [process.execPath, "-e", js, JSON.stringify(sends)]));
}

/**
 * Listens at the router on the given ports (any local address) while `during`
 * runs; ports in `first` (bound to the client's address) first send one
 * datagram to the old peer (an entry whose reply is the old peer's). Resolves to the datagrams each port got.
 */
async function routerReceives(ports: number[], first: number[], during: () => void): Promise<Record<number, number>> {
  const js = "const d=require('dgram');const [ports,first]=JSON.parse(process.argv[1]);const got={};let up=0;" +
    "for(const p of ports){got[p]=0;const s=d.createSocket('udp4');s.on('message',()=>got[p]++);" +
    "s.bind(p,first.includes(p)?'198.19.7.7':'0.0.0.0',()=>{if(first.includes(p))s.send('hi',6000,'198.18.1.20');if(++up===ports.length)console.log('ready')})}" +
    "setTimeout(()=>{console.log(JSON.stringify(got));process.exit(0)},1500)";
  const child = spawn("ip", inNs(R, [process.execPath, "-e", js, JSON.stringify([ports, first])]).slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((resolve) => {
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.indexOf("ready") >= 0 && !out.startsWith("done")) {
        out = `done${out}`;
        setTimeout(() => {
          during();
          resolve();
        }, 100);
      }
    });
  });
  await new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return JSON.parse(out.slice(out.lastIndexOf("{")));
}

/** The Node host, with every command run in the router namespace (and a log of them). */
async function routerHost(log: string[]): Promise<Host> {
  const h = await createNodeHost();
  const exec = (argv: string[], opts?: { input?: string }) => {
    log.push(argv.join(" "));
    return h.exec(inNs(R, argv), opts);
  };
  return { ...h, exec, execAll: (argvs) => argvs.map((a) => exec(a)) };
}

describe.skipIf(!canRun)("the wide hold and a one-walk revoke on the real kernel (namespaces)", () => {
  beforeAll(() => {
    sh(["ip", "netns", "add", R]);
    sh(["ip", "netns", "add", P]);
    sh(["ip", "link", "add", "owr0", "netns", R, "type", "veth", "peer", "name", "owp0", "netns", P]);
    for (const [ns, dev, a] of [[R, "owr0", "198.18.1.1/24"], [P, "owp0", "198.18.1.20/24"]]) {
      sh(inNs(ns, ["ip", "link", "set", "lo", "up"]));
      sh(inNs(ns, ["ip", "addr", "add", a, "dev", dev]));
      sh(inNs(ns, ["ip", "link", "set", dev, "up"]));
    }
    // the revoked client's address and an unrelated one, both the router's here
    sh(inNs(R, ["ip", "addr", "add", "198.19.7.7/32", "dev", "lo"]));
    sh(inNs(R, ["ip", "addr", "add", "198.19.9.9/32", "dev", "lo"]));
    sh(inNs(P, ["ip", "route", "add", "198.19.0.0/16", "via", "198.18.1.1"]));
  });
  afterAll(() => {
    spawnSync("ip", ["netns", "del", R]);
    spawnSync("ip", ["netns", "del", P]);
  });

  it("stops the old peer's new flows to the revoked client, and nothing else", async () => {
    const holds = wideHolds([filterOf(mapping6000)]);
    nftIn({ input: wideHoldScript(holds, 60000) ?? "" });
    const got = await routerReceives([4000, 4001, 4002, 4003], [4003], () => peerSends([
      [6000, "198.19.7.7", 4000], // the old peer re-creating a reversed entry towards the client: held
      [6000, "198.19.9.9", 4001], // to somewhere else: passes
      [6001, "198.19.7.7", 4002], // from another port: passes
      [6000, "198.19.7.7", 4003], // the reply of an entry that stays (established): passes
    ]));
    expect(got).toEqual({ 4000: 0, 4001: 1, 4002: 1, 4003: 1 });
    const listing = sh(inNs(R, ["nft", "list", "chain", "inet", "natnow_hold", "wide_pre"]));
    expect(listing).toMatch(/counter packets 1 bytes \d+ drop/);
    // dropped: the same packet passes
    nftIn({ input: wideHoldDrop(holds) });
    expect(await routerReceives([4004], [], () => peerSends([[6000, "198.19.7.7", 4004]]))).toEqual({ 4004: 1 });
  }, 20_000);

  it("holds nothing once its element timed out (a run that died before the drop)", async () => {
    const holds = wideHolds([filterOf(mapping6000)]);
    nftIn({ input: wideHoldScript(holds, 300) ?? "" });
    await new Promise((r) => setTimeout(r, 800));
    expect(await routerReceives([4005], [], () => peerSends([[6000, "198.19.7.7", 4005]]))).toEqual({ 4005: 1 });
    nftIn({ input: wideHoldDrop(holds) });
  }, 20_000);

  it("a run deletes exactly the mapping's flows in one -D, holds their clients, and leaves no wide hold", async () => {
    sh(inNs(R, ["conntrack", "-F"]));
    const insert = (src: string, sport: string, to: string, port: string) => sh(inNs(R, ["conntrack", "-I", "-t", "300", "-p", "udp",
      "-s", src, "-d", "198.19.100.2", "--sport", sport, "--dport", port, "-r", to, "-q", src, "--reply-port-src", port,
      "--reply-port-dst", sport, "-u", "SEEN_REPLY", "--dst-nat", to]));
    insert("198.19.7.7", "4000", "198.18.1.20", "6001"); // the mapping's
    insert("198.19.7.7", "4001", "198.18.1.20", "6001"); // the mapping's
    insert("198.19.7.8", "4000", "198.18.1.20", "6001"); // another remote host, same target: kept
    insert("198.19.7.7", "4002", "198.18.1.30", "6001"); // same host, another target: kept
    // the same host straight to the target, no NAT: kept (--dst-nat)
    sh(inNs(R, ["conntrack", "-I", "-t", "300", "-p", "udp", "-s", "198.19.7.7", "-d", "198.18.1.20", "--sport", "4003", "--dport", "6001",
      "-r", "198.18.1.20", "-q", "198.19.7.7", "--reply-port-src", "6001", "--reply-port-dst", "4003", "-u", "SEEN_REPLY"]));
    const log: string[] = [];
    const r = applyConntrackOneWalk(await routerHost(log), [mapping], { holdMs: 5000, tombstoneMs: 30000 });
    expect([r.matched, r.revoked, r.collateral, r.failed, r.errors]).toEqual([2, 2, 0, 0, []]);
    expect(log.filter((l) => l.startsWith("conntrack"))).toEqual([
      "conntrack -D -f ipv4 -p 17 --dport 6001 -r 198.18.1.20 --reply-port-src 6001 -s 198.19.7.7 --dst-nat -o extended,id",
    ]);
    const left = parseTable(sh(inNs(R, ["conntrack", "-L", "-f", "ipv4", "-o", "extended,id"]))).flows
      .map((f) => `${f.orig.src.join(".")}:${f.orig.sport}>${f.reply.src.join(".")}`).sort();
    expect(left).toEqual(["198.19.7.7:4002>198.18.1.30", "198.19.7.7:4003>198.18.1.20", "198.19.7.8:4000>198.18.1.20"]);
    const table = sh(inNs(R, ["nft", "list", "table", "inet", "natnow_hold"]));
    expect(table).toMatch(/set t4_17_198_18_1_20_6001 \{[^}]*elements = \{ udp \. 198\.19\.7\.7 \. 4000 timeout 30s[^,]*,\s+udp \. 198\.19\.7\.7 \. 4001 /);
    expect(table).not.toMatch(/wide/);
  }, 20_000);
});
