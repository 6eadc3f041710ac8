/**
 * The conntrack-tools backend.
 *
 * 1. Dump each family the plan concerns (`conntrack -L -o extended,id`,
 *    narrowed in the kernel by protocol and port when every selector shares
 *    them) and choose flows with the planner's own matcher.
 * 2. Hold the reply tuples of flows about to be revoked in an nft set, so
 *    the old peer cannot re-create a reversed entry that pins the client.
 * 3. Delete the chosen flows in as few `conntrack -D` runs as the dump
 *    allows. Every `-D` of conntrack-tools 1.4.7 walks the whole table
 *    (≈2 s at 1M entries), each line of its batch mode (`-R`) too, so one
 *    delete per flow does not scale: flows are grouped under the coarsest
 *    `-D` filter that the dump shows matches only chosen flows, down to the
 *    full tuple.
 * 4. Read what each `-D` printed: chosen flows it did not list were already
 *    gone; anything it listed that was not chosen (an entry created after
 *    the dump) is counted as collateral.
 * The holds of step 2 outlive the client's last packet for revoked forwards
 * that no added rule takes over (see holdSets).
 */

import { type Flow, flowMatches, selectorMatches } from "../conntrack/flow.ts";
import { parseTable } from "../conntrack/parse.ts";
import type { Host } from "../host/host.ts";
import type { AddrMatch, PortMatch } from "../net/match.ts";
import { formatIp, parsePrefix } from "../net/ip.ts";
import { ANY_ADDR, ANY_PORT, PORT_PROTOS, protoName, type Selector } from "../plan/selector.ts";
import { type BackendResult, emptyResult } from "./result.ts";

/** A flow chosen for an action. */
export interface Chosen {
  flow: Flow;
  selector: Selector;
}

/** The first selector (in plan order) that takes each flow. */
export function choose(flows: readonly Flow[], selectors: readonly Selector[]): Chosen[] {
  const out: Chosen[] = [];
  for (const flow of flows) {
    const selector = selectors.find((s) => selectorMatches(s, flow));
    if (selector) out.push({ flow, selector });
  }
  return out;
}

/** A tuple field conntrack-tools can filter on, with its option. */
const FIELDS = {
  "dst": "-d",
  "dport": "--dport",
  "reply-src": "-r",
  "reply-sport": "--reply-port-src",
  "src": "-s",
  "sport": "--sport",
  "reply-dst": "-q",
  "reply-dport": "--reply-port-dst",
} as const;

/** A conntrack-tools filter field. */
export type FilterField = keyof typeof FIELDS;

/** The fields of each grouping level, coarse to fine: the service side, then the client, then all. */
export const LEVELS: readonly (readonly FilterField[])[] = [
  ["dst", "dport", "reply-src", "reply-sport"],
  ["dst", "dport", "reply-src", "reply-sport", "src"],
  ["dst", "dport", "reply-src", "reply-sport", "src", "sport", "reply-dst", "reply-dport"],
];

/** A `conntrack -D` filter: family, protocol, zone and single values for some tuple fields. */
export interface CtFilter {
  family: 4 | 6;
  proto: number;
  zone: number;
  values: Partial<Record<FilterField, string>>;
}

function fieldValue(f: Flow, k: FilterField): string | null {
  switch (k) {
    case "src":
      return formatIp(f.orig.src);
    case "dst":
      return formatIp(f.orig.dst);
    case "reply-src":
      return formatIp(f.reply.src);
    case "reply-dst":
      return formatIp(f.reply.dst);
    case "sport":
      return f.orig.sport === null ? null : String(f.orig.sport);
    case "dport":
      return f.orig.dport === null ? null : String(f.orig.dport);
    case "reply-sport":
      return f.reply.sport === null ? null : String(f.reply.sport);
    case "reply-dport":
      return f.reply.dport === null ? null : String(f.reply.dport);
  }
}

/** The filter of one grouping level that a flow falls under. */
export function filterFor(f: Flow, fields: readonly FilterField[]): CtFilter {
  const values: Partial<Record<FilterField, string>> = {};
  const ports = PORT_PROTOS.indexOf(f.proto) >= 0;
  for (const k of fields) {
    if (!ports && k.endsWith("port")) continue;
    const v = fieldValue(f, k);
    if (v !== null) values[k] = v;
  }
  return { family: f.family, proto: f.proto, zone: f.zone, values };
}

/** A filter as a map key. */
export function filterKey(c: CtFilter): string {
  const parts = [`${c.family}/${c.proto}/${c.zone}`];
  for (const k of Object.keys(FIELDS) as FilterField[]) if (c.values[k] !== undefined) parts.push(`${k}=${c.values[k]}`);
  return parts.join(" ");
}

/** `conntrack -D` arguments for a filter. */
export function deleteArgs(c: CtFilter): string[] {
  const args = ["conntrack", "-D", "-f", `ipv${c.family}`, "-p", String(c.proto)];
  for (const k of Object.keys(FIELDS) as FilterField[]) {
    const v = c.values[k];
    if (v !== undefined) args.push(FIELDS[k], v);
  }
  args.push("-w", String(c.zone), "-o", "extended,id");
  return args;
}

/** A flow's identity in the table: its original tuple and zone. */
export function flowKey(f: Flow): string {
  return `${f.family}/${f.proto}/${f.zone} ${formatIp(f.orig.src)}:${f.orig.sport} ${formatIp(f.orig.dst)}:${f.orig.dport}`;
}

/** A set of chosen flows deleted by one `conntrack -D`. */
export interface DeleteGroup {
  filter: CtFilter;
  flows: Flow[];
}

/**
 * Groups the chosen flows under the coarsest filter level whose key no
 * unchosen flow of the dump shares; what no level separates is deleted by
 * its full tuple (a tuple is unique in its zone).
 */
export function deleteGroups(flows: readonly Flow[], chosen: ReadonlySet<Flow>): DeleteGroup[] {
  const groups: DeleteGroup[] = [];
  let left = flows.filter((f) => chosen.has(f));
  for (let level = 0; level < LEVELS.length && left.length; level++) {
    const fields = LEVELS[level];
    const last = level === LEVELS.length - 1;
    const byKey = new Map<string, DeleteGroup>();
    for (const f of left) {
      const filter = filterFor(f, fields);
      const k = filterKey(filter);
      const g = byKey.get(k);
      if (g) g.flows.push(f);
      else byKey.set(k, { filter, flows: [f] });
    }
    if (!last) {
      const protos = new Set(left.map((f) => `${f.family}/${f.proto}`));
      for (const f of flows) {
        if (chosen.has(f) || !protos.has(`${f.family}/${f.proto}`)) continue;
        byKey.delete(filterKey(filterFor(f, fields)));
      }
    }
    const done = new Set<Flow>();
    for (const g of byKey.values()) {
      groups.push(g);
      for (const f of g.flows) done.add(f);
    }
    left = left.filter((f) => !done.has(f));
  }
  return groups;
}

/** A selector's fields that name one value, as conntrack-tools filter options. */
function singleValues(s: Selector): Map<string, string> {
  const m = new Map<string, string>();
  const host = (a: AddrMatch) => {
    if (a.pos.length !== 1) return null;
    const p = parsePrefix(a.pos[0]);
    return p && p.bits === p.addr.length * 8 ? formatIp(p.addr) : null;
  };
  const port = (x: PortMatch) => (x.pos.length === 1 && x.pos[0].min === x.pos[0].max ? String(x.pos[0].min) : null);
  if (s.proto === null) return m;
  m.set("-p", String(s.proto));
  const add = (opt: string, v: string | null) => v !== null && m.set(opt, v);
  add("-s", host(s.origSrc));
  add("-d", host(s.origDst));
  add("-r", host(s.replySrc));
  add("-q", host(s.replyDst));
  if (PORT_PROTOS.indexOf(s.proto) >= 0) {
    add("--sport", port(s.origSport));
    add("--dport", port(s.origDport));
    add("--reply-port-src", port(s.replySport));
    add("--reply-port-dst", port(s.replyDport));
  }
  return m;
}

/**
 * `conntrack -L` arguments for one family, narrowed (in the kernel, where
 * it filters dumps) by every field on which all the family's selectors
 * name the same single value: one walk of the table, few lines to read.
 */
export function listArgs(family: 4 | 6, selectors: readonly Selector[]): string[] {
  const args = ["conntrack", "-L", "-f", `ipv${family}`, "-o", "extended,id"];
  const maps = selectors.filter((s) => s.family === family).map(singleValues);
  if (!maps.length) return args;
  const common = [...maps[0]].filter(([opt, v]) => maps.every((m) => m.get(opt) === v));
  // port options need the protocol (conntrack refuses them alone)
  const proto = common.some(([opt]) => opt === "-p");
  for (const [opt, v] of common) if (proto || !opt.startsWith("--")) args.push(opt, v);
  return args;
}

/** The nft table that holds revoked flows' old peers off. */
export const HOLD_TABLE = "natnow_hold";

/**
 * Revoked flows' holds, one nft set per old peer (address, port): the
 * places its packets went (the reply tuple's destination). A new entry from
 * the old peer to one of them is refused, so its next packet cannot create
 * a reversed entry that pins the client again. A `refresh` set is for a
 * forward that is gone: the client's own packets keep its element alive,
 * so the hold lasts as long as the client sends, and then the set's
 * timeout more (what a tombstone entry in conntrack would do, in one nft
 * command instead of a process per flow).
 */
export interface HoldSet {
  name: string;
  family: 4 | 6;
  proto: number;
  addr: string;
  port: number;
  refresh: boolean;
  /** Address and port the old peer sent to, with how long (ms) to hold it. */
  elements: { addr: string; port: number; ms: number }[];
}

/** A hold set's name: everything its rules need, so a later run can rebuild them from the name alone. */
export function holdSetName(refresh: boolean, family: 4 | 6, proto: number, addr: string, port: number): string {
  return `${refresh ? "t" : "h"}${family}_${proto}_${addr.replace(/[.:]/g, "_")}_${port}`;
}

/** Reads a hold set's name back; null when it is not one of natnow's. */
export function parseHoldSetName(name: string): Omit<HoldSet, "elements"> | null {
  const m = /^([th])([46])_([0-9]{1,3})_([0-9a-f_]+)_([0-9]{1,5})$/.exec(name);
  if (!m) return null;
  const family = m[2] === "4" ? 4 : 6;
  return {
    name, family, refresh: m[1] === "t", proto: Number(m[3]), port: Number(m[5]),
    addr: m[4].replace(/_/g, family === 4 ? "." : ":"),
  };
}

/** Groups revoked flows into hold sets; `refreshMs` for flows whose forward is gone, `holdMs` for the others. */
export function holdSets(
  flows: readonly { flow: Flow; refresh: boolean }[], holdMs: number, refreshMs: number,
): HoldSet[] {
  const sets = new Map<string, HoldSet>();
  for (const { flow: f, refresh } of flows) {
    if (f.reply.sport === null || f.reply.dport === null || PORT_PROTOS.indexOf(f.proto) < 0) continue;
    const addr = formatIp(f.reply.src);
    const name = holdSetName(refresh, f.family, f.proto, addr, f.reply.sport);
    let set = sets.get(name);
    if (!set) {
      set = { name, family: f.family, proto: f.proto, addr, port: f.reply.sport, refresh, elements: [] };
      sets.set(name, set);
    }
    set.elements.push({ addr: formatIp(f.reply.dst), port: f.reply.dport, ms: refresh ? refreshMs : holdMs });
  }
  return [...sets.values()];
}

/** The names of natnow's hold sets in an `nft list table inet natnow_hold` listing, and which are empty. */
export function listedHoldSets(listing: string): { name: string; empty: boolean }[] {
  const out: { name: string; empty: boolean }[] = [];
  const re = /\bset ([A-Za-z0-9_]+) \{([^}]*)\}/g;
  for (let m = re.exec(listing); m; m = re.exec(listing)) {
    if (parseHoldSetName(m[1])) out.push({ name: m[1], empty: m[2].indexOf("elements") < 0 });
  }
  return out;
}

/**
 * The nft script that adds the new holds. The base chains are rebuilt for
 * every set (those of earlier runs keep their elements and their rules);
 * earlier sets that have emptied are deleted.
 */
export function holdScript(sets: readonly HoldSet[], existing: readonly { name: string; empty: boolean }[], refreshMs: number): string | null {
  if (!sets.length) return null;
  const T = `inet ${HOLD_TABLE}`;
  const fresh = new Set(sets.map((s) => s.name));
  const keep = existing.filter((e) => !e.empty || fresh.has(e.name)).map((e) => e.name);
  const all = [...new Set([...keep, ...fresh])].map(parseHoldSetName).filter((x) => x !== null);
  const lines = [
    `table ${T} {`,
    "  chain pre { type filter hook prerouting priority -150; policy accept; }",
    "  chain out { type filter hook output priority -150; policy accept; }",
    "}",
    `flush chain ${T} pre`,
    `flush chain ${T} out`,
  ];
  for (const e of existing) if (e.empty && !fresh.has(e.name)) lines.push(`delete set ${T} ${e.name}`);
  for (const s of sets) {
    lines.push(`add set ${T} ${s.name} { type inet_proto . ipv${s.family}_addr . inet_service; flags dynamic,timeout; size 65535; }`);
  }
  for (const s of all) {
    const ip = s.family === 4 ? "ip" : "ip6";
    const block = `ct state new meta l4proto ${s.proto} ${ip} saddr ${s.addr} th sport ${s.port} ` +
      `meta l4proto . ${ip} daddr . th dport @${s.name} counter drop`;
    lines.push(`add rule ${T} pre ${block}`, `add rule ${T} out ${block}`);
    if (s.refresh) {
      lines.push(`add rule ${T} pre meta l4proto . ${ip} saddr . th sport @${s.name} ` +
        `update @${s.name} { meta l4proto . ${ip} saddr . th sport timeout ${refreshMs}ms }`);
    }
  }
  for (const s of sets) {
    const el = s.elements.map((e) => `${protoName(s.proto)} . ${e.addr} . ${e.port} timeout ${e.ms}ms`);
    lines.push(`add element ${T} ${s.name} { ${el.join(", ")} }`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Whether a revoked flow's forward is gone for its client: no added rule
 * (a renew selector's original-direction fields) translates the client's
 * tuple again. Then its hold lasts as long as the client keeps sending:
 * behind fw4's rejecting input the client's own new entries never get
 * confirmed, so nothing else would keep the old peer from pinning it.
 */
export function needsTombstone(f: Flow, selectors: readonly Selector[]): boolean {
  const asNew = { ...f, replied: false, dnat: false, snat: false };
  return !selectors.some((s) =>
    s.action === "renew" &&
    flowMatches({
      ...s, replySrc: ANY_ADDR, replyDst: ANY_ADDR, replySport: ANY_PORT, replyDport: ANY_PORT,
      dnat: null, snat: null, replied: null,
    }, asNew)
  );
}

/** How the conntrack backend runs. */
export interface ConntrackOptions {
  /** Milliseconds a revoked flow's old peer is held off (0: no hold). */
  holdMs: number;
  /** Milliseconds a gone forward's hold outlasts the client's last packet (0: plain holds only). */
  tombstoneMs: number;
  /** Only report what would be done. */
  dryRun?: boolean;
}

/** Runs the selectors against the live table with conntrack-tools. */
export function applyConntrack(host: Host, selectors: readonly Selector[], opts: ConntrackOptions): BackendResult {
  const result = emptyResult("conntrack");
  if (!selectors.length) return result;
  if (!host.findProgram("conntrack")) {
    result.errors.push("conntrack-tools is not installed (the conntrack command is missing)");
    return result;
  }
  const flows: Flow[] = [];
  for (const fam of [4, 6] as const) {
    if (!selectors.some((s) => s.family === fam)) continue;
    const argv = listArgs(fam, selectors);
    const r = host.exec(argv);
    if (r.status !== 0) {
      result.errors.push(`${argv.join(" ")} failed (status ${r.status}): ${r.stderr.trim()}`);
      return result;
    }
    const t = parseTable(r.stdout);
    flows.push(...t.flows);
    for (const p of t.problems.slice(0, 5)) result.errors.push(`conntrack -L line ${p.line} unread: ${p.reason}`);
  }
  const chosen = choose(flows, selectors);
  result.matched = chosen.length;
  if (opts.dryRun || !chosen.length) return result;

  const action = new Map(chosen.map((c) => [flowKey(c.flow), c]));
  const revokes = chosen.filter((c) => c.selector.action === "revoke").map((c) => ({
    flow: c.flow, refresh: opts.tombstoneMs > 0 && c.flow.dnat && needsTombstone(c.flow, selectors),
  }));
  const sets = opts.holdMs > 0 ? holdSets(revokes, opts.holdMs, opts.tombstoneMs) : [];
  if (sets.length && !host.findProgram("nft")) {
    result.errors.push("nft is missing: revoked flows are not held against their old peer");
  } else if (sets.length) {
    const listing = host.exec(["nft", "list", "table", "inet", HOLD_TABLE]);
    const script = holdScript(sets, listing.status === 0 ? listedHoldSets(listing.stdout) : [], opts.tombstoneMs);
    const r = host.exec(["nft", "-f", "-"], { input: script ?? "" });
    if (r.status !== 0) result.errors.push(`nft hold failed: ${r.stderr.trim()}`);
  }

  const deleted = new Set<string>();
  for (const g of deleteGroups(flows, new Set(chosen.map((c) => c.flow)))) {
    const r = host.exec(deleteArgs(g.filter));
    if (r.status !== 0 && !/\b0 flow entries have been deleted/.test(r.stderr)) {
      result.failed += g.flows.length;
      if (result.errors.length < 20) result.errors.push(`conntrack -D failed (status ${r.status}): ${r.stderr.trim()}`);
      for (const f of g.flows) deleted.add(flowKey(f)); // not gone: failed
      continue;
    }
    for (const f of parseTable(r.stdout).flows) {
      const k = flowKey(f);
      const c = action.get(k);
      if (!c) {
        result.collateral++;
        continue;
      }
      deleted.add(k);
      if (c.selector.action === "renew") result.renewed++;
      else result.revoked++;
    }
  }
  for (const c of chosen) if (!deleted.has(flowKey(c.flow))) result.gone++;
  return result;
}
