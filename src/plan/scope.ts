/**
 * Rule scopes: the flows a NAT rule applies to, as the address and port
 * sets conntrack keeps. conntrack keeps addresses and ports, not
 * interfaces, so a rule's zone becomes an address scope: an internal zone
 * (known subnets, no masquerading, no default route) is its subnets; an
 * upstream zone is "none of the subnets of the router's other networks".
 * srcnat rules see the destination after DNAT, which conntrack keeps as
 * the reply source. Anything that cannot be bounded throws Unbounded.
 */

import { type NatModel, type NatRule, type NetworkModel, routerAddresses, type ZoneModel } from "../model/nat.ts";
import type { AddrMatch, PortMatch } from "../net/match.ts";
import { formatPrefix, parseIp, parsePrefix, type Prefix, prefixCovers, rangeToPrefixes, textFamily } from "../net/ip.ts";
import { PORT_PROTOS, protoNumber } from "../net/proto.ts";
import { ANY_ADDR, ANY_PORT, type FlowMatch } from "./selector.ts";

/** A rule whose flows conntrack's fields cannot bound. */
export class Unbounded extends Error {}

/** A NAT target (an address, or an `A-B` range) as prefixes. */
export function targetPrefixes(to: string): string[] {
  const dash = to.indexOf("-");
  if (dash < 0) return [hostOf(to)];
  const lo = parseIp(to.slice(0, dash));
  const hi = parseIp(to.slice(dash + 1));
  if (!lo || !hi || lo.length !== hi.length) throw new Unbounded(`'${to}' is not an address range`);
  return rangeToPrefixes(lo, hi).map(formatPrefix);
}

/** The part of an address set in one family. */
function only(m: AddrMatch, fam: 4 | 6): AddrMatch {
  return { pos: m.pos.filter((p) => textFamily(p) === fam), neg: m.neg.filter((p) => textFamily(p) === fam) };
}

/** A list without repeats, in order. */
function uniq(list: string[]): string[] {
  return [...new Set(list)];
}

/** Address scopes of zones, for one side of a change. */
export class Scopes {
  private readonly zones: ZoneModel[];
  private readonly networks: NetworkModel[];

  constructor(m: Pick<NatModel, "zones" | "networks">) {
    this.zones = m.zones;
    this.networks = m.networks;
  }

  private zone(name: string): ZoneModel {
    const z = this.zones.find((x) => x.name === name);
    if (!z) throw new Unbounded(`zone '${name}' is unknown`);
    return z;
  }

  private known(z: ZoneModel): void {
    if (z.unresolved.length) {
      throw new Unbounded(
        `zone '${z.name}': network ${z.unresolved.map((n) => `'${n}'`).join(", ")} unknown to the runtime facts`,
      );
    }
    if (!z.subnets.length && z.devices.length && !z.upstream) {
      throw new Unbounded(`zone '${z.name}' is matched by device only; its addresses are unknown`);
    }
  }

  /** All of the router's own addresses, on every network it has. */
  routerAddresses(): string[] {
    return routerAddresses({ zones: this.zones, networks: this.networks });
  }

  /** The router's addresses in one zone (where masquerading maps to). */
  zoneAddresses(name: string | null): string[] {
    if (name === null) return this.routerAddresses();
    const z = this.zone(name);
    this.known(z);
    if (!z.addresses.length) throw new Unbounded(`zone '${name}' has no known address`);
    return z.addresses;
  }

  /**
   * Where traffic of a zone comes from (dstnat) or goes to (srcnat), as
   * addresses; null when the zone matches no traffic at all.
   */
  scope(name: string | null): AddrMatch | null {
    const router = this.routerAddresses();
    if (name === null) return { pos: [], neg: router };
    const z = this.zone(name);
    if (z.empty) return null;
    this.known(z);
    if (!z.upstream && z.subnets.length) return { pos: z.subnets, neg: router };
    // upstream: anything but what the router reaches on its other networks
    const others = this.zones.filter((o) => o.name !== name);
    for (const o of others) this.known(o);
    const mine = new Set(z.networks);
    const elsewhere = [
      ...this.networks.filter((n) => !mine.has(n.name)).flatMap((n) => n.subnets),
      ...others.flatMap((o) => o.subnets),
    ];
    return { pos: [], neg: uniq([...elsewhere.filter((p) => z.subnets.indexOf(p) < 0), ...router]) };
  }
}

/** A prefix, parsed; Unbounded when it is none. */
function prefixOf(p: string): Prefix {
  const x = parsePrefix(p);
  if (!x) throw new Unbounded(`'${p}' is not a prefix`);
  return x;
}

/** Drops prefixes another one in the list covers. */
function compact(list: string[]): string[] {
  const ps = uniq(list).map((p) => [p, prefixOf(p)] as const);
  return ps.filter(([p, x]) => !ps.some(([q, y]) => q !== p && prefixCovers(y, x))).map(([p]) => p);
}

/**
 * The same address set written plainly: no prefix inside another, no
 * negation outside the positive list; null when the set is empty (which
 * must never be read as "any").
 */
function tidy(m: AddrMatch): AddrMatch | null {
  const neg = compact(m.neg).map((p) => [p, prefixOf(p)] as const);
  if (!m.pos.length) return { pos: [], neg: neg.map(([p]) => p) };
  const pos = compact(m.pos).filter((p) => !neg.some(([, n]) => prefixCovers(n, prefixOf(p))));
  if (!pos.length) return null;
  const inside = neg.filter(([, n]) => pos.some((p) => prefixCovers(prefixOf(p), n)));
  return { pos, neg: inside.map(([p]) => p) };
}

/** Whether two address sets surely share no address (both list prefixes, none overlapping). */
function disjointAddrs(a: AddrMatch, b: AddrMatch): boolean {
  if (!a.pos.length || !b.pos.length) return false;
  return !a.pos.some((p) => b.pos.some((q) => prefixCovers(prefixOf(p), prefixOf(q)) || prefixCovers(prefixOf(q), prefixOf(p))));
}

/** Whether two matches surely select no common flow. */
export function disjoint(a: FlowMatch, b: FlowMatch): boolean {
  return (a.proto !== null && b.proto !== null && a.proto !== b.proto) ||
    disjointAddrs(a.origSrc, b.origSrc) || disjointAddrs(a.origDst, b.origDst) ||
    disjointAddrs(a.replySrc, b.replySrc) || disjointAddrs(a.replyDst, b.replyDst);
}

/** A FlowMatch with tidy address sets, or null when it matches nothing. */
export function tidyMatch<T extends FlowMatch>(m: T): T | null {
  const origSrc = tidy(m.origSrc);
  const origDst = tidy(m.origDst);
  const replySrc = tidy(m.replySrc);
  const replyDst = tidy(m.replyDst);
  if (!origSrc || !origDst || !replySrc || !replyDst) return null;
  return { ...m, origSrc, origDst, replySrc, replyDst };
}

/** A rule's addresses within its zone's scope. */
function merge(rule: AddrMatch, scope: AddrMatch): AddrMatch {
  // explicit addresses in the rule are what fw4 matches; the zone scope
  // then only removes addresses that cannot be the zone's
  return rule.pos.length
    ? { pos: rule.pos, neg: uniq([...rule.neg, ...scope.neg]) }
    : { pos: scope.pos, neg: uniq([...rule.neg, ...scope.neg]) };
}

/** An address as a host prefix. */
function hostOf(addr: string): string {
  const p = parsePrefix(addr);
  if (!p) throw new Unbounded(`'${addr}' is not an address`);
  return `${addr}/${p.bits}`;
}

/** A NAT port range as a port match (null: any port). */
export function ports(r: { min: number; max: number } | null): PortMatch {
  return r ? { pos: [r], neg: [] } : ANY_PORT;
}

/** A rule's match side: the FlowMatch fields a rule decides by (`dnat`: a srcnat rule's `ct status dnat`). */
export type Match = Pick<FlowMatch, "family" | "proto" | "origSrc" | "origDst" | "origSport" | "origDport" | "replySrc" | "replySport" | "dnat">;

/** A rule's match side as a FlowMatch. */
export function asFlowMatch(m: Match): FlowMatch {
  return { ...m, replyDst: ANY_ADDR, replyDport: ANY_PORT, snat: null, replied: null };
}

/**
 * The flows a rule's readable part applies to: a superset of its flows
 * when natnow cannot read it whole (the readers keep every match they read),
 * widened to any zone, then any protocol, where those cannot be bounded.
 */
export function readableMatch(rule: NatRule, scopes: Scopes): Match[] {
  const tries: NatRule[] = [
    { ...rule, unbounded: null },
    { ...rule, unbounded: null, zone: null },
    { ...rule, unbounded: null, zone: null, proto: null, sport: ANY_PORT, dport: ANY_PORT },
  ];
  for (const r of tries) {
    try {
      return ruleMatch(r, scopes);
    } catch (e) {
      if (!(e instanceof Unbounded)) throw e;
    }
  }
  // the address matches themselves are not prefixes: the rule's family is all there is
  return ruleMatch({ ...tries[2], src: ANY_ADDR, dst: ANY_ADDR }, scopes);
}

/** The flows a rule applies to, per family; [] when it applies to none. */
export function ruleMatch(rule: NatRule, scopes: Scopes): Match[] {
  if (rule.unbounded) throw new Unbounded(`${rule.label}: ${rule.unbounded}`);
  let proto: number | null = null;
  if (rule.proto !== null) {
    proto = protoNumber(rule.proto);
    if (proto === null) throw new Unbounded(`${rule.label}: protocol '${rule.proto}' is unknown to natnow`);
  }
  const hasPorts = proto !== null && PORT_PROTOS.indexOf(proto) >= 0;
  const scope = scopes.scope(rule.zone);
  if (scope === null) return [];
  // in prerouting no flow is DNATed yet: `ct status dnat` matches none there
  if (rule.hook === "dstnat" && rule.dnatStatus === true) return [];
  const out: Match[] = [];
  for (const family of rule.family === 0 ? [4, 6] as const : [rule.family]) {
    const base = {
      family,
      proto,
      origSport: hasPorts ? rule.sport : ANY_PORT,
      dnat: rule.hook === "srcnat" ? rule.dnatStatus ?? null : null,
    };
    if (rule.hook === "dstnat") {
      // nat output: the router's own flows (from any of its addresses, or the rule's)
      const router = scopes.routerAddresses();
      const src = rule.local ? (rule.src.pos.length ? rule.src : { pos: router, neg: rule.src.neg }) : merge(rule.src, scope);
      out.push({
        ...base,
        origSrc: only(src, family),
        origDst: only(rule.dst, family),
        origDport: hasPorts ? rule.dport : ANY_PORT,
        replySrc: ANY_ADDR,
        replySport: ANY_PORT,
      });
    } else {
      // srcnat sees the destination after DNAT: conntrack's reply source
      const router = scopes.routerAddresses();
      out.push({
        ...base,
        origSrc: only({ pos: rule.src.pos, neg: uniq([...rule.src.neg, ...router]) }, family),
        origDst: ANY_ADDR,
        origDport: ANY_PORT,
        replySrc: only(merge(rule.dst, scope), family),
        replySport: hasPorts ? rule.dport : ANY_PORT,
      });
    }
  }
  return out;
}

