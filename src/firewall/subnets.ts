/**
 * fw4's address and family helpers (`fw4.uc` subnets_split_af,
 * subnets_group_by_masking, infer_family, ensure_tcpudp) and how one rule
 * of a redirect or nat section becomes a NatRule.
 */

import { formatIp, formatPrefix, prefix, rangeToPrefixes } from "../net/ip.ts";
import type { NatAction, NatRule } from "../model/nat.ts";
import type { AddrMatch, PortMatch } from "../net/match.ts";
import type { AddrItem, NetworkValue, PortValue, ProtoValue } from "./values.ts";

/** Address items split by family, each with its negation. */
export type Split = { 4: (AddrItem & { invert: boolean })[]; 6: (AddrItem & { invert: boolean })[] };

/** fw4 subnets_split_af. */
export function splitAf(values: (NetworkValue | null | undefined)[]): Split {
  const rv: Split = { 4: [], 6: [] };
  for (const v of values) {
    if (!v) continue;
    for (const a of v.addrs) rv[a.family].push({ ...a, invert: v.invert });
  }
  return rv;
}

/** One rule's address group. */
export type Group = { pos: (AddrItem & { invert: boolean })[]; neg: (AddrItem & { invert: boolean })[]; masked: boolean };

/** fw4 subnets_group_by_masking: one rule per non-inverted masked address, plus one for the rest. */
export function groupByMasking(list: (AddrItem & { invert: boolean })[]): Group[] {
  const nc = list.filter((a) => a.kind === "masked" && !a.invert);
  const plain = list.filter((a) => a.kind !== "masked" && !a.invert);
  const invMasked = list.filter((a) => a.kind === "masked" && a.invert);
  const invPlain = list.filter((a) => a.kind !== "masked" && a.invert);
  const groups: Group[] = nc.map(() => ({ pos: [], neg: invPlain, masked: true }));
  if (plain.length) groups.push({ pos: plain, neg: invPlain, masked: invMasked.length > 0 });
  else if (!groups.length) groups.push({ pos: [], neg: invPlain, masked: invMasked.length > 0 });
  return groups;
}

/** An address item as canonical prefixes (ranges become exact prefix sets). */
export function prefixesOf(a: AddrItem): string[] {
  if (a.kind === "range") return rangeToPrefixes(a.addr, a.addr2).map(formatPrefix);
  if (a.kind === "masked") return [];
  return [formatPrefix(prefix(a.addr, a.bits))];
}

/** A group as an address match. */
export function addrMatch(g: Group | null): AddrMatch {
  if (!g) return { pos: [], neg: [] };
  return { pos: g.pos.flatMap(prefixesOf), neg: g.neg.flatMap(prefixesOf) };
}

/** A port option as a port match. */
export function portMatch(p: PortValue | null | undefined): PortMatch {
  if (!p) return { pos: [], neg: [] };
  const r = { min: p.min, max: p.max };
  return p.invert ? { pos: [], neg: [r] } : { pos: [r], neg: [] };
}

/** Address items with their negation. */
export type AddrList = (AddrItem & { invert: boolean })[];

/** One rule as fw4's add_rule (parse_redirect, parse_nat) builds it. */
export function natRule(r: {
  label: string; hook: NatRule["hook"]; action: NatAction; family: 0 | 4 | 6; proto: ProtoValue;
  zone: string | null; sg: Group | null; dg: Group | null; sport: PortValue | null; dport: PortValue | null;
  raddr: AddrList | null; rport: PortValue | null; unbounded: string | null;
}): NatRule {
  const to = r.raddr && r.raddr.length ? r.raddr[0] : null;
  return {
    label: r.label,
    hook: r.hook,
    action: r.action,
    family: r.family,
    proto: r.proto.any ? null : r.proto.name,
    zone: r.zone,
    src: addrMatch(r.sg),
    dst: addrMatch(r.dg),
    sport: portMatch(r.sport),
    dport: portMatch(r.dport),
    toAddr: to ? formatIp(to.addr) : null,
    toPort: r.rport ? { min: r.rport.min, max: r.rport.max } : null,
    unbounded: r.unbounded ?? (r.sg?.masked || r.dg?.masked ? "uses a non-contiguous mask" : null),
  };
}

/** fw4 infer_family: the family, or fw4's conflict message. */
export function inferFamily(
  f: 0 | 4 | 6 | null,
  objects: [{ family: 0 | 4 | 6 | null } | null | undefined, string][],
): 0 | 4 | 6 | null | string {
  let res = f;
  let by: string | null = null;
  for (const [obj, desc] of objects) {
    if (!obj || !obj.family || obj.family === res) continue;
    if (!res) {
      res = obj.family;
      by = desc;
      continue;
    }
    return by
      ? `references IPv${obj.family} only ${desc} but is restricted to IPv${res} by ${by}`
      : `is restricted to IPv${res} but referenced ${desc} is IPv${obj.family} only`;
  }
  return res;
}

/** The family a split address list restricts to (fw4 sets rv.family). */
export function splitFamily(s: Split): { family: 0 | 4 | 6 | null } {
  if (!s[4].length && !s[6].length) return { family: null };
  return { family: s[4].length && s[6].length ? 0 : s[4].length ? 4 : 6 };
}

/** fw4 ensure_tcpudp: `all` becomes tcp+udp when ports are given. */
export function ensureTcpUdp(x: ProtoValue[]): boolean {
  if (x.some((p) => p.name === "tcp" || p.name === "udp")) return true;
  const rest = x.filter((p) => !p.any);
  if (x.some((p) => p.any) && !rest.length) {
    x.splice(0, x.length, { invert: false, any: false, name: "tcp" }, { invert: false, any: false, name: "udp" });
    return true;
  }
  return false;
}
