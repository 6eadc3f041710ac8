/**
 * mwan3's config (/etc/config/mwan3) as mwan3 itself reads it
 * (openwrt/packages net/mwan3, lib/mwan3/mwan3.sh and common.sh): its
 * interfaces with their ids and marks, members, policies and rules in
 * order. What mwan3 skips is skipped here too (a rule without a policy, a
 * name over 15 characters, a member with a metric over 256); what mwan3
 * would hand iptables and iptables would refuse (an address that is none)
 * makes the whole config unread: natnow then moves no flow, and says so.
 */

import { binaryToText } from "../uci/bytes.ts";
import { parseUci } from "../uci/parse.ts";
import { UciParseError, type UciSection } from "../uci/types.ts";
import { parseBool } from "../firewall/values.ts";
import { parsePrefix, textFamily } from "../net/ip.ts";
import type { PortRange } from "../net/match.ts";
import { protoNumber } from "../net/proto.ts";

/** An mwan3 interface: a netifd interface name, its id (its place among the interface sections, from 1) and family. */
export interface Mwan3Interface {
  name: string;
  id: number;
  enabled: boolean;
  family: 4 | 6;
}

/** A policy's member: an interface with its metric (lower is preferred) and weight. */
export interface Mwan3Member {
  name: string;
  iface: string;
  metric: number;
  weight: number;
}

/** What a policy does when none of its members is online. */
export type LastResort = "unreachable" | "blackhole" | "default";

/** A policy: its members in order, and its last resort. */
export interface Mwan3Policy {
  name: string;
  members: Mwan3Member[];
  lastResort: LastResort;
}

/** A rule's match on one field that natnow cannot read from a conntrack entry (an ipset's members, the input device). */
export interface Unreadable {
  what: string;
}

/** A rule, as mwan3 writes it into its `mwan3_rules` chain. */
export interface Mwan3Rule {
  name: string;
  /** ipv4 / ipv6 only, or null for both. */
  family: 4 | 6 | null;
  /** IP protocol number, or null for `all`. */
  proto: number | null;
  /** Prefixes (any of them); empty = any. */
  src: string[];
  dest: string[];
  /** Port ranges (tcp and udp only, as mwan3 sets them); empty = any. */
  srcPorts: PortRange[];
  destPorts: PortRange[];
  /** Matches natnow cannot evaluate for a flow (ipset, src_iface). */
  unreadable: Unreadable[];
  sticky: boolean;
  /** A policy name, or `default`, `unreachable`, `blackhole`. */
  policy: string;
}

/** mwan3's config as its scripts use it. */
export interface Mwan3Config {
  /** The mark mask (globals.mmx_mask, 0x3F00 by default). */
  mmxMask: number;
  interfaces: Mwan3Interface[];
  policies: Map<string, Mwan3Policy>;
  rules: Mwan3Rule[];
  /** What mwan3 would skip, in words. */
  skipped: string[];
}

/** The config, or why it cannot be used. */
export type Mwan3Read = { ok: Mwan3Config } | { error: string };

/** Spreads an id over the bits of a mask, as mwan3_id2mask does: id 1 under 0x3F00 is 0x100. */
export function id2mask(id: number, mask: number): number {
  let result = 0;
  let bit = 0;
  for (let m = 0; m < 32; m++) {
    if (((mask >>> m) & 1) === 0) continue;
    if (((id >>> bit) & 1) === 1) result |= 1 << m;
    bit++;
  }
  return result >>> 0;
}

/** The id a mark carries under a mask (id2mask's inverse). */
export function mask2id(mark: number, mask: number): number {
  let id = 0;
  let bit = 0;
  for (let m = 0; m < 32; m++) {
    if (((mask >>> m) & 1) === 0) continue;
    if (((mark >>> m) & 1) === 1) id |= 1 << bit;
    bit++;
  }
  return id >>> 0;
}

/** The special ids of a mask (mwan3_init): default (all bits), unreachable, blackhole, and the highest interface id. */
export function specialIds(mask: number): { default: number; unreachable: number; blackhole: number; maxIface: number } {
  let bits = 0;
  for (let m = mask >>> 0; m; m &= m - 1) bits++;
  const all = bits >= 31 ? 0x7fffffff : (1 << bits) - 1;
  return { default: all, unreachable: all - 1, blackhole: all - 2, maxIface: all - 3 };
}

/** mwan3's longest chain-name part: a rule or policy named longer is not set. */
const MAX_NAME = 15;

/** mwan3_set_policy: a member whose metric is above this is not appended. */
const LOWEST_METRIC = 256;

/** A section's option as text (a list joined by spaces), or undefined. */
function opt(s: UciSection, name: string): string | undefined {
  const o = s.options.find((x) => x.name === name);
  if (!o) return undefined;
  return typeof o.value === "string" ? binaryToText(o.value) : o.value.map(binaryToText).join(" ");
}

/** A list option's values (a plain option is a list of one). */
function list(s: UciSection, name: string): string[] {
  const o = s.options.find((x) => x.name === name);
  if (!o) return [];
  return typeof o.value === "string" ? [binaryToText(o.value)] : o.value.map(binaryToText);
}

/** An integer option with a default, or an error naming it. */
function intOpt(s: UciSection, name: string, def: number): number {
  const v = opt(s, name);
  if (v === undefined || v === "") return def;
  if (!/^[0-9]+$/.test(v)) throw new Error(`${s.type} '${s.name}': ${name} '${v}' is not a number`);
  return Number(v);
}

/** A comma list of addresses and prefixes (iptables' -s/-d), all of one family. */
function prefixes(s: UciSection, name: string): string[] {
  const v = opt(s, name);
  if (v === undefined || v.trim() === "") return [];
  return v.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
    const p = parsePrefix(x.indexOf("/") < 0 ? `${x}/${x.indexOf(":") < 0 ? 32 : 128}` : x);
    if (!p) throw new Error(`rule '${s.name}': ${name} '${x}' is not an address or prefix`);
    return x.indexOf("/") < 0 ? `${x}/${x.indexOf(":") < 0 ? 32 : 128}` : x;
  });
}

/** A multiport list (`80,443,1000:2000`, `1000-2000`). */
function ports(s: UciSection, name: string): PortRange[] {
  const v = opt(s, name);
  if (v === undefined || v.trim() === "") return [];
  return v.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
    const m = /^([0-9]{1,5})(?:[:-]([0-9]{1,5}))?$/.exec(x);
    const [min, max] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
    if (!m || min > max || max > 65535) throw new Error(`rule '${s.name}': ${name} '${x}' is not a port or range`);
    return { min, max };
  });
}

/** A family option: ipv4, ipv6, or (rules only) any. */
function family(s: UciSection, def: "ipv4" | "any"): 4 | 6 | null {
  const v = opt(s, "family") ?? def;
  if (v === "ipv4") return 4;
  if (v === "ipv6") return 6;
  if (v === "any" && def === "any") return null;
  throw new Error(`${s.type} '${s.name}': family '${v}' is not ${def === "any" ? "ipv4, ipv6 or any" : "ipv4 or ipv6"}`);
}

/** One rule, or null when mwan3 skips it (said in `skipped`). */
function readRule(s: UciSection, skipped: string[]): Mwan3Rule | null {
  const policy = opt(s, "use_policy");
  if (!policy) return null;
  if (s.name.length > MAX_NAME) {
    skipped.push(`rule '${s.name}': longer than ${MAX_NAME} characters (mwan3 does not set it)`);
    return null;
  }
  const protoText = opt(s, "proto") ?? "all";
  const proto = protoText === "all" ? null : protoNumber(protoText);
  if (protoText !== "all" && proto === null) throw new Error(`rule '${s.name}': proto '${protoText}' is unknown`);
  // mwan3 drops the ports unless the protocol is tcp or udp
  const withPorts = proto === 6 || proto === 17;
  const unreadable: Unreadable[] = [];
  const ipset = opt(s, "ipset");
  if (ipset) unreadable.push({ what: `ipset '${ipset}'` });
  const srcIface = opt(s, "src_iface");
  if (srcIface) unreadable.push({ what: `src_iface '${srcIface}'` });
  const src = prefixes(s, "src_ip");
  const dest = prefixes(s, "dest_ip");
  let fam = family(s, "any");
  // a rule with addresses of one family is set in that family only (mwan3 skips it in the other)
  const families = new Set([...src, ...dest].map(textFamily));
  if (families.size > 1) {
    skipped.push(`rule '${s.name}': mixes IPv4 and IPv6 addresses (mwan3 sets it in neither family)`);
    return null;
  }
  if (families.size === 1) {
    const f = [...families][0];
    if (fam !== null && fam !== f) {
      skipped.push(`rule '${s.name}': family ipv${fam} with IPv${f} addresses (mwan3 does not set it)`);
      return null;
    }
    fam = f;
  }
  return {
    name: s.name, family: fam, proto, src, dest,
    srcPorts: withPorts ? ports(s, "src_port") : [], destPorts: withPorts ? ports(s, "dest_port") : [],
    unreadable, sticky: parseBool(opt(s, "sticky") ?? "0") === true, policy,
  };
}

/** Reads mwan3's config text (`uci export mwan3`, or the file); an error says what does not parse. */
export function readMwan3(bytes: Uint8Array, mmxMaskInEffect: number | null = null): Mwan3Read {
  let sections: UciSection[];
  try {
    sections = parseUci(bytes, "mwan3").sections;
  } catch (e) {
    if (!(e instanceof UciParseError)) throw e;
    return { error: `the mwan3 config does not parse: ${e.message}` };
  }
  try {
    const globals = sections.find((s) => s.type === "globals");
    const maskText = (globals && opt(globals, "mmx_mask")) ?? "0x3F00";
    if (!/^(0x[0-9a-fA-F]{1,8}|[0-9]{1,10})$/.test(maskText)) throw new Error(`globals: mmx_mask '${maskText}' is not a number`);
    // mwan3 keeps the mask it started with (/var/run/mwan3/mmx_mask) until it restarts
    const mmxMask = mmxMaskInEffect ?? Number(maskText) >>> 0;
    const special = specialIds(mmxMask);
    if (special.maxIface < 1) throw new Error(`mmx_mask 0x${mmxMask.toString(16)} has fewer than 3 bits`);
    const interfaces: Mwan3Interface[] = sections.filter((s) => s.type === "interface").map((s, i) => ({
      name: s.name, id: i + 1, enabled: parseBool(opt(s, "enabled") ?? "0") === true, family: family(s, "ipv4") as 4 | 6,
    }));
    const skipped: string[] = [];
    for (const i of interfaces) if (i.id > special.maxIface) skipped.push(`interface '${i.name}': id ${i.id} is past the mask's ${special.maxIface}`);
    const members = new Map<string, Mwan3Member>();
    for (const s of sections.filter((x) => x.type === "member")) {
      const iface = opt(s, "interface");
      if (!iface) continue;
      const m = { name: s.name, iface, metric: intOpt(s, "metric", 1), weight: intOpt(s, "weight", 1) };
      if (m.metric > LOWEST_METRIC) skipped.push(`member '${s.name}': metric ${m.metric} is over ${LOWEST_METRIC} (mwan3 does not use it)`);
      else members.set(s.name, m);
    }
    const policies = new Map<string, Mwan3Policy>();
    for (const s of sections.filter((x) => x.type === "policy")) {
      if (s.name.length > MAX_NAME) {
        skipped.push(`policy '${s.name}': longer than ${MAX_NAME} characters (mwan3 does not set it)`);
        continue;
      }
      const lr = opt(s, "last_resort") ?? "unreachable";
      const lastResort: LastResort = lr === "blackhole" || lr === "default" ? lr : "unreachable";
      const used = list(s, "use_member").flatMap((n) => n.split(/\s+/)).filter(Boolean);
      policies.set(s.name, { name: s.name, lastResort, members: used.map((n) => members.get(n)).filter((m) => m !== undefined) });
    }
    const rules: Mwan3Rule[] = [];
    for (const s of sections.filter((x) => x.type === "rule")) {
      const r = readRule(s, skipped);
      if (r) rules.push(r);
    }
    return { ok: { mmxMask, interfaces: interfaces.filter((i) => i.id <= special.maxIface), policies, rules, skipped } };
  } catch (e) {
    return { error: `the mwan3 config cannot be used: ${(e as Error).message}` };
  }
}
