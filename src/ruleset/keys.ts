/**
 * One key expression compared with values, as terms: `ip saddr`, `tcp
 * dport`, `meta l4proto`, `iifname`, `meta iif`, `fib daddr type`, `ct
 * state`, raw payloads (`@nh,72,8`) and the rest. Each follows the kernel's
 * expression (`nft_meta.c`, `nft_payload.c`, `nft_fib.c`, `nft_ct.c`). A
 * key natnow cannot read throws `Unreadable` with the reason; a key whose
 * meaning depends on the packet's family (raw network header payloads in
 * an `inet` table) is read once the rule's family is known.
 */

import type { AddrMatch, PortMatch, PortRange } from "../net/match.ts";
import { formatPrefix, parseIp, prefix, rangeToPrefixes } from "../net/ip.ts";
import { protoNumber } from "../net/proto.ts";
import { isObject, type Json, jsonText, type NftSet } from "./nft.ts";
import { anyTerms, combineTerms, type DeviceMatch, neverTerms, type Terms } from "./terms.ts";

/** A match or statement natnow cannot read, with the reason in words. */
export class Unreadable extends Error {}

/** Where a rule's set references are resolved. */
export type SetLookup = (name: string) => NftSet | undefined;

/** Terms of a key whose meaning depends on the packet's family: read for family 4 or 6. */
export type ByFamily = (family: 4 | 6) => Terms;

/** One element of an address match as prefixes. */
function addrElement(v: Json, what: string): string[] {
  if (typeof v === "string") {
    const a = parseIp(v);
    if (!a) throw new Unreadable(`${what}: '${v}' is not an address`);
    return [formatPrefix(prefix(a, a.length * 8))];
  }
  if (isObject(v) && isObject(v.prefix)) {
    const a = typeof v.prefix.addr === "string" ? parseIp(v.prefix.addr) : null;
    const len = v.prefix.len;
    if (!a || typeof len !== "number") throw new Unreadable(`${what}: bad prefix`);
    return [formatPrefix(prefix(a, len))];
  }
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2) {
    const lo = typeof v.range[0] === "string" ? parseIp(v.range[0]) : null;
    const hi = typeof v.range[1] === "string" ? parseIp(v.range[1]) : null;
    if (!lo || !hi || lo.length !== hi.length) throw new Unreadable(`${what}: bad range`);
    return rangeToPrefixes(lo, hi).map(formatPrefix);
  }
  throw new Unreadable(`${what}: ${JSON.stringify(v)} is not an address`);
}

/** A port or port range element. */
export function portElement(v: Json, what: string): PortRange {
  if (typeof v === "number" || (typeof v === "string" && /^[0-9]+$/.test(v))) {
    const n = Number(v);
    return { min: n, max: n };
  }
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2) {
    const [lo, hi] = v.range.map((x) => Number(x));
    if (Number.isInteger(lo) && Number.isInteger(hi)) return { min: lo, max: hi };
  }
  throw new Unreadable(`${what}: ${JSON.stringify(v)} is not a port`);
}

/** A named set's element as its key (elements with a timeout or counter are wrapped in `elem`). */
export function elementKey(e: Json): Json {
  return isObject(e) && isObject(e.elem) ? (e.elem.val ?? null) : e;
}

/** The elements a match's right side lists (a value, an anonymous set, or a named set). */
export function elements(right: Json, sets: SetLookup, what: string): Json[] {
  if (typeof right === "string" && right.startsWith("@")) {
    const s = sets(right.slice(1));
    if (!s) throw new Unreadable(`${what}: set '${right.slice(1)}' is not in the ruleset`);
    if (s.map) throw new Unreadable(`${what}: '${right.slice(1)}' is a map`);
    return s.elem.map(elementKey);
  }
  if (isObject(right) && Array.isArray(right.set)) return right.set.map(elementKey);
  // `ct state established,related` prints as a list
  if (Array.isArray(right)) return right;
  return [right];
}

function protoOf(v: Json, what: string): number {
  const n = typeof v === "number" ? v : typeof v === "string" ? protoNumber(v) : null;
  if (n === null || n < 0 || n > 255) throw new Unreadable(`${what}: protocol ${JSON.stringify(v)} is unknown to natnow`);
  return n;
}

const PORT_PAYLOADS = ["tcp", "udp", "sctp", "dccp", "udplite", "th"];

/** Terms with only `u` set. */
function only(u: Partial<Terms>): Terms {
  return { ...anyTerms(), ...u };
}

/** `neg` of the elements: the match fails for them. */
function addrTerms(field: "src" | "dst", list: string[], neg: boolean, family: 4 | 6): Terms {
  if (!neg && !list.length) return neverTerms();
  const m: AddrMatch = neg ? { pos: [], neg: list } : { pos: list, neg: [] };
  return only({ family, [field]: m });
}

function portTerms(field: "sport" | "dport", list: PortRange[], neg: boolean, proto: number | null): Terms {
  if (!neg && !list.length) return neverTerms();
  const pm: PortMatch = neg ? { pos: [], neg: list } : { pos: list, neg: [] };
  // `udp dport` implies `meta l4proto udp` (nft adds the dependency); `th` does not
  return only({ [field]: pm, ...(proto === null ? { ports: true } : { protos: [proto] }) });
}

function deviceTerms(key: string, els: Json[], neg: boolean): Terms {
  const byIndex = key === "iif" || key === "oif";
  const names: string[] = [];
  for (const v of els) {
    if (typeof v !== "string") throw new Unreadable(`matches ${key} ${JSON.stringify(v)}`);
    if (v.endsWith("*")) throw new Unreadable(`matches ${key} by the wildcard '${v}'`);
    // nft prints an index whose device is gone as a number: no packet comes from it (nft_meta_get_eval)
    if (byIndex && /^[0-9]+$/.test(v)) continue;
    names.push(v);
  }
  const d: DeviceMatch = neg ? { pos: null, neg: names } : { pos: names, neg: [] };
  if (!neg && !names.length) return neverTerms();
  return only(key === "iif" || key === "iifname" ? { iif: d } : { oif: d });
}

function metaTerms(key: Json | undefined, els: Json[], neg: boolean): Terms {
  switch (key) {
    case "nfproto":
    case "protocol": {
      // nfproto ipv4/ipv6, or the ethertype ip/ip6 (nat chains see IP packets only)
      const fams = [...new Set(els.map((v) => (v === "ipv4" || v === "ip" ? 4 : v === "ipv6" || v === "ip6" ? 6 : 0)))];
      if (key === "nfproto" && fams.some((f) => f === 0)) throw new Unreadable(`matches nfproto ${JSON.stringify(els)}`);
      const ip = fams.filter((f): f is 4 | 6 => f !== 0);
      if (neg) return ip.length === 2 ? neverTerms() : only({ family: ip[0] === 4 ? 6 : ip[0] === 6 ? 4 : 0 });
      return ip.length === 2 ? anyTerms() : ip.length ? only({ family: ip[0] }) : neverTerms();
    }
    case "l4proto": {
      const ps = els.map((v) => protoOf(v, "meta l4proto"));
      return neg ? only({ protoNeg: ps }) : only({ protos: ps });
    }
    case "iifname":
    case "oifname":
    case "iif":
    case "oif":
      return deviceTerms(key, els, neg);
    default:
      throw new Unreadable(`matches meta ${jsonText(key)}`);
  }
}

/**
 * `ct state`: the nat chains run for a flow's first packet only, in state
 * new, or related for an expected flow (nf_nat_inet_fn); never established.
 */
function ctStateTerms(els: Json[], neg: boolean): Terms {
  const has = (s: string) => els.indexOf(s) >= 0;
  const related = has("related") ? "matches ct state related" : null;
  if (!neg) {
    if (has("new")) return anyTerms(); // wider by the related flows it leaves out
    if (related) throw new Unreadable(related);
    return neverTerms();
  }
  if (!has("new")) return anyTerms();
  if (has("related")) return neverTerms();
  throw new Unreadable("matches ct state related");
}

function rawNetworkByte(offset: number, els: Json[], neg: boolean): ByFamily {
  return (family) => {
    // @nh,72,8 is IPv4's protocol byte, @nh,48,8 IPv6's next header; for the other family they read an address byte
    if ((family === 4 && offset === 72) || (family === 6 && offset === 48)) {
      const ps = els.map((v) => protoOf(v, `@nh,${offset},8`));
      return only({ family, ...(neg ? { protoNeg: ps } : { protos: ps }) });
    }
    throw new Unreadable(`matches @nh,${offset},8 in IPv${family}`);
  };
}

function rawTransport(offset: number, len: number, els: Json[], neg: boolean): Terms {
  if (offset === 0 && len === 16) return portTerms("sport", els.map((v) => portElement(v, "@th,0,16")), neg, null);
  if (offset === 16 && len === 16) return portTerms("dport", els.map((v) => portElement(v, "@th,16,16")), neg, null);
  if (offset === 0 && len === 32 && !neg) {
    // nft merges adjacent `@th,0,16` and `@th,16,16` into one 32-bit compare: sport in the high half
    return els.reduce<Terms>((acc, v) => {
      if (typeof v !== "number") throw new Unreadable(`matches @th,0,32 ${JSON.stringify(v)}`);
      const one = combineTerms(portTerms("sport", [portElement(Math.floor(v / 65536), "@th,0,32")], false, null),
        portTerms("dport", [portElement(v % 65536, "@th,0,32")], false, null));
      if (acc.never) return one;
      throw new Unreadable("matches @th,0,32 against several values");
    }, neverTerms());
  }
  throw new Unreadable(`matches @th,${offset},${len}`);
}

function payloadTerms(p: Record<string, Json>, els: Json[], neg: boolean): Terms | ByFamily {
  const proto = p.protocol;
  const field = p.field;
  if (p.base === "nh" && p.len === 8 && (p.offset === 72 || p.offset === 48)) return rawNetworkByte(p.offset, els, neg);
  if (p.base === "th" && typeof p.offset === "number" && typeof p.len === "number") return rawTransport(p.offset, p.len, els, neg);
  const what = `${jsonText(proto)} ${jsonText(field)}`;
  if ((proto === "ip" || proto === "ip6") && (field === "saddr" || field === "daddr")) {
    const list = els.flatMap((v) => addrElement(v, what));
    return addrTerms(field === "saddr" ? "src" : "dst", list, neg, proto === "ip" ? 4 : 6);
  }
  if ((proto === "ip" && field === "protocol") || (proto === "ip6" && field === "nexthdr")) {
    const ps = els.map((v) => protoOf(v, what));
    return only({ family: proto === "ip" ? 4 : 6, ...(neg ? { protoNeg: ps } : { protos: ps }) });
  }
  if (typeof proto === "string" && PORT_PAYLOADS.indexOf(proto) >= 0 && (field === "sport" || field === "dport")) {
    const list = els.map((v) => portElement(v, what));
    return portTerms(field, list, neg, proto === "th" ? null : protoOf(proto, what));
  }
  throw new Unreadable(`matches ${p.base !== undefined ? `@${jsonText(p.base)},${jsonText(p.offset)},${jsonText(p.len)}` : what}`);
}

/** `fib daddr type local`: the destination is one of the router's own addresses (nft_fib_ipv4.c, RTN_LOCAL). */
function fibTerms(f: Record<string, Json>, els: Json[], neg: boolean): Terms {
  const flags = Array.isArray(f.flags) ? f.flags : [f.flags];
  if (f.result !== "type" || flags.length !== 1 || flags[0] !== "daddr" || els.length !== 1 || els[0] !== "local") {
    throw new Unreadable(`matches fib ${JSON.stringify(f)} ${JSON.stringify(els)}`);
  }
  return only({ local: !neg });
}

/** What a key reads, in words: `ct status`, `fib`, `meta mark`. */
export function describeKey(left: Json | undefined): string {
  if (!isObject(left)) return JSON.stringify(left);
  const k = Object.keys(left)[0];
  const v = left[k];
  return isObject(v) && typeof v.key === "string" ? `${k} ${v.key}` : k;
}

/**
 * The terms of `left` compared with any of `els` (`neg`: with none of
 * them); a ByFamily when the key means something else per family.
 */
export function keyTerms(left: Json, els: Json[], neg: boolean): Terms | ByFamily {
  if (isObject(left) && isObject(left.meta)) return metaTerms(left.meta.key, els, neg);
  if (isObject(left) && isObject(left.payload)) return payloadTerms(left.payload, els, neg);
  if (isObject(left) && isObject(left.fib)) return fibTerms(left.fib, els, neg);
  if (isObject(left) && isObject(left.ct) && left.ct.key === "state") return ctStateTerms(els, neg);
  throw new Unreadable(`matches ${describeKey(left)}`);
}
