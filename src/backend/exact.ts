/**
 * Exact `conntrack -D` filters: a revoke selector whose flows conntrack-tools
 * can name with its own filter options, so that one `-D` deletes exactly
 * them without a dump first (onewalk.ts). What a `-D` of conntrack-tools
 * 1.4.7 and 1.4.8 can say (checked on the real tools, both versions):
 *
 * - one value per tuple field (`-s -d -r -q` and the four ports); the
 *   original source and destination may be prefixes (it masks them), the
 *   reply addresses are hosts only ("CIDR notation unavailable");
 * - `--dst-nat` / `--src-nat` without an address: translated entries, as
 *   libnetfilter_conntrack judges them (the NAT_DONE status bit and a tuple
 *   that differs). It compares only the first 32 bits of an address (the
 *   IPv4 member of a union), and older releases read ICMP's id as a port, so
 *   natnow uses them for IPv4 port protocols only;
 * - no negation, no port range, no list of values, no "except", and no
 *   status: `-D` ignores status filters, so "replied" or "never replied"
 *   cannot be asked for.
 *
 * A selector that needs any of those has no exact filter, and the run takes
 * the dump (conntrack.ts), which decides in userspace with the planner's own
 * matcher. So do fw4's zone scopes ("not the other zones' subnets, not the
 * router's own addresses"): a port forward from a zone, without a source
 * address of its own, is revoked by the dump.
 */

import { type FilterField, FIELDS } from "./conntrack.ts";
import { formatIp, formatPrefix, parsePrefix, type Prefix, prefixCovers } from "../net/ip.ts";
import type { AddrMatch, PortMatch } from "../net/match.ts";
import { PORT_PROTOS } from "../net/proto.ts";
import { type FlowMatch, markText, type Selector } from "../plan/selector.ts";

/** A value, or why there is none. */
export type Got<T> = { ok: T } | { why: string };

/** A `conntrack -D` filter that selects exactly one selector's flows (in every zone). */
export interface ExactFilter {
  family: 4 | 6;
  proto: number;
  /** One value per field; `src` and `dst` may be prefixes. */
  values: Partial<Record<FilterField, string>>;
  /** Translated entries only: `--dst-nat`, `--src-nat`. */
  nat: string[];
  /** Whether every selected entry has a destination / source NAT (null: either); what the values and `nat` imply. */
  dnat: boolean | null;
  snat: boolean | null;
}

const overlap = (a: Prefix, b: Prefix) => prefixCovers(a, b) || prefixCovers(b, a);

/** An address match as one conntrack-tools value (null: any address), prefixes only where `prefixes`. */
export function addrValue(m: AddrMatch, prefixes: boolean): Got<string | null> {
  if (!m.pos.length) return m.neg.length ? { why: `excludes ${m.neg.join(",")} (conntrack-tools has no negation)` } : { ok: null };
  if (m.pos.length > 1) return { why: `names ${m.pos.length} prefixes (conntrack-tools takes one value)` };
  const p = parsePrefix(m.pos[0]);
  if (!p) return { why: `'${m.pos[0]}' is no prefix` };
  // an exclusion outside the prefix changes nothing; one inside it cannot be said
  const inside = m.neg.filter((n) => {
    const q = parsePrefix(n);
    return q === null || overlap(p, q);
  });
  if (inside.length) return { why: `excludes ${inside.join(",")} (conntrack-tools has no negation)` };
  const host = p.bits === p.addr.length * 8;
  if (p.bits === 0) return { ok: null };
  if (!host && !prefixes) return { why: `'${m.pos[0]}' is a prefix where conntrack-tools takes hosts only` };
  return { ok: host ? formatIp(p.addr) : formatPrefix(p) };
}

/** A port match as one conntrack-tools value (null: any port). */
export function portValue(m: PortMatch): Got<string | null> {
  if (!m.pos.length) return m.neg.length ? { why: "excludes ports (conntrack-tools has no negation)" } : { ok: null };
  const [r] = m.pos;
  if (m.pos.length > 1 || r.min !== r.max) return { why: "names a port range (conntrack-tools takes one port)" };
  if (m.neg.some((n) => r.min >= n.min && r.min <= n.max)) return { why: "matches no port" };
  return { ok: String(r.min) };
}

/** The selector's tuple fields as filter values. */
function tupleValues(s: Selector, ports: boolean): Got<Partial<Record<FilterField, string>>> {
  const values: Partial<Record<FilterField, string>> = {};
  const addrs: [FilterField, AddrMatch, boolean][] = [
    ["src", s.origSrc, true], ["dst", s.origDst, true], ["reply-src", s.replySrc, false], ["reply-dst", s.replyDst, false],
  ];
  for (const [k, m, prefixes] of addrs) {
    const v = addrValue(m, prefixes);
    if ("why" in v) return { why: `${k} ${v.why}` };
    if (v.ok !== null) values[k] = v.ok;
  }
  const portFields: [FilterField, PortMatch][] = [
    ["sport", s.origSport], ["dport", s.origDport], ["reply-sport", s.replySport], ["reply-dport", s.replyDport],
  ];
  for (const [k, m] of portFields) {
    // a flow without ports fails any positive port match: such a selector matches nothing
    if (!ports) {
      if (m.pos.length) return { why: `${k} on a protocol without ports matches nothing` };
      continue;
    }
    const v = portValue(m);
    if ("why" in v) return { why: `${k} ${v.why}` };
    if (v.ok !== null) values[k] = v.ok;
  }
  return { ok: values };
}

/**
 * What the values say of a translation, as natnow reads it from the tuples
 * (conntrack/parse.ts): translated when the reply's address (`replyAddr`)
 * or port differs from the original's; null when the values leave it open.
 */
export function impliedNat(
  values: Partial<Record<FilterField, string>>, ports: boolean,
  orig: ["dst", "dport"] | ["src", "sport"], reply: ["reply-src", "reply-sport"] | ["reply-dst", "reply-dport"],
): boolean | null {
  const host = (v: string | undefined) => (v !== undefined && v.indexOf("/") < 0 ? v : undefined);
  const [oa, ra] = [host(values[orig[0]]), host(values[reply[0]])];
  const [op, rp] = [values[orig[1]], values[reply[1]]];
  if (oa !== undefined && ra !== undefined && oa !== ra) return true;
  if (ports && op !== undefined && rp !== undefined && op !== rp) return true;
  const samePorts = !ports || (op !== undefined && op === rp);
  return oa !== undefined && oa === ra && samePorts ? false : null;
}

/** How a selector's `dnat`/`snat` condition is said: implied by the values, an option, or not at all. */
function natCondition(want: boolean | null, implied: boolean | null, option: string, canFlag: boolean): Got<string | null> {
  if (want === null || want === implied) return { ok: null };
  if (implied !== null) return { why: `${option.slice(2)} contradicts its tuple values (matches nothing)` };
  if (!want) return { why: `no ${option.slice(2)} cannot be said to conntrack-tools` };
  return canFlag ? { ok: option } : { why: `${option} is unreliable here (IPv6 or a protocol without ports)` };
}

/** Whether no flow of the filter can match `k` (so a keep of `k` leaves the filter's flows whole). */
export function outside(f: ExactFilter, k: FlowMatch): boolean {
  if (k.family !== f.family || (k.proto !== null && k.proto !== f.proto)) return true;
  if ((k.dnat !== null && f.dnat !== null && k.dnat !== f.dnat) || (k.snat !== null && f.snat !== null && k.snat !== f.snat)) return true;
  const addrMiss = (v: string | undefined, m: AddrMatch) => {
    const p = v === undefined ? null : parsePrefix(v);
    if (p === null) return false;
    const ps = (list: string[]) => list.map(parsePrefix).filter((x) => x !== null);
    return (m.pos.length > 0 && !ps(m.pos).some((q) => overlap(p, q))) || ps(m.neg).some((q) => prefixCovers(q, p));
  };
  const v = f.values;
  if (addrMiss(v.src, k.origSrc) || addrMiss(v.dst, k.origDst) || addrMiss(v["reply-src"], k.replySrc) ||
    addrMiss(v["reply-dst"], k.replyDst)) return true;
  const ports = PORT_PROTOS.indexOf(f.proto) >= 0;
  const portMiss = (x: string | undefined, m: PortMatch) => {
    if (!ports) return m.pos.length > 0;
    if (x === undefined) return false;
    const n = Number(x);
    const has = (rs: { min: number; max: number }[]) => rs.some((r) => n >= r.min && n <= r.max);
    return (m.pos.length > 0 && !has(m.pos)) || has(m.neg);
  };
  return portMiss(v.sport, k.origSport) || portMiss(v.dport, k.origDport) || portMiss(v["reply-sport"], k.replySport) ||
    portMiss(v["reply-dport"], k.replyDport);
}

/** The selector conditions this file says to conntrack-tools (or knows to be no condition). */
const KNOWN = new Set([
  "family", "proto", "origSrc", "origDst", "origSport", "origDport", "replySrc", "replyDst", "replySport", "replyDport",
  "dnat", "snat", "replied", "action", "reason", "keep", "mark",
]);

/**
 * A revoke selector's exact `-D` filter, or why it has none. Any condition
 * not known here (one added to selectors later) makes the selector narrower
 * than a filter without it: no exact filter. It must also
 * name the old peer for port protocols (one reply source address and port):
 * the wide hold that stands in for the dump is keyed on it (widehold.ts).
 */
export function exactFilter(s: Selector): Got<ExactFilter> {
  if (s.action !== "revoke") return { why: "a renew (one walk is for revokes)" };
  const unknown = Object.keys(s).filter((k) => !KNOWN.has(k) && (s as unknown as Record<string, unknown>)[k] !== undefined);
  if (unknown.length) return { why: `matches on ${unknown.join(", ")} too (not said to -D here)` };
  if (s.replied !== null) return { why: "asks for replied or never-replied entries (-D ignores status filters)" };
  if (s.proto === null) return { why: "any protocol (the hold needs one)" };
  const ports = PORT_PROTOS.indexOf(s.proto) >= 0;
  const t = tupleValues(s, ports);
  if ("why" in t) return t;
  const values = t.ok;
  // a mark (mwan3's interfaces) is one value to conntrack-tools too: the filter must not be wider than the selector
  if (s.mark) values.mark = markText(s.mark);
  if (ports && (values["reply-src"] === undefined || values["reply-sport"] === undefined)) {
    return { why: "names no single old peer (reply source address and port) to hold off before the delete" };
  }
  const flag = s.family === 4 && ports;
  const dImplied = impliedNat(values, ports, ["dst", "dport"], ["reply-src", "reply-sport"]);
  const sImplied = impliedNat(values, ports, ["src", "sport"], ["reply-dst", "reply-dport"]);
  const d = natCondition(s.dnat, dImplied, "--dst-nat", flag);
  if ("why" in d) return d;
  const sn = natCondition(s.snat, sImplied, "--src-nat", flag);
  if ("why" in sn) return sn;
  const f: ExactFilter = {
    family: s.family, proto: s.proto, values, nat: [d.ok, sn.ok].filter((x) => x !== null),
    dnat: s.dnat ?? dImplied, snat: s.snat ?? sImplied,
  };
  const kept = s.keep.find((k) => !outside(f, k));
  if (kept) return { why: "keeps flows the filter would take (conntrack-tools has no except)" };
  return { ok: f };
}

/** A filter as a map key. */
function exactKey(f: ExactFilter): string {
  return exactArgs(f).join(" ");
}

/** The exact filters of all selectors (duplicates once), or why one has none. */
export function exactFilters(selectors: readonly Selector[]): Got<ExactFilter[]> {
  if (!selectors.length) return { why: "no selectors" };
  const out = new Map<string, ExactFilter>();
  for (const s of selectors) {
    const f = exactFilter(s);
    if ("why" in f) return { why: `${s.reason}: ${f.why}` };
    out.set(exactKey(f.ok), f.ok);
  }
  return { ok: [...out.values()] };
}

/** `conntrack -D` arguments for an exact filter (every zone; listing what it deletes). */
export function exactArgs(f: ExactFilter): string[] {
  const args = ["conntrack", "-D", "-f", `ipv${f.family}`, "-p", String(f.proto)];
  for (const k of Object.keys(FIELDS) as FilterField[]) {
    const v = f.values[k];
    if (v !== undefined) args.push(FIELDS[k], v);
  }
  return [...args, ...f.nat, "-o", "extended,id"];
}
