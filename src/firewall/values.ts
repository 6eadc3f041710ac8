/**
 * fw4's option value parsers (openwrt/firewall4 `fw4.uc`, parse_*), for the
 * options that decide NAT. Each returns null for a value fw4 rejects, which
 * makes fw4 skip the whole section.
 */

import {
  familyOf, maskBits, maskBytes, parseIp, type Family, type IpBytes,
} from "../net/ip.ts";

/** A value with fw4's `!` negation prefix. */
export interface Inverted {
  invert: boolean;
  val: string;
}

import type { PortRange } from "../net/match.ts";

/** A port or port range, from the shared vocabulary (net/match.ts). */
export type { PortRange };

/** A parsed port option (`N`, `N-M`, `N:M`, optionally negated). */
export interface PortValue extends PortRange {
  invert: boolean;
}

/** One address item of a subnet option, as fw4 parse_subnet returns it. */
export type AddrItem =
  | { kind: "prefix"; family: Family; addr: IpBytes; bits: number }
  | { kind: "masked"; family: Family; addr: IpBytes; mask: IpBytes }
  | { kind: "range"; family: Family; addr: IpBytes; addr2: IpBytes };

/** A parsed network option: addresses (empty for a network without any), negated or not. */
export interface NetworkValue {
  invert: boolean;
  addrs: AddrItem[];
}

/** A parsed protocol: a name fw4 passes to nft, or any. */
export interface ProtoValue {
  invert: boolean;
  any: boolean;
  name: string;
}

/** fw4 parse_bool: exact, case-sensitive words. */
export function parseBool(val: string): boolean | null {
  if (val === "1" || val === "on" || val === "true" || val === "yes") return true;
  if (val === "0" || val === "off" || val === "false" || val === "no") return false;
  return null;
}

/**
 * fw4 parse_enum: case-insensitive, and any prefix selects the first choice
 * it starts (`DN` is `dnat`, `m` is `mark`: the order of choices matters).
 */
export function parseEnum<T extends string>(val: string, choices: readonly T[]): T | null {
  const v = val.toLowerCase();
  for (const c of choices) if (c.slice(0, v.length).toLowerCase() === v) return c;
  return null;
}

/** fw4 parse_family: `any`/`all`/`*` → 0, anything containing 4 (or `inet`) → 4, 6 → 6. */
export function parseFamily(val: string): 0 | 4 | 6 | null {
  if (val === "any" || val === "all" || val === "*") return 0;
  if (val === "inet" || val.indexOf("4") > -1) return 4;
  if (val.indexOf("6") > -1) return 6;
  return null;
}

/** fw4 parse_invert: strips a leading `!` (after blanks) and trims. */
export function parseInvert(val: string): Inverted | null {
  let invert = false;
  const rest = val.replace(/^[ \t]*!/, () => {
    invert = true;
    return "";
  });
  const v = rest.trim();
  return v.length ? { invert, val: v } : null;
}

/** fw4 parse_port. */
export function parsePort(val: string): PortValue | null {
  const p = parseInvert(val);
  const m = p ? /^([0-9]{1,5})([-:]([0-9]{1,5}))?$/.exec(p.val) : null;
  if (!p || !m) return null;
  const min = Number(m[1]);
  const max = m[3] !== undefined ? Number(m[3]) : min;
  if (min > max || max > 65535) return null;
  return { invert: p.invert, min, max };
}

/** fw4 parse_protocol; `tcpudp` expands to two entries. */
export function parseProtocol(val: string): ProtoValue[] | null {
  const p = parseInvert(val);
  if (!p) return null;
  const v = p.val.toLowerCase();
  const one = (name: string, any = false): ProtoValue[] => [{ invert: p.invert, any, name }];
  switch (v) {
    case "all":
    case "any":
    case "*":
      return one("", true);
    case "1":
    case "icmp":
      return one("icmp");
    case "58":
    case "icmpv6":
    case "ipv6-icmp":
      return one("ipv6-icmp");
    case "tcpudp":
      return [{ invert: p.invert, any: false, name: "tcp" }, { invert: p.invert, any: false, name: "udp" }];
    case "6":
      return one("tcp");
    case "17":
      return one("udp");
    default:
      return one(v);
  }
}

/** Addresses of a logical network, from the runtime facts (fw4 state.networks). */
export type NetworkAddrs = (name: string) => AddrItem[] | undefined;

/**
 * fw4 parse_subnet: `ADDR`, `ADDR/BITS`, `ADDR/MASK` (non-contiguous masks
 * allowed), `A-B` ranges, or a logical network name (its addresses).
 */
function parseSubnet(subnet: string, networks: NetworkAddrs): AddrItem[] | null {
  const parts = subnet.split("/");
  if (parts.length === 2) {
    const a = parseIp(parts[0]);
    if (!a) return null;
    const m = parseIp(parts[1]);
    if (m) {
      if (m.length !== a.length) return null;
      const bits = maskBits(m);
      if (bits === null) {
        return [{ kind: "masked", family: familyOf(a), addr: a.map((b, i) => b & m[i]), mask: m }];
      }
      return [{ kind: "prefix", family: familyOf(a), addr: a, bits }];
    }
    // ucode `+x` must give an integer; fw4 would emit an unloadable ruleset
    // for a length past the family's width, natnow rejects it here
    if (!/^[0-9]+$/.test(parts[1])) return null;
    const bits = Number(parts[1]);
    if (!maskBytes(bits, a.length === 16)) return null;
    return [{ kind: "prefix", family: familyOf(a), addr: a, bits }];
  }
  if (parts.length !== 1) return null;
  const r = parts[0].split("-");
  if (r.length === 2) {
    const a = parseIp(r[0]);
    const b = parseIp(r[1]);
    if (a && b && a.length === b.length) return [{ kind: "range", family: familyOf(a), addr: a, addr2: b }];
    return null;
  }
  if (r.length !== 1) return null;
  const a = parseIp(r[0]);
  if (a) return [{ kind: "prefix", family: familyOf(a), addr: a, bits: a.length * 8 }];
  const n = networks(r[0]);
  return n ? [...n] : null;
}

/** fw4 parse_network: a negatable subnet option. */
export function parseNetwork(val: string, networks: NetworkAddrs): NetworkValue | null {
  const p = parseInvert(val);
  if (!p) return null;
  const addrs = parseSubnet(p.val, networks);
  if (addrs === null) return null;
  return { invert: p.invert, addrs };
}

/** fw4 parse_identifier (zone names). */
export function parseIdentifier(val: string): string | null {
  return /^[a-zA-Z_.][a-zA-Z0-9/_.-]*$/.test(val) ? val : null;
}

/** fw4 parse_int: ucode's `+val` must be a number. */
export function parseInt10(val: string): number | null {
  const t = val.trim();
  if (t === "") return 0;
  const n = Number(t);
  return Number.isNaN(n) ? null : n;
}

/** fw4 parse_limit: `N[/unit]`. */
export function parseLimit(val: string): boolean {
  const p = parseInvert(val);
  const m = p ? /^([0-9]+)(\/([a-z]+))?$/.exec(p.val) : null;
  if (!m) return false;
  return m[3] === undefined || parseEnum(m[3], ["second", "minute", "hour", "day"]) !== null;
}

/** fw4 parse_time. */
export function parseTime(val: string): boolean {
  const t = /^([0-9]{1,2})(:([0-9]{1,2})(:([0-9]{1,2}))?)?$/.exec(val);
  return !!t && Number(t[1]) <= 23 && Number(t[3] ?? 0) <= 59 && Number(t[5] ?? 0) <= 59;
}

/** fw4 parse_date. */
export function parseDate(val: string): boolean {
  const d = /^([0-9]{4})(-([0-9]{1,2})(-([0-9]{1,2})(T([0-9:]+))?)?)?$/.exec(val);
  if (!d) return false;
  const y = Number(d[1]);
  if (y < 1970 || y > 2038 || Number(d[3] ?? 0) > 12 || Number(d[5] ?? 0) > 31) return false;
  return parseTime(d[7] ?? "0");
}

/** fw4 parse_weekdays. */
export function parseWeekdays(val: string): boolean {
  const p = parseInvert(val);
  if (!p) return false;
  const days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  return p.val.split(/[ \t]+/).every((d) => parseEnum(d, days) !== null);
}

/** fw4 parse_mark: `MARK[/MASK]`, decimal or hex. */
export function parseMark(val: string): boolean {
  const p = parseInvert(val);
  const m = p ? /^(0?x?[0-9a-f]+)(\/(0?x?[0-9a-f]+))?$/i.exec(p.val) : null;
  if (!m) return false;
  const num = (s: string) => {
    const n = /^0x/i.test(s) ? parseInt(s.slice(2), 16) : /^[0-9]+$/.test(s) ? Number(s) : NaN;
    return !Number.isNaN(n) && n <= 0xffffffff;
  };
  return num(m[1]) && (m[3] === undefined || num(m[3]));
}

/** fw4 parse_mac. */
export function parseMac(val: string): boolean {
  const p = parseInvert(val);
  return !!p &&
    /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i
      .test(p.val);
}

/** The conntrack helpers fw4 ships (`/usr/share/firewall4/helpers`). */
const CT_HELPERS = [
  "amanda", "ftp", "RAS", "Q.931", "irc", "netbios-ns", "pptp", "sane", "sip", "snmp", "tftp", "rtsp",
] as const;

/** fw4 parse_cthelper: a known helper name. */
export function parseCtHelper(val: string): boolean {
  const p = parseInvert(val);
  return !!p && (CT_HELPERS as readonly string[]).indexOf(p.val) >= 0;
}

/** fw4 parse_setmatch: `[!]NAME [src|dst ...]`. */
export function parseSetMatch(val: string): boolean {
  const p = parseInvert(val);
  return !!p && /^[^ \t]+/.test(p.val);
}

/** fw4 to_array: a list, or one string split at blanks. */
export function toArray(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  if (typeof v !== "string") return v;
  const t = v.trim();
  return t === "" ? [] : t.split(/[ \t]+/);
}
