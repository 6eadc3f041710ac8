/**
 * Address and port matches: the basic vocabulary the firewall model, the
 * ruleset reader, the planner, the flow matcher and the backends share.
 */

import { parsePrefix, type Prefix, prefixCovers } from "./ip.ts";

/** A port or port range. */
export interface PortRange {
  min: number;
  max: number;
}

/** Addresses a rule matches: any of `pos` (empty = any), none of `neg`; canonical prefixes. */
export interface AddrMatch {
  pos: string[];
  neg: string[];
}

/** Ports a rule matches: any of `pos` (empty = any), none of `neg`. */
export interface PortMatch {
  pos: PortRange[];
  neg: PortRange[];
}

function prefixOf(p: string): Prefix {
  const x = parsePrefix(p);
  if (!x) throw new Error(`'${p}' is not a prefix`);
  return x;
}

const uniq = <T>(list: T[]): T[] => [...new Set(list)];

/** The addresses both matches hold; null when they share none. */
export function intersectAddrs(a: AddrMatch, b: AddrMatch): AddrMatch | null {
  const neg = uniq([...a.neg, ...b.neg]);
  if (!a.pos.length || !b.pos.length) return { pos: a.pos.length ? a.pos : b.pos, neg };
  const pos: string[] = [];
  for (const p of a.pos) {
    for (const q of b.pos) {
      const [x, y] = [prefixOf(p), prefixOf(q)];
      if (prefixCovers(x, y)) pos.push(q);
      else if (prefixCovers(y, x)) pos.push(p);
    }
  }
  return pos.length ? { pos: uniq(pos), neg } : null;
}

/** The ports both matches hold; null when they share none. */
export function intersectPorts(a: PortMatch, b: PortMatch): PortMatch | null {
  const neg = [...a.neg, ...b.neg].filter((r, i, all) => all.findIndex((x) => x.min === r.min && x.max === r.max) === i);
  if (!a.pos.length || !b.pos.length) return { pos: a.pos.length ? a.pos : b.pos, neg };
  const pos: PortRange[] = [];
  for (const p of a.pos) {
    for (const q of b.pos) {
      const min = Math.max(p.min, q.min);
      const max = Math.min(p.max, q.max);
      if (min <= max && !pos.some((r) => r.min === min && r.max === max)) pos.push({ min, max });
    }
  }
  // a positive range entirely inside a negated one matches nothing
  const live = pos.filter((r) => !neg.some((n) => n.min <= r.min && n.max >= r.max));
  return live.length ? { pos: live, neg } : null;
}

/** A prefix in words: a host prefix without its length. */
function hostText(p: string): string {
  return p.endsWith("/32") || p.endsWith("/128") ? p.slice(0, p.lastIndexOf("/")) : p;
}

/** An address match in words: `198.18.1.0/24,!198.18.1.1` ("" for any). */
export function addrMatchText(m: AddrMatch): string {
  return [...m.pos.map(hostText), ...m.neg.map((p) => "!" + hostText(p))].join(",");
}

/** A port range in words: `5060` or `5000-5100`. */
export function portRangeText(r: PortRange): string {
  return r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`;
}

/** A port match in words: `5060,!5061` ("" for any). */
export function portMatchText(m: PortMatch): string {
  return [...m.pos.map(portRangeText), ...m.neg.map((r) => "!" + portRangeText(r))].join(",");
}
