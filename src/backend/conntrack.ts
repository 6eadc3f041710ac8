/**
 * The conntrack-tools backend. Every `conntrack -L` and `-D` of
 * conntrack-tools (1.4.7 and 1.4.8) walks the whole table in userspace
 * (≈0.25 s at 100k entries); each line of its batch mode (`-R`) too. So
 * the backend counts walks. A revoke whose every selector one `-D` filter
 * names exactly (exact.ts) is one walk (onewalk.ts: a wide hold on the old
 * peer, the `-D`, then the exact holds of the clients it listed). This
 * file is the dump path, for everything else, which takes two:
 *
 * 1. Dump each family the plan concerns (`conntrack -L -o
 *    extended,id`, narrowed by fields every selector shares, and by the
 *    kernel to never-replied entries when that is all the plan wants) and
 *    choose flows with the planner's own matcher.
 * 2. Hold the reply tuples of flows about to be revoked in an nft set
 *    (holds.ts), so the old peer cannot re-create a reversed entry that
 *    pins the client.
 * 3. Delete the chosen flows in as few `conntrack -D` runs as the dump
 *    allows, side by side: flows are grouped under the coarsest `-D`
 *    filter that the dump shows matches only chosen flows, down to the
 *    full tuple. A dump only proves that for what it shows: every filter
 *    carries the fields the dump was narrowed by, and a dump the kernel
 *    narrowed to never-replied entries proves nothing about replied ones
 *    (`-D` ignores the status), so its flows are deleted by their full
 *    tuples, or, past FULL_TUPLE_MAX, the family is dumped again whole.
 * 4. Read what each `-D` printed: chosen flows it did not list were already
 *    gone; anything it listed that was not chosen (an entry created after
 *    the dump) is counted as collateral.
 * A `-D -u UNREPLIED` would delete replied entries too (the status filter
 * reaches the kernel only with -L): never-replied is decided from the dump.
 * The holds must be in place before the delete, or the old peer's next
 * packet re-creates the reversed entry in the moment between (the daemon's
 * test (b2) fails without the wide hold), and a hold names the clients,
 * which only a listing knows: here the dump; in one walk, the wide hold
 * stands in until the `-D` has listed them.
 */

import { choose, type Flow, flowKey } from "../conntrack/flow.ts";
import { parseTable } from "../conntrack/parse.ts";
import type { Host } from "../host/host.ts";
import type { AddrMatch, PortMatch } from "../net/match.ts";
import { formatIp, parsePrefix } from "../net/ip.ts";
import { PORT_PROTOS } from "../net/proto.ts";
import { markText, type Selector } from "../plan/selector.ts";
import { installHolds, needsTombstone } from "./holds.ts";
import { type BackendResult, countChange, emptyResult } from "./result.ts";
import { KMOD_PATH } from "../base/paths.ts";

/** A tuple field conntrack-tools can filter on, with its option. */
export const FIELDS = {
  "dst": "-d",
  "dport": "--dport",
  "reply-src": "-r",
  "reply-sport": "--reply-port-src",
  "src": "-s",
  "sport": "--sport",
  "reply-dst": "-q",
  "reply-dport": "--reply-port-dst",
  // conntrack-tools' mark filter, VALUE/MASK: only ever a dump's narrowing (mwan3's interface marks)
  "mark": "--mark",
} as const;

/** A conntrack-tools filter field. */
export type FilterField = keyof typeof FIELDS;

/** The fields of each grouping level, coarse to fine: the service side, then the client, then all. */
const LEVELS: readonly (readonly FilterField[])[] = [
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
    case "mark":
      return f.mark === undefined ? null : String(f.mark);
  }
}

/** The filter of one grouping level that a flow falls under. */
function filterFor(f: Flow, fields: readonly FilterField[]): CtFilter {
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

/** Past this many chosen flows from a never-replied dump, one more dump (a walk) costs less than a walk per flow. */
export const FULL_TUPLE_MAX = 4;

/** conntrack-tools' option of each filter field (the -L narrowing as fields). */
const OPTION_FIELD = new Map(Object.entries(FIELDS).map(([k, opt]) => [opt as string, k as FilterField]));

/** The filter fields and values an `-L` argument list narrows the dump by. */
export function narrowedBy(argv: readonly string[]): Partial<Record<FilterField, string>> {
  const out: Partial<Record<FilterField, string>> = {};
  for (let i = 0; i < argv.length - 1; i++) {
    const k = OPTION_FIELD.get(argv[i]);
    if (k !== undefined) out[k] = argv[++i];
  }
  return out;
}

/** A set of chosen flows deleted by one `conntrack -D`. */
export interface DeleteGroup {
  filter: CtFilter;
  flows: Flow[];
}

/** What a dump shows: the fields it was narrowed by (per family), and whether only never-replied entries. */
export interface DumpView {
  narrowed: Partial<Record<4 | 6, Partial<Record<FilterField, string>>>>;
  unrepliedOnly: boolean;
}

/**
 * Groups the chosen flows under the coarsest filter level whose key no
 * unchosen flow of the dump shares; what no level separates is deleted by
 * its full tuple (a tuple is unique in its zone). Each filter keeps the
 * dump's narrowing, so it matches nothing the dump did not show; a dump of
 * never-replied entries only gives full tuples.
 */
export function deleteGroups(
  flows: readonly Flow[], chosen: ReadonlySet<Flow>, view: DumpView = { narrowed: {}, unrepliedOnly: false },
): DeleteGroup[] {
  const groups: DeleteGroup[] = [];
  let left = flows.filter((f) => chosen.has(f));
  for (let level = view.unrepliedOnly ? LEVELS.length - 1 : 0; level < LEVELS.length && left.length; level++) {
    const fields = LEVELS[level];
    const last = level === LEVELS.length - 1;
    const byKey = new Map<string, DeleteGroup>();
    for (const f of left) {
      const filter = withNarrowing(filterFor(f, fields), view);
      const k = filterKey(filter);
      const g = byKey.get(k);
      if (g) g.flows.push(f);
      else byKey.set(k, { filter, flows: [f] });
    }
    if (!last) {
      const protos = new Set(left.map((f) => `${f.family}/${f.proto}`));
      for (const f of flows) {
        if (chosen.has(f) || !protos.has(`${f.family}/${f.proto}`)) continue;
        byKey.delete(filterKey(withNarrowing(filterFor(f, fields), view)));
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

/** A filter with the dump's narrowing of its family added (the flow's own values, which the dump matched). */
function withNarrowing(c: CtFilter, view: DumpView): CtFilter {
  const n = view.narrowed[c.family] ?? {};
  const ports = PORT_PROTOS.indexOf(c.proto) >= 0;
  const extra = Object.fromEntries(Object.entries(n).filter(([k]) => ports || !k.endsWith("port")));
  return { ...c, values: { ...extra, ...c.values } };
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
  if (s.mark) m.set("--mark", markText(s.mark));
  return m;
}

/**
 * `conntrack -L` arguments for one family, narrowed by every field on which
 * all the family's selectors name the same single value. conntrack-tools
 * (1.4.7, 1.4.8) filters those in userspace: the kernel still sends the
 * whole table, but few lines are printed and read. When every selector
 * wants never-replied entries only, `-u UNREPLIED` has the kernel itself
 * send only those (a dump filter; -D ignores it, so it is used with -L only),
 * unless `kernelStatus` is false (a kernel without that filter).
 */
export function listArgs(family: 4 | 6, selectors: readonly Selector[], kernelStatus = true): string[] {
  const args = ["conntrack", "-L", "-f", `ipv${family}`, "-o", "extended,id"];
  const mine = selectors.filter((s) => s.family === family);
  if (kernelStatus && mine.length && mine.every((s) => s.replied === false)) args.push("-u", "UNREPLIED");
  const maps = mine.map(singleValues);
  if (!maps.length) return args;
  const common = [...maps[0]].filter(([opt, v]) => maps.every((m) => m.get(opt) === v));
  // port options need the protocol (conntrack refuses them alone)
  const proto = common.some(([opt]) => opt === "-p");
  for (const [opt, v] of common) if (proto || !opt.startsWith("--") || opt === "--mark") args.push(opt, v);
  return args;
}

/** The tuple fields a dump around chosen flows narrows by: those every one of them has alike. */
const AROUND: readonly FilterField[] = ["src", "dst", "sport", "dport", "reply-src", "reply-dst", "reply-sport", "reply-dport"];

/**
 * `conntrack -L` arguments for every entry, replied or not, that shares
 * what all of `flows` (one family) share: their protocol and each tuple
 * field they have alike. A filter built from such a dump can reach nothing
 * it did not show.
 */
export function aroundArgs(family: 4 | 6, flows: readonly Flow[]): string[] {
  const args = ["conntrack", "-L", "-f", `ipv${family}`, "-o", "extended,id"];
  const proto = flows[0].proto;
  if (!flows.every((f) => f.proto === proto)) return args;
  args.push("-p", String(proto));
  const ports = PORT_PROTOS.indexOf(proto) >= 0;
  for (const k of AROUND) {
    if (!ports && k.endsWith("port")) continue;
    const v = fieldValue(flows[0], k);
    if (v !== null && flows.every((f) => fieldValue(f, k) === v)) args.push(FIELDS[k], v);
  }
  return args;
}

/** Whether `conntrack -D` failed, not just found nothing (it exits 1 after deleting none). */
export function deleteFailed(r: { status: number; stderr: string }): boolean {
  return r.status !== 0 && !/\b0 flow entries have been deleted/.test(r.stderr);
}

/** How the conntrack backend runs. */
export interface ConntrackOptions {
  /** Milliseconds a revoked flow's old peer is held off (0: no hold). */
  holdMs: number;
  /** Milliseconds a gone forward's hold outlasts the client's last packet (0: plain holds only). */
  tombstoneMs: number;
  /** Only report what would be done. */
  dryRun?: boolean;
  /** natnow's hold sets as the run's snapshot shows them (holds.ts); undefined or null: list them with nft. */
  holds?: readonly { name: string; empty: boolean }[] | null;
}

/** Runs the selectors against the live table with conntrack-tools. */
export function applyConntrack(host: Host, selectors: readonly Selector[], opts: ConntrackOptions): BackendResult {
  const result = emptyResult("conntrack");
  if (!selectors.length) return result;
  if (!host.findProgram("conntrack")) {
    result.errors.push("conntrack-tools is not installed (the conntrack command is missing)");
    return result;
  }
  const refresh = (f: Flow) => opts.tombstoneMs > 0 && f.dnat && needsTombstone(f, selectors);
  const dump = (kernelStatus: boolean, around: readonly Flow[] | null = null): { flows: Flow[]; view: DumpView } | null => {
    const flows: Flow[] = [];
    const view: DumpView = { narrowed: {}, unrepliedOnly: false };
    for (const fam of [4, 6] as const) {
      if (!selectors.some((s) => s.family === fam)) continue;
      const near = around?.filter((f) => f.family === fam);
      if (near && !near.length) continue;
      let argv = near ? aroundArgs(fam, near) : listArgs(fam, selectors, kernelStatus);
      let r = host.exec(argv);
      if (r.status !== 0 && argv.indexOf("UNREPLIED") >= 0) {
        // a kernel without the status dump filter: the whole table, filtered here
        argv = listArgs(fam, selectors, false);
        r = host.exec(argv);
      }
      if (r.status !== 0) {
        result.errors.push(`${argv.join(" ")} failed (status ${r.status}): ${r.stderr.trim()}`);
        return null;
      }
      view.narrowed[fam] = narrowedBy(argv);
      if (argv.indexOf("UNREPLIED") >= 0) view.unrepliedOnly = true;
      const t = parseTable(r.stdout);
      // not push(...): QuickJS takes at most 65535 arguments, a table can hold millions of entries
      for (const f of t.flows) flows.push(f);
      for (const p of t.problems.slice(0, 5)) result.errors.push(`conntrack -L line ${p.line} unread: ${p.reason}`);
    }
    return { flows, view };
  };
  let d = dump(true);
  if (d === null) return result;
  let chosen = choose(d.flows, selectors);
  result.matched = chosen.length;
  if (opts.dryRun || !chosen.length) return result;
  if (d.view.unrepliedOnly && chosen.length > FULL_TUPLE_MAX) {
    // grouping needs the replied entries the kernel left out: one more walk, not one per
    // flow, narrowed to what the chosen flows share (a renew of 100 flows in a 100k table
    // reads their neighbours, not the table)
    const whole = dump(false, chosen.map((c) => c.flow));
    if (whole === null) return result;
    d = whole;
    chosen = choose(d.flows, selectors);
    result.matched = chosen.length;
    if (!chosen.length) return result;
  }
  const { flows, view } = d;

  const action = new Map(chosen.map((c) => [flowKey(c.flow), c]));
  const revokes = chosen.filter((c) => c.selector.action === "revoke").map((c) => ({ flow: c.flow, refresh: refresh(c.flow) }));
  const held = installHolds(host, revokes, opts.holdMs, opts.tombstoneMs, opts.holds);
  if (held) result.errors.push(held);

  const deleted = new Set<string>();
  // each -D walks the table: independent groups are deleted side by side
  const groups = offloadApartGroups(flows, chosen.map((c) => c.flow), view);
  const results = host.execAll(groups.map((g) => deleteArgs(g.filter)));
  for (let i = 0; i < groups.length; i++) {
    const [g, r] = [groups[i], results[i]];
    // a -D stops at its first refusal: what it listed before that is deleted
    const failed = deleteFailed(r);
    if (failed) noteFailedDelete(host, result, r);
    for (const f of parseTable(r.stdout).flows) {
      const k = flowKey(f);
      const c = action.get(k);
      if (!c) {
        result.collateral++;
        continue;
      }
      deleted.add(k);
      const what = c.selector.action === "renew" ? "renewed" : "revoked";
      result[what]++;
      countChange(result, c.selector.reason, what);
    }
    if (!failed) continue;
    for (const f of g.flows) {
      if (deleted.has(flowKey(f))) continue;
      result.failed++;
      deleted.add(flowKey(f)); // not gone: failed
    }
  }
  for (const c of chosen) if (!deleted.has(flowKey(c.flow))) result.gone++;
  return result;
}

/**
 * The chosen flows' `-D` groups, offloaded flows (fw4's flow_offloading)
 * in groups of their own: a kernel whose ctnetlink refuses to delete an
 * offloaded entry (EBUSY, before 6.4 and its stable backports) makes
 * conntrack-tools stop that `-D` at the first one, which must not cost the
 * other flows their delete. Each set sees the other as bystanders, so no
 * filter of one matches a flow of the other.
 */
export function offloadApartGroups(flows: readonly Flow[], chosen: readonly Flow[], view?: DumpView): DeleteGroup[] {
  const offloaded = new Set(chosen.filter((f) => f.offload !== undefined));
  const plain = new Set(chosen.filter((f) => f.offload === undefined));
  return [...deleteGroups(flows, plain, view), ...deleteGroups(flows, offloaded, view)];
}

/** What conntrack-tools says when ctnetlink refuses a delete with EBUSY. */
const BUSY = /\bDevice or resource busy\b/;

/** Why deleting offloaded entries failed, and what does it instead. */
function offloadRefusedReason(kmodLoaded: boolean): string {
  return "this kernel's ctnetlink refuses to delete offloaded entries (before 6.4); " +
    (kmodLoaded ? "natnow.ko is loaded: use backend 'kmod' (or 'auto'), which deletes them in the kernel" : "load kmod-natnow");
}

/** Reports a `conntrack -D` that failed: once with the reason when the kernel refused offloaded entries. */
function noteFailedDelete(host: Host, result: BackendResult, r: { status: number; stderr: string }): void {
  if (BUSY.test(r.stderr)) {
    const msg = `conntrack -D: ${offloadRefusedReason(host.exists(KMOD_PATH))}`;
    if (result.errors.indexOf(msg) < 0) result.errors.push(msg);
    return;
  }
  if (result.errors.length < 20) result.errors.push(`conntrack -D failed (status ${r.status}): ${r.stderr.trim()}`);
}
