/** Conntrack entries (flows) and selector matching: the one matcher every backend and test uses. */

import { formatIp, type IpBytes, parsePrefix, type Prefix, prefixContains } from "../net/ip.ts";
import type { AddrMatch, PortMatch } from "../net/match.ts";
import type { FlowMatch, Selector } from "../plan/selector.ts";

/** One direction of a conntrack entry. */
export interface Tuple {
  src: IpBytes;
  dst: IpBytes;
  /** Ports (or null for protocols without them). */
  sport: number | null;
  dport: number | null;
}

/** A conntrack entry as natnow sees it. */
export interface Flow {
  family: 4 | 6;
  proto: number;
  orig: Tuple;
  reply: Tuple;
  /**
   * The entry has seen traffic in the reply direction: IPS_SEEN_REPLY, or
   * reply packets counted (a flowtable's fast path forwards answers without
   * setting IPS_SEEN_REPLY, and counts them when accounting is on).
   */
  replied: boolean;
  /** IPS_DST_NAT / IPS_SRC_NAT: the entry's tuples were translated. */
  dnat: boolean;
  snat: boolean;
  zone: number;
  /** ctnetlink id, when the backend knows it. */
  id: number | null;
  /** The entry's conntrack mark (`mark=` of the listing); absent when the listing has none. */
  mark?: number;
  /**
   * IPS_OFFLOAD: a flowtable forwards the flow's packets (fw4's
   * flow_offloading) on its ingress fast path, past prerouting, conntrack
   * and the nat chains; `hardware` when the hardware holds it
   * (IPS_HW_OFFLOAD). Absent when it is not offloaded.
   */
  offload?: "software" | "hardware";
}

const prefixCache = new Map<string, Prefix>();

function cachedPrefix(p: string): Prefix {
  let v = prefixCache.get(p);
  if (!v) {
    const parsed = parsePrefix(p);
    if (!parsed) throw new Error(`selector has an invalid prefix '${p}'`);
    v = parsed;
    if (prefixCache.size > 10_000) prefixCache.clear();
    prefixCache.set(p, v);
  }
  return v;
}

/** Whether an address passes an address match. */
export function addrMatches(m: AddrMatch, a: IpBytes): boolean {
  if (m.pos.length && !m.pos.some((p) => prefixContains(cachedPrefix(p), a))) return false;
  return !m.neg.some((p) => prefixContains(cachedPrefix(p), a));
}

/** Whether a port passes a port match (a flow without ports fails any positive match). */
export function portMatches(m: PortMatch, port: number | null): boolean {
  if (port === null) return m.pos.length === 0;
  if (m.pos.length && !m.pos.some((r) => port >= r.min && port <= r.max)) return false;
  return !m.neg.some((r) => port >= r.min && port <= r.max);
}

/** Whether a flow meets a match's conditions. */
export function flowMatches(s: FlowMatch, f: Flow): boolean {
  return s.family === f.family &&
    (s.proto === null || s.proto === f.proto) &&
    (s.replied === null || s.replied === f.replied) &&
    (s.dnat === null || s.dnat === f.dnat) &&
    (s.snat === null || s.snat === f.snat) &&
    addrMatches(s.origSrc, f.orig.src) &&
    addrMatches(s.origDst, f.orig.dst) &&
    addrMatches(s.replySrc, f.reply.src) &&
    addrMatches(s.replyDst, f.reply.dst) &&
    portMatches(s.origSport, f.orig.sport) &&
    portMatches(s.origDport, f.orig.dport) &&
    portMatches(s.replySport, f.reply.sport) &&
    portMatches(s.replyDport, f.reply.dport) &&
    (s.mark === undefined || (f.mark !== undefined && ((f.mark & s.mark.mask) >>> 0) === (s.mark.value >>> 0)));
}

/** Whether a flow is in the set a selector names (and not one it keeps). */
export function selectorMatches(s: Selector, f: Flow): boolean {
  return flowMatches(s, f) && !s.keep.some((k) => flowMatches(k, f));
}

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

/** A flow's identity in the table: its original tuple and zone. */
export function flowKey(f: Flow): string {
  return `${f.family}/${f.proto}/${f.zone} ${formatIp(f.orig.src)}:${f.orig.sport} ${formatIp(f.orig.dst)}:${f.orig.dport}`;
}
