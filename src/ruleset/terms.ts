/**
 * One nft rule's expressions as natnow's terms: what the rule matches
 * (family, protocol, devices, addresses, ports) and what it does (a NAT
 * statement, a jump, accept, return). Follows the kernel's semantics of
 * each expression (`nft_meta.c`, `nft_payload.c`, `nft_nat.c`, ...): all
 * matches of a rule must hold, a set matches any of its elements. Whatever
 * conntrack fields cannot describe (marks, fib, maps, unknown expressions)
 * makes the rule `unbounded`, with the reason.
 */

import { type AddrMatch, intersectAddrs, intersectPorts, type PortMatch, type PortRange } from "../net/match.ts";
import { formatPrefix, parseIp, prefix, rangeToPrefixes, textFamily } from "../net/ip.ts";
import { PORT_PROTOS, protoNumber } from "../net/proto.ts";
import { isObject, type Json, type JsonObject, jsonText, type NftSet } from "./nft.ts";

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
  /** The matches contradict each other: no packet matches. */
  never: boolean;
  /** Why conntrack fields cannot describe the matched flows, if so. */
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

/** What a rule does when it matches. */
export type Verdict =
  | { kind: "nat"; nat: NatStatement }
  | { kind: "jump" | "goto"; target: string }
  | { kind: "accept" | "return" | "drop" }
  | { kind: "continue" };

/** A rule as terms and verdict. */
export interface RuleTerms {
  terms: Terms;
  verdict: Verdict;
}

/** Terms that match every packet. */
export function anyTerms(family: 0 | 4 | 6 = 0): Terms {
  return {
    family, protos: null, protoNeg: [], iif: { pos: null, neg: [] }, oif: { pos: null, neg: [] },
    src: { pos: [], neg: [] }, dst: { pos: [], neg: [] }, sport: { pos: [], neg: [] }, dport: { pos: [], neg: [] },
    ports: false, dnat: null, never: false, unbounded: null,
  };
}

function intersectDevices(a: DeviceMatch, b: DeviceMatch): DeviceMatch | null {
  const pos = a.pos === null ? b.pos : b.pos === null ? a.pos : a.pos.filter((d) => b.pos?.indexOf(d) !== -1);
  const neg = [...new Set([...a.neg, ...b.neg])];
  if (pos !== null && !pos.filter((d) => neg.indexOf(d) < 0).length) return null;
  return { pos: pos === null ? null : pos.filter((d) => neg.indexOf(d) < 0), neg: pos === null ? neg : [] };
}

/** Both terms at once (a jump's conditions and the target chain's rule). */
export function combineTerms(a: Terms, b: Terms): Terms {
  const out: Terms = { ...anyTerms(), unbounded: a.unbounded ?? b.unbounded, ports: a.ports || b.ports };
  if (a.never || b.never) return { ...out, never: true };
  if (a.family && b.family && a.family !== b.family) return { ...out, never: true };
  if (a.dnat !== null && b.dnat !== null && a.dnat !== b.dnat) return { ...out, never: true };
  out.family = a.family || b.family;
  out.dnat = a.dnat ?? b.dnat;
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
  return { ...out, iif, oif, src, dst, sport, dport };
}

class Unbounded extends Error {}

/** Where a rule's set references are resolved. */
export type SetLookup = (name: string) => NftSet | undefined;

/** One element of an address match as prefixes. */
function addrElement(v: Json, what: string): string[] {
  if (typeof v === "string") {
    const a = parseIp(v);
    if (!a) throw new Unbounded(`${what}: '${v}' is not an address`);
    return [formatPrefix(prefix(a, a.length * 8))];
  }
  if (isObject(v) && isObject(v.prefix)) {
    const a = typeof v.prefix.addr === "string" ? parseIp(v.prefix.addr) : null;
    const len = v.prefix.len;
    if (!a || typeof len !== "number") throw new Unbounded(`${what}: bad prefix`);
    return [formatPrefix(prefix(a, len))];
  }
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2) {
    const lo = typeof v.range[0] === "string" ? parseIp(v.range[0]) : null;
    const hi = typeof v.range[1] === "string" ? parseIp(v.range[1]) : null;
    if (!lo || !hi || lo.length !== hi.length) throw new Unbounded(`${what}: bad range`);
    return rangeToPrefixes(lo, hi).map(formatPrefix);
  }
  throw new Unbounded(`${what}: ${JSON.stringify(v)} is not an address`);
}

function portElement(v: Json, what: string): PortRange {
  if (typeof v === "number" || (typeof v === "string" && /^[0-9]+$/.test(v))) {
    const n = Number(v);
    return { min: n, max: n };
  }
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2) {
    const [lo, hi] = v.range.map((x) => Number(x));
    if (Number.isInteger(lo) && Number.isInteger(hi)) return { min: lo, max: hi };
  }
  throw new Unbounded(`${what}: ${JSON.stringify(v)} is not a port`);
}

/** The elements a match's right side lists (a value, an anonymous set, or a named set). */
function elements(right: Json, sets: SetLookup, what: string): Json[] {
  if (typeof right === "string" && right.startsWith("@")) {
    const s = sets(right.slice(1));
    if (!s) throw new Unbounded(`${what}: set '${right.slice(1)}' is not in the ruleset`);
    if (s.map) throw new Unbounded(`${what}: '${right.slice(1)}' is a map`);
    return s.elem.map((e) => (isObject(e) && "elem" in e && isObject(e.elem) ? (e.elem.val ?? null) : e));
  }
  if (isObject(right) && Array.isArray(right.set)) return right.set;
  return [right];
}

function protoOf(v: Json, what: string): number {
  const n = typeof v === "number" ? v : typeof v === "string" ? protoNumber(v) : null;
  if (n === null || n < 0 || n > 255) throw new Unbounded(`${what}: protocol ${JSON.stringify(v)} is unknown to natnow`);
  return n;
}

const PORT_PAYLOADS = ["tcp", "udp", "sctp", "dccp", "udplite", "th"];

/** Adds one `match` expression to the terms. */
function addMatch(t: Terms, m: JsonObject, sets: SetLookup): Terms {
  const op = m.op;
  const left = m.left;
  const right = m.right;
  const neg = op === "!=";
  const add = (u: Partial<Terms>) => combineTerms(t, { ...anyTerms(), ...u });
  if (isObject(left) && isObject(left.ct) && left.ct.key === "status" && right === "dnat" && (op === "in" || op === "!")) {
    // a flag test (nft's `ct status dnat`, `ct status & dnat == 0`); `==`/`!=` compare the whole status
    return add({ dnat: op === "in" });
  }
  if (op !== "==" && op !== "!=" && op !== "in") throw new Unbounded(`uses the operator '${jsonText(op)}'`);
  if (isObject(left) && isObject(left.meta)) {
    const key = left.meta.key;
    const els = () => elements(right, sets, `meta ${jsonText(key)}`);
    switch (key) {
      case "nfproto": {
        const fams = els().map((v) => (v === "ipv4" ? 4 : v === "ipv6" ? 6 : 0));
        if (fams.some((f) => f === 0)) throw new Unbounded(`matches nfproto ${JSON.stringify(right)}`);
        const uniq = [...new Set(fams)];
        if (neg) return uniq.length === 2 ? { ...t, never: true } : add({ family: uniq[0] === 4 ? 6 : 4 });
        return uniq.length === 2 ? t : add({ family: uniq[0] });
      }
      case "l4proto": {
        const ps = els().map((v) => protoOf(v, "meta l4proto"));
        return neg ? add({ protoNeg: ps }) : add({ protos: ps });
      }
      case "iifname":
      case "oifname": {
        const names = els().map((v) => {
          if (typeof v !== "string") throw new Unbounded(`matches ${key} ${JSON.stringify(v)}`);
          if (v.endsWith("*")) throw new Unbounded(`matches ${key} by the wildcard '${v}'`);
          return v;
        });
        const d: DeviceMatch = neg ? { pos: null, neg: names } : { pos: names, neg: [] };
        return add(key === "iifname" ? { iif: d } : { oif: d });
      }
      default:
        throw new Unbounded(`matches meta ${jsonText(key)}`);
    }
  }
  if (isObject(left) && isObject(left.payload)) {
    const proto = left.payload.protocol;
    const field = left.payload.field;
    const what = `${jsonText(proto)} ${jsonText(field)}`;
    if ((proto === "ip" || proto === "ip6") && (field === "saddr" || field === "daddr")) {
      const fam = proto === "ip" ? 4 : 6;
      const list = elements(right, sets, what).flatMap((v) => addrElement(v, what));
      const m2: AddrMatch = neg ? { pos: [], neg: list } : { pos: list, neg: [] };
      if (!neg && !list.length) return { ...t, never: true };
      return add({ family: fam, ...(field === "saddr" ? { src: m2 } : { dst: m2 }) });
    }
    if ((proto === "ip" && field === "protocol") || (proto === "ip6" && field === "nexthdr")) {
      const ps = elements(right, sets, what).map((v) => protoOf(v, what));
      const fam = proto === "ip" ? 4 : 6;
      return add({ family: fam, ...(neg ? { protoNeg: ps } : { protos: ps }) });
    }
    if (typeof proto === "string" && PORT_PAYLOADS.indexOf(proto) >= 0 && (field === "sport" || field === "dport")) {
      const list = elements(right, sets, what).map((v) => portElement(v, what));
      if (!neg && !list.length) return { ...t, never: true };
      const pm: PortMatch = neg ? { pos: [], neg: list } : { pos: list, neg: [] };
      const u: Partial<Terms> = field === "sport" ? { sport: pm } : { dport: pm };
      // `udp dport` implies `meta l4proto udp` (nft adds the dependency); `th` does not
      if (proto === "th") return add({ ...u, ports: true });
      return add({ ...u, protos: [protoOf(proto, what)] });
    }
    throw new Unbounded(`matches ${what}`);
  }
  throw new Unbounded(`matches ${describeLeft(left)}`);
}

/** What a match reads, in words: `ct status`, `fib`, `meta mark`. */
function describeLeft(left: Json | undefined): string {
  if (!isObject(left)) return JSON.stringify(left);
  const k = Object.keys(left)[0];
  const v = left[k];
  return isObject(v) && typeof v.key === "string" ? `${k} ${v.key}` : k;
}

function natAddr(v: Json | undefined, what: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string" && parseIp(v)) return v;
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2 && typeof v.range[0] === "string" &&
    typeof v.range[1] === "string" && parseIp(v.range[0]) && parseIp(v.range[1])) {
    return `${v.range[0]}-${v.range[1]}`;
  }
  if (isObject(v) && isObject(v.map)) throw new Unbounded(`${what} maps its address`);
  throw new Unbounded(`${what} to ${JSON.stringify(v)}`);
}

function natStatement(kind: NatStatement["action"], o: Json): NatStatement {
  const body = isObject(o) ? o : {};
  let toPort: PortRange | null = null;
  if (body.port !== undefined) {
    if (isObject(body.port) && isObject(body.port.map)) throw new Unbounded(`${kind} maps its port`);
    toPort = portElement(body.port, kind);
  }
  const toAddr = kind === "dnat" || kind === "snat" ? natAddr(body.addr, kind) : null;
  const family = body.family === "ip" ? 4 : body.family === "ip6" ? 6 : toAddr ? textFamily(toAddr) : 0;
  return { action: kind, family, toAddr, toPort };
}

/** Statements that neither match nor decide (their side effects do not change the NAT). */
const PASSIVE = ["counter", "log", "limit", "quota", "mangle", "notrack", "ct count"];

/**
 * Reads a rule's expressions. `family` is the table's (`ip` 4, `ip6` 6,
 * `inet` 0); `sets` resolves `@name` references in the rule's table.
 */
export function ruleTerms(expr: readonly Json[], family: 0 | 4 | 6, sets: SetLookup): RuleTerms {
  let t = anyTerms(family);
  try {
    for (const e of expr) {
      if (!isObject(e)) throw new Unbounded(`has an expression that is not an object`);
      const k = Object.keys(e)[0];
      const v = e[k];
      if (k === "match") {
        if (!isObject(v)) throw new Unbounded("has a bad match");
        t = addMatch(t, v, sets);
        continue;
      }
      if (PASSIVE.indexOf(k) >= 0) continue;
      if (k === "dnat" || k === "snat" || k === "masquerade" || k === "redirect") {
        const nat = natStatement(k, v);
        if (nat.family && t.family && nat.family !== t.family) t = { ...t, never: true };
        return { terms: settle({ ...t, family: t.family || nat.family }), verdict: { kind: "nat", nat } };
      }
      if (k === "jump" || k === "goto") {
        if (!isObject(v) || typeof v.target !== "string") throw new Unbounded(`has a bad ${k}`);
        return { terms: settle(t), verdict: { kind: k, target: v.target } };
      }
      if (k === "accept" || k === "return" || k === "drop" || k === "continue") {
        return { terms: settle(t), verdict: k === "continue" ? { kind: "continue" } : { kind: k } };
      }
      if (k === "reject") return { terms: settle(t), verdict: { kind: "drop" } };
      throw new Unbounded(k === "xt" ? "uses an xtables extension" : `uses '${k}'`);
    }
  } catch (e) {
    if (!(e instanceof Unbounded)) throw e;
    // the rule still decides something for the packets it matches: an
    // unknown match could hold for any of them, so it is kept, unbounded
    const verdict = verdictOf(expr);
    return { terms: { ...t, unbounded: t.unbounded ?? e.message }, verdict };
  }
  return { terms: settle(t), verdict: { kind: "continue" } };
}

/** `th` ports without a protocol match: only the protocols that have ports. */
function settle(t: Terms): Terms {
  if (!t.ports || t.protos !== null) return t;
  const protos = PORT_PROTOS.filter((p) => t.protoNeg.indexOf(p) < 0);
  return { ...t, protos, protoNeg: [], never: t.never || !protos.length };
}

/** The verdict of a rule whose matches natnow could not read (its last deciding statement). */
function verdictOf(expr: readonly Json[]): Verdict {
  for (const e of expr) {
    if (!isObject(e)) continue;
    const k = Object.keys(e)[0];
    if (k === "dnat" || k === "snat" || k === "masquerade" || k === "redirect") {
      try {
        return { kind: "nat", nat: natStatement(k, e[k]) };
      } catch {
        return { kind: "nat", nat: { action: k, family: 0, toAddr: null, toPort: null } };
      }
    }
    if (k === "jump" || k === "goto") {
      const v = e[k];
      if (isObject(v) && typeof v.target === "string") return { kind: k, target: v.target };
    }
    if (k === "accept" || k === "return" || k === "drop") return { kind: k };
  }
  return { kind: "continue" };
}
