/**
 * What the kernel's nat chains do to one new flow, evaluated from the same
 * terms the planner reads: every nat base chain of a hook in priority
 * order, rules in order, `jump` returning and `goto` not, `accept` ending
 * one base chain, the first NAT statement deciding (nf_nat_inet_fn stops
 * at the first chain that sets a binding); a dormant table's chains do not
 * run, and `fib daddr type local` holds where the routing delivers locally. The end-to-end oracle test holds
 * it against what conntrack really did; a rule it cannot read is an error.
 */

import { addrMatches, portMatches } from "../conntrack/flow.ts";
import { type IpBytes, parseIp } from "../net/ip.ts";
import { NAT_HOOKS, natBaseChains, type NftRuleset } from "./nft.ts";
import type { DeviceMatch, NatStatement, Terms } from "./terms.ts";
import { ChainIndex } from "./walk.ts";

/** The first packet of a flow, as the nat hooks see it. */
export interface Packet {
  family: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  sport: number | null;
  dport: number | null;
  /** The input device (prerouting, postrouting for forwarded packets). */
  iif: string;
  /** The flow was DNATed already (postrouting after a DNAT; `ct status dnat`). */
  dnatDone?: boolean;
}

/** Where the router sends an address: a device, or `local` (delivered to the router itself). */
export type Route = (dst: string) => string;

/** The router's address on a device, for masquerade and redirect. */
export type DeviceAddress = (device: string, family: 4 | 6) => string | null;

/** A translated address and port (a range when the statement gives one). */
export interface Binding {
  addr: string;
  port: { min: number; max: number } | null;
}

/** What the nat chains decided for a flow. */
export interface Verdict {
  dnat: Binding | null;
  snat: Binding | null;
  /** A nat chain dropped the packet: no entry is made. */
  dropped: boolean;
}

/** Why a flow cannot be evaluated. */
export class EvaluateError extends Error {}

function devices(m: DeviceMatch, name: string): boolean {
  if (m.neg.indexOf(name) >= 0) return false;
  return m.pos === null || m.pos.indexOf(name) >= 0;
}

/** Whether a packet passes a rule's matches (`oif` is "" before routing; `fib daddr type local` asks the routing). */
function termsMatch(t: Terms, p: Packet, oif: string, route: Route): boolean {
  if (t.unbounded) throw new EvaluateError(`cannot evaluate a rule that ${t.unbounded}`);
  if (t.never) return false;
  if (t.local !== null && t.local !== (route(p.dst) === "local")) return false;
  if (t.family && t.family !== p.family) return false;
  if (t.dnat !== null && t.dnat !== (p.dnatDone === true)) return false;
  if (t.protos !== null && t.protos.indexOf(p.proto) < 0) return false;
  if (t.protoNeg.indexOf(p.proto) >= 0) return false;
  if (!devices(t.iif, p.iif) || !devices(t.oif, oif)) return false;
  const ip = (s: string): IpBytes => {
    const a = parseIp(s);
    if (!a) throw new EvaluateError(`'${s}' is not an address`);
    return a;
  };
  if (!addrMatches(t.src, ip(p.src)) || !addrMatches(t.dst, ip(p.dst))) return false;
  return portMatches(t.sport, p.sport) && portMatches(t.dport, p.dport);
}

type Outcome = { kind: "nat"; nat: NatStatement } | { kind: "accept" | "drop" | "return" | "end" };

/** Runs one hook's nat base chains; the first binding wins. */
function runHook(index: ChainIndex, hook: string, p: Packet, oif: string, route: Route): { nat: NatStatement | null; dropped: boolean } {
  for (const base of natBaseChains(index.rs).filter((c) => c.hook === hook && NAT_HOOKS[hook])) {
    const run = (chain: string, depth: number): Outcome => {
      if (depth > 16) throw new EvaluateError("jumps deeper than the kernel allows");
      for (const r of index.rulesOf(base.family, base.table, chain)) {
        // the alternatives of a rule exclude each other: at most one holds
        const rt = index.terms(r).find((a) => termsMatch(a.terms, p, oif, route));
        if (!rt) continue;
        const v = rt.verdict;
        if (v.kind === "continue") continue;
        if (v.kind === "unknown") throw new EvaluateError(`cannot evaluate rule ${r.handle}: a statement decides that natnow cannot read`);
        if (v.kind === "nat") return { kind: "nat", nat: v.nat };
        if (v.kind !== "jump" && v.kind !== "goto") return { kind: v.kind };
        if (!index.has(base.family, base.table, v.target)) continue;
        const o = run(v.target, depth + 1);
        if (o.kind === "nat" || o.kind === "accept" || o.kind === "drop") return o;
        // jump: back to the next rule here; goto: the target's end is this chain's end
        if (v.kind === "goto") return { kind: "return" };
      }
      return { kind: "end" };
    };
    const o = run(base.name, 0);
    if (o.kind === "nat") return { nat: o.nat, dropped: false };
    if (o.kind === "drop") return { nat: null, dropped: true };
  }
  return { nat: null, dropped: false };
}

function bind(nat: NatStatement, p: Packet, own: () => string | null, dir: "dst" | "src"): Binding {
  const keep = dir === "dst" ? p.dport : p.sport;
  const addr = nat.toAddr ?? own();
  if (addr === null) throw new EvaluateError(`${nat.action}: the router has no address there`);
  const port = nat.toPort ?? (keep === null ? null : { min: keep, max: keep });
  return { addr, port };
}

/**
 * The NAT a new flow gets: DNAT in prerouting, then routing, then SNAT in
 * postrouting (not for flows delivered to the router itself).
 */
export function evaluate(rs: NftRuleset, p: Packet, route: Route, ownAddress: DeviceAddress): Verdict {
  const index = new ChainIndex(rs);
  const pre = runHook(index, "prerouting", p, "", route);
  if (pre.dropped) return { dnat: null, snat: null, dropped: true };
  const dnat = pre.nat ? bind(pre.nat, p, () => ownAddress(p.iif, p.family), "dst") : null;
  const after: Packet = dnat ? { ...p, dst: dnat.addr, dport: dnat.port ? dnat.port.min : p.dport, dnatDone: true } : p;
  const oif = route(after.dst);
  if (oif === "local") return { dnat, snat: null, dropped: false };
  const post = runHook(index, "postrouting", after, oif, route);
  if (post.dropped) return { dnat, snat: null, dropped: true };
  const snat = post.nat ? bind(post.nat, after, () => ownAddress(oif, p.family), "src") : null;
  return { dnat, snat, dropped: false };
}
