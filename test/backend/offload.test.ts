/**
 * The conntrack backend and offloaded entries (fw4's flow_offloading),
 * against a fake conntrack-tools that lists the entries the kmod test VM
 * captured (test/fixtures/conntrack/offload-1.4.7.txt) and deletes as
 * conntrack-tools does: one dump, each matching entry deleted and printed in
 * turn. On a kernel whose ctnetlink refuses offloaded entries (before 6.4 and
 * 9b7c68b3911a's stable backports) the delete answers EBUSY and conntrack
 * stops there ("Operation failed: Device or resource busy", status 1).
 */
import { describe, expect, it } from "vitest";
import { applyConntrack, deleteGroups, filterKey, offloadApartGroups } from "../../src/backend/conntrack.ts";
import { KMOD_PATH } from "../../src/base/paths.ts";
import { parseLine } from "../../src/conntrack/parse.ts";
import type { Flow } from "../../src/conntrack/flow.ts";
import type { ExecResult, Host } from "../../src/host/host.ts";
import { formatIp } from "../../src/net/ip.ts";
import { fixtureText } from "../helpers/fixtures.ts";
import { configText, planOf } from "../helpers/plan.ts";

const CAPTURED = fixtureText("conntrack", "offload-1.4.7.txt").trim().split("\n");
const SIP = CAPTURED[3]; // w:4000 -> r:5060 -> l2:5060, offloaded
// another client of the forward whose entry is not offloaded (the same line, as a slow-path entry)
const SIP_PLAIN = SIP.replace("udp      17 ", "udp      17 117 ").replace(/sport=4000 dport=5060/, "sport=4001 dport=5060")
  .replace(/sport=5060 dport=4000/, "sport=5060 dport=4001").replace(" [UNREPLIED]", "").replace("[OFFLOAD]", "[ASSURED]");

/** The value of each conntrack-tools filter option, as the flow has it. */
function filterValue(f: Flow, opt: string): string | null {
  switch (opt) {
    case "-f": return `ipv${f.family}`;
    case "-p": return String(f.proto);
    case "-s": return formatIp(f.orig.src);
    case "-d": return formatIp(f.orig.dst);
    case "-r": return formatIp(f.reply.src);
    case "-q": return formatIp(f.reply.dst);
    case "--sport": return String(f.orig.sport);
    case "--dport": return String(f.orig.dport);
    case "--reply-port-src": return String(f.reply.sport);
    case "--reply-port-dst": return String(f.reply.dport);
    case "-w": return String(f.zone);
    default: return null;
  }
}

function matches(f: Flow, argv: readonly string[]): boolean {
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === "-u") {
      if (argv[++i] === "UNREPLIED" && !/\[UNREPLIED\]/.test(lineOf.get(f) ?? "")) return false;
      continue;
    }
    if (argv[i] === "-o") {
      i++;
      continue;
    }
    const v = filterValue(f, argv[i]);
    if (v === null) throw new Error(`the fake does not know ${argv[i]}`);
    if (v !== argv[++i]) return false;
  }
  return true;
}

const lineOf = new Map<Flow, string>();

/**
 * conntrack-tools over a table of lines; `refuse`: the kernel refuses to
 * delete offloaded entries; `offloadLater`: client ports whose entries a
 * flowtable takes after the dump.
 */
function fakeConntrack(lines: readonly string[], opts: { refuse: boolean; kmod?: boolean; offloadLater?: number[] }) {
  const table = lines.map((l) => {
    const f = parseLine(l);
    lineOf.set(f, l);
    return f;
  });
  const deletes: string[][] = [];
  const exec = (argv: string[]): ExecResult => {
    if (argv[0] === "nft") return { status: 0, stdout: "", stderr: "" };
    if (argv[0] !== "conntrack") throw new Error(`unexpected ${argv.join(" ")}`);
    const hits = table.filter((f) => matches(f, argv));
    if (argv[1] === "-L") {
      return { status: 0, stdout: hits.map((f) => lineOf.get(f) + "\n").join(""), stderr: `conntrack v1.4.7 (conntrack-tools): ${hits.length} flow entries have been shown.\n` };
    }
    deletes.push(argv);
    let out = "";
    for (const f of hits) {
      if (opts.refuse && (f.offload || opts.offloadLater?.includes(f.orig.sport ?? 0))) {
        return { status: 1, stdout: out, stderr: "conntrack v1.4.7 (conntrack-tools): Operation failed: Device or resource busy\n" };
      }
      table.splice(table.indexOf(f), 1);
      out += lineOf.get(f) + "\n";
    }
    const n = out ? out.trim().split("\n").length : 0;
    return { status: n ? 0 : 1, stdout: out, stderr: `conntrack v1.4.7 (conntrack-tools): ${n} flow entries have been deleted.\n` };
  };
  const host = {
    findProgram: (n: string) => `/usr/sbin/${n}`,
    exists: (p: string) => p === KMOD_PATH && opts.kmod === true,
    exec,
    execAll: (argvs: readonly string[][]) => argvs.map((a) => exec([...a])),
  } as unknown as Host;
  return { host, table, deletes };
}

const opts = { holdMs: 2000, tombstoneMs: 0 };
const sipRemoved = () => planOf(configText("fw4:b"), configText("fw4:a")).plan.selectors;
const masqOff = () => planOf(configText("fw4:a"), configText("fw4:a").replace("\toption masq '1'\n", "")).plan.selectors;
const REFUSED = "conntrack -D: this kernel's ctnetlink refuses to delete offloaded entries (before 6.4); load kmod-natnow";

describe("conntrack backend, offloaded entries, a kernel that deletes them (6.4+, 6.1 with the backport)", () => {
  it("revokes an offloaded forward", () => {
    const c = fakeConntrack(CAPTURED, { refuse: false });
    const r = applyConntrack(c.host, sipRemoved(), opts);
    expect([r.matched, r.revoked, r.failed, r.errors]).toEqual([1, 1, 0, []]);
    expect(c.table.some((f) => f.orig.dport === 5060)).toBe(false);
  });
  it("revokes the offloaded masqueraded flows when masquerading goes off, TCP too", () => {
    const c = fakeConntrack(CAPTURED, { refuse: false });
    const r = applyConntrack(c.host, masqOff(), opts);
    expect([r.revoked, r.failed, r.errors]).toEqual([4, 0, []]);
    expect(c.table.map((f) => `${f.family}/${f.orig.dport}`).sort()).toEqual(["4/5060", "6/6000"]);
  });
});

describe("conntrack backend, a kernel whose ctnetlink refuses offloaded entries (EBUSY)", () => {
  it("says so, with what to do, and counts them failed", () => {
    const c = fakeConntrack(CAPTURED, { refuse: true });
    const r = applyConntrack(c.host, sipRemoved(), opts);
    expect([r.matched, r.revoked, r.failed, r.gone, r.errors]).toEqual([1, 0, 1, 0, [REFUSED]]);
  });
  it("names the loaded module when there is one", () => {
    const r = applyConntrack(fakeConntrack(CAPTURED, { refuse: true, kmod: true }).host, sipRemoved(), opts);
    expect(r.errors).toEqual([
      "conntrack -D: this kernel's ctnetlink refuses to delete offloaded entries (before 6.4); " +
      "natnow.ko is loaded: use backend 'kmod' (or 'auto'), which deletes them in the kernel",
    ]);
  });
  it("a refused offloaded entry costs the other flows nothing: they are deleted apart", () => {
    // the offloaded entry comes first in the table: one -D for both would stop before the other
    const c = fakeConntrack([SIP, SIP_PLAIN], { refuse: true });
    const r = applyConntrack(c.host, sipRemoved(), opts);
    expect([r.matched, r.revoked, r.failed, r.errors]).toEqual([2, 1, 1, [REFUSED]]);
    expect(c.table.map((f) => f.orig.sport)).toEqual([4000]);
  });
  it("a flow offloaded after the dump: what the -D deleted before it stopped counts, the rest failed", () => {
    const client = (port: number) => SIP_PLAIN.replace(/4001/g, String(port));
    const c = fakeConntrack([client(4001), client(4002), client(4003)], { refuse: true, offloadLater: [4002] });
    const r = applyConntrack(c.host, sipRemoved(), opts);
    expect(c.deletes).toHaveLength(1);
    expect([r.matched, r.revoked, r.failed, r.gone, r.errors]).toEqual([3, 1, 2, 0, [REFUSED]]);
    expect(c.table.map((f) => f.orig.sport)).toEqual([4002, 4003]);
  });
});

describe("grouping offloaded flows apart", () => {
  const [off, plain] = [parseLine(SIP), parseLine(SIP_PLAIN)];
  it("one filter would take both; apart, each has its own, and neither filter matches the other", () => {
    expect(deleteGroups([off, plain], new Set([off, plain])).map((g) => g.flows.length)).toEqual([2]);
    const groups = offloadApartGroups([off, plain], [off, plain]);
    expect(groups.map((g) => g.flows.map((f) => f.orig.sport))).toEqual([[4001], [4000]]);
    expect(groups.map((g) => filterKey(g.filter))).toEqual([
      "4/17/0 dst=198.19.100.2 dport=5060 reply-src=198.18.1.20 reply-sport=5060 src=198.19.100.1 sport=4001 reply-dst=198.19.100.1 reply-dport=4001",
      "4/17/0 dst=198.19.100.2 dport=5060 reply-src=198.18.1.20 reply-sport=5060 src=198.19.100.1 sport=4000 reply-dst=198.19.100.1 reply-dport=4000",
    ]);
  });
  it("without offloaded flows, the groups are the usual ones", () => {
    expect(offloadApartGroups([plain], [plain]).map((g) => filterKey(g.filter))).toEqual(
      deleteGroups([plain], new Set([plain])).map((g) => filterKey(g.filter)),
    );
  });
});
