/**
 * natnow's terms of a rule: what packets it matches (family, protocol,
 * devices, addresses, ports, the router's own destination) and what it
 * does (a NAT statement, a jump, accept, return). All conditions of one
 * `Terms` must hold; a rule that is a disjunction (a set of concatenations,
 * a map, a verdict map) is a list of alternatives. Whatever conntrack
 * fields cannot describe is left out and named in `unbounded`, so the
 * terms always match a superset of the packets the rule matches.
 */

import { type AddrMatch, intersectAddrs, intersectPorts, type PortMatch, type PortRange } from "../net/match.ts";
import { PORT_PROTOS } from "../net/proto.ts";

/** Interface names a rule matches: any of `pos` (null = any), none of `neg`. */
export interface DeviceMatch {
  pos: string[] | null;
  neg: string[];
}

/** The packets a rule (or a path of jumps) matches. */
export interface Terms {
  /** 0 = both families. */
  family: 0 | 4 | 6;
  /** IP protocol numbers; null = any. */
  protos: number[] | null;
  protoNeg: number[];
  iif: DeviceMatch;
  oif: DeviceMatch;
  src: AddrMatch;
  dst: AddrMatch;
  sport: PortMatch;
  dport: PortMatch;
  /** `th` ports were matched: only protocols with ports can match. */
  ports: boolean;
  /** `ct status dnat` (true) or `ct status & dnat == 0` (false): the flow was (not) DNATed before; null = either. */
  dnat: boolean | null;
  /** `fib daddr type local` (true) or `!= local` (false): the destination is (not) one of the router's own addresses. */
  local: boolean | null;
  /** The matches contradict each other: no packet matches. */
  never: boolean;
  /** Why these terms are wider than the rule (matches natnow could not read, "; "-joined), if so. */
  unbounded: string | null;
}

/** A NAT statement. */
export interface NatStatement {
  action: "dnat" | "snat" | "masquerade" | "redirect";
  /** The family the statement is for (`dnat ip to`), 0 = the rule's. */
  family: 0 | 4 | 6;
  /** An address, or `A-B` for an address range; null = the router's own (masquerade, redirect). */
  toAddr: string | null;
  toPort: PortRange | null;
}

/** What a rule does when it matches (`unknown`: a statement natnow cannot read may decide). */
export type Verdict =
  | { kind: "nat"; nat: NatStatement }
  | { kind: "jump" | "goto"; target: string }
  | { kind: "accept" | "return" | "drop" | "unknown" }
  | { kind: "continue" };

/** One alternative of a rule: its terms and its verdict. */
export interface RuleTerms {
  terms: Terms;
  verdict: Verdict;
}

/** Terms that match every packet. */
export function anyTerms(family: 0 | 4 | 6 = 0): Terms {
  return {
    family, protos: null, protoNeg: [], iif: { pos: null, neg: [] }, oif: { pos: null, neg: [] },
    src: { pos: [], neg: [] }, dst: { pos: [], neg: [] }, sport: { pos: [], neg: [] }, dport: { pos: [], neg: [] },
    ports: false, dnat: null, local: null, never: false, unbounded: null,
  };
}

/** Terms that match no packet. */
export function neverTerms(): Terms {
  return { ...anyTerms(), never: true };
}

/** Two reasons (either may be absent) as one, each once. */
export function joinReasons(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return a ?? b;
  const parts = [...new Set([...a.split("; "), ...b.split("; ")])];
  return parts.join("; ");
}

/** The terms, wider than the rule for `reason`. */
export function withReason(t: Terms, reason: string): Terms {
  return { ...t, unbounded: joinReasons(t.unbounded, reason) };
}

function intersectDevices(a: DeviceMatch, b: DeviceMatch): DeviceMatch | null {
  const pos = a.pos === null ? b.pos : b.pos === null ? a.pos : a.pos.filter((d) => b.pos?.indexOf(d) !== -1);
  const neg = [...new Set([...a.neg, ...b.neg])];
  if (pos !== null && !pos.filter((d) => neg.indexOf(d) < 0).length) return null;
  return { pos: pos === null ? null : pos.filter((d) => neg.indexOf(d) < 0), neg: pos === null ? neg : [] };
}

function same<T>(a: T | null, b: T | null): boolean {
  return a === null || b === null || a === b;
}

/** Both terms at once (a jump's conditions and the target chain's rule, two matches of one rule). */
export function combineTerms(a: Terms, b: Terms): Terms {
  const out: Terms = { ...anyTerms(), unbounded: joinReasons(a.unbounded, b.unbounded), ports: a.ports || b.ports };
  if (a.never || b.never) return { ...out, never: true };
  if (a.family && b.family && a.family !== b.family) return { ...out, never: true };
  if (!same(a.dnat, b.dnat) || !same(a.local, b.local)) return { ...out, never: true };
  out.family = a.family || b.family;
  out.dnat = a.dnat ?? b.dnat;
  out.local = a.local ?? b.local;
  out.protos = a.protos === null ? b.protos : b.protos === null ? a.protos : a.protos.filter((p) => b.protos?.indexOf(p) !== -1);
  out.protoNeg = [...new Set([...a.protoNeg, ...b.protoNeg])];
  if (out.protos !== null) {
    out.protos = out.protos.filter((p) => out.protoNeg.indexOf(p) < 0);
    out.protoNeg = [];
    if (!out.protos.length) return { ...out, never: true };
  }
  const iif = intersectDevices(a.iif, b.iif);
  const oif = intersectDevices(a.oif, b.oif);
  const src = intersectAddrs(a.src, b.src);
  const dst = intersectAddrs(a.dst, b.dst);
  const sport = intersectPorts(a.sport, b.sport);
  const dport = intersectPorts(a.dport, b.dport);
  if (!iif || !oif || !src || !dst || !sport || !dport) return { ...out, never: true };
  return settle({ ...out, iif, oif, src, dst, sport, dport });
}

/** Whether some packet can match both terms (reasons aside). */
export function overlaps(a: Terms, b: Terms): boolean {
  return !combineTerms(a, b).never;
}

/** `th` ports without a protocol match: only the protocols that have ports. */
export function settle(t: Terms): Terms {
  if (!t.ports || t.protos !== null) return t;
  const protos = PORT_PROTOS.filter((p) => t.protoNeg.indexOf(p) < 0);
  return { ...t, protos, protoNeg: [], never: t.never || !protos.length };
}
