/**
 * An xtables match or target, with the options iptables-save printed, as
 * the native nft expressions that do the same, in the JSON shapes
 * `nft -j list ruleset` (nftables 1.0.6) prints for them in an `ip` or
 * `ip6` table: DNAT → `dnat`, addrtype → `fib ... type`, multiport → a
 * port set, conntrack → `ct` matches, and so on. An option natnow does not
 * know gives null: the expression stays `xt` and the reader says so.
 */

import { maskBits, parseIp } from "../net/ip.ts";
import { protoNumber } from "../net/proto.ts";
import type { Json, JsonObject } from "./nft.ts";
import type { XtExtension, XtOption } from "./xtparse.ts";

/** What a translated extension becomes: expressions, and the rule's comment for `-m comment`. */
export interface Native {
  expr: Json[];
  comment?: string;
}

/** What a translation needs besides the extension: the table's family, the rule's `-p`, the base chain's hook. */
export interface NativeContext {
  family: 4 | 6;
  /** The rule's `-p` protocol when not negated (a name or number), else null. */
  proto: string | null;
  /** The hook of the base chain the rule is in; null in a user chain. */
  hook: string | null;
}

/** nft's names of the protocols it prints by name (`meta l4proto`, `ct protocol`). */
const PROTO_NAMES: Record<number, string> = {
  1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 132: "sctp", 136: "udplite",
};

const PORT_PROTOS = ["tcp", "udp", "sctp", "dccp", "udplite"];

/** A protocol as nft prints it (a name it knows, else the number). */
function protoText(p: string): string | number | null {
  const n = protoNumber(p);
  if (n === null) return null;
  return PROTO_NAMES[n] ?? n;
}

const match = (op: string, left: Json, right: Json): Json => ({ match: { op, left, right } });

/** A port or `lo:hi` (`lo-hi` in NAT targets) as nft prints it. */
function port(text: string, sep: ":" | "-"): Json | null {
  const parts = text.split(sep);
  if (parts.length > 2 || parts.some((p) => !/^[0-9]{1,5}$/.test(p) || Number(p) > 65535)) return null;
  const [lo, hi] = parts.map(Number);
  return hi === undefined || hi === lo ? lo : { range: [lo, hi] };
}

/** An address or prefix (`A`, `A/len`, `A/mask`) as nft prints it; null when nft would print a masked payload. */
function address(text: string, family: 4 | 6): Json | null {
  const [a, m] = text.split("/");
  const bytes = parseIp(a);
  if (!bytes || bytes.length !== (family === 4 ? 4 : 16)) return null;
  const full = family === 4 ? 32 : 128;
  let len = full;
  if (m !== undefined) {
    if (/^[0-9]{1,3}$/.test(m)) len = Number(m);
    else {
      const mb = parseIp(m);
      const bits = mb && mb.length === bytes.length ? maskBits(mb) : null;
      if (bits === null) return null;
      len = bits;
    }
  }
  if (len > full) return null;
  return len === full ? a : { prefix: { addr: a, len } };
}

/** NAT flags in the order nft prints them: one as a string, several as a list. */
function natFlags(opts: XtOption[]): Json | undefined {
  const names: Record<string, string> = { "--random": "random", "--random-fully": "fully-random", "--persistent": "persistent" };
  const flags = ["random", "fully-random", "persistent"].filter((f) => opts.some((o) => names[o.name] === f));
  return flags.length === 0 ? undefined : flags.length === 1 ? flags[0] : flags;
}

/** `A[-B][:P[-Q]]` (IPv6: `[A[-B]]:P[-Q]` or `A[-B]`) as a NAT statement's addr and port. */
function natRange(text: string, family: 4 | 6): JsonObject | null {
  let addrs = text;
  let ports: string | null = null;
  if (family === 6) {
    const b = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (b) {
      addrs = b[1];
      ports = b[2] ?? null;
    } else if (text.startsWith(":")) {
      addrs = "";
      ports = text.slice(1);
    }
  } else {
    const i = text.indexOf(":");
    if (i >= 0) {
      addrs = text.slice(0, i);
      ports = text.slice(i + 1);
    }
  }
  const out: JsonObject = {};
  if (addrs !== "") {
    const [lo, hi] = addrs.split("-");
    const a = parseIp(lo);
    const b = hi === undefined ? a : parseIp(hi);
    const len = family === 4 ? 4 : 16;
    if (!a || !b || a.length !== len || b.length !== len || addrs.split("-").length > 2) return null;
    out.addr = hi === undefined || hi === lo ? lo : { range: [lo, hi] };
  }
  if (ports !== null) {
    const p = port(ports, "-");
    if (p === null) return null;
    out.port = p;
  }
  return out;
}

/** The options of an extension by name; null when one is not in `known` or is given twice. */
function optionsOf(ext: XtExtension, known: readonly string[]): Map<string, XtOption> | null {
  const out = new Map<string, XtOption>();
  for (const o of ext.options) {
    if (known.indexOf(o.name) < 0 || out.has(o.name)) return null;
    out.set(o.name, o);
  }
  return out;
}

/** A NAT target (DNAT, SNAT, MASQUERADE, REDIRECT, NETMAP) as its statement. */
function natTarget(ext: XtExtension, ctx: NativeContext): Native | null {
  const flagOpts = ["--random", "--random-fully", "--persistent"];
  const body = (o: JsonObject, opts: XtOption[]): Json => {
    const flags = natFlags(opts);
    const full: JsonObject = flags === undefined ? o : { ...o, flags };
    return Object.keys(full).length ? full : null;
  };
  switch (ext.name) {
    case "DNAT":
    case "SNAT": {
      const to = ext.name === "DNAT" ? "--to-destination" : "--to-source";
      const opts = optionsOf(ext, [to, ...flagOpts]);
      const t = opts?.get(to);
      if (!opts || !t || t.values.length !== 1 || t.neg) return null;
      const r = natRange(t.values[0], ctx.family);
      if (!r) return null;
      return { expr: [{ [ext.name.toLowerCase()]: body(r, ext.options) }] };
    }
    case "MASQUERADE":
    case "REDIRECT": {
      const opts = optionsOf(ext, ["--to-ports", ...flagOpts]);
      if (!opts) return null;
      const to = opts.get("--to-ports");
      const o: JsonObject = {};
      if (to) {
        const p = to.values.length === 1 ? port(to.values[0], "-") : null;
        if (p === null) return null;
        o.port = p;
      }
      return { expr: [{ [ext.name.toLowerCase()]: body(o, ext.options) }] };
    }
    case "NETMAP": {
      // the kernel's NETMAP maps the destination in prerouting/output and the
      // source in postrouting/input: in a user chain the hook is not known
      const opts = optionsOf(ext, ["--to"]);
      const to = opts?.get("--to");
      const kind = ctx.hook === "prerouting" || ctx.hook === "output" ? "dnat"
        : ctx.hook === "postrouting" || ctx.hook === "input" ? "snat" : null;
      if (!to || to.values.length !== 1 || !kind) return null;
      const a = address(to.values[0], ctx.family);
      if (a === null) return null;
      const addr = typeof a === "string" ? { prefix: { addr: a, len: ctx.family === 4 ? 32 : 128 } } : a;
      return { expr: [{ [kind]: { addr, flags: "netmap", type_flags: "prefix" } }] };
    }
    default:
      return null;
  }
}

/** fib's route types, in the kernel's order (nft prints a set of them sorted by it). */
const RTN_TYPES = ["unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat", "xresolve"];

function addrtype(ext: XtExtension): Native | null {
  const opts = optionsOf(ext, ["--src-type", "--dst-type", "--limit-iface-in", "--limit-iface-out"]);
  if (!opts) return null;
  const flagsExtra = opts.has("--limit-iface-in") ? ["iif"] : opts.has("--limit-iface-out") ? ["oif"] : [];
  if (opts.has("--limit-iface-in") && opts.has("--limit-iface-out")) return null;
  const out: Json[] = [];
  for (const o of ext.options) {
    if (o.name !== "--src-type" && o.name !== "--dst-type") continue;
    const types = o.values.length === 1 ? o.values[0].toLowerCase().split(",") : [];
    if (!types.length || types.some((t) => RTN_TYPES.indexOf(t) < 0)) return null;
    types.sort((a, b) => RTN_TYPES.indexOf(a) - RTN_TYPES.indexOf(b));
    const left = { fib: { result: "type", flags: [o.name === "--src-type" ? "saddr" : "daddr", ...flagsExtra] } };
    out.push(match(o.neg ? "!=" : "==", left, types.length === 1 ? types[0] : { set: types }));
  }
  return out.length ? { expr: out } : null;
}

function multiport(ext: XtExtension, ctx: NativeContext): Native | null {
  const opts = optionsOf(ext, ["--dports", "--sports", "--destination-ports", "--source-ports"]);
  const proto = ctx.proto === null ? null : protoText(ctx.proto);
  if (!opts || opts.size !== 1 || typeof proto !== "string" || PORT_PROTOS.indexOf(proto) < 0) return null;
  const o = ext.options[0];
  if (o.values.length !== 1) return null;
  const ports = o.values[0].split(",").map((p) => port(p, ":"));
  if (ports.some((p) => p === null)) return null;
  const lo = (p: Json) => (typeof p === "number" ? p : ((p as { range: number[] }).range[0]));
  const sorted = ports.sort((a, b) => lo(a) - lo(b));
  const field = o.name === "--dports" || o.name === "--destination-ports" ? "dport" : "sport";
  const left = { payload: { protocol: proto, field } };
  return { expr: [match(o.neg ? "!=" : "==", left, sorted.length === 1 ? sorted[0] : { set: sorted })] };
}

/** `-m tcp`/`-m udp` as xt (older iptables-nft): ports only. */
function ports(ext: XtExtension): Native | null {
  const opts = optionsOf(ext, ["--dport", "--sport", "--destination-port", "--source-port"]);
  if (!opts || !opts.size) return null;
  const out: Json[] = [];
  for (const o of ext.options) {
    const p = o.values.length === 1 ? port(o.values[0], ":") : null;
    if (p === null) return null;
    const field = o.name === "--dport" || o.name === "--destination-port" ? "dport" : "sport";
    out.push(match(o.neg ? "!=" : "==", { payload: { protocol: ext.name, field } }, p));
  }
  return { expr: out };
}

function mark(ext: XtExtension): Native | null {
  const opts = optionsOf(ext, ["--mark"]);
  const o = opts?.get("--mark");
  if (!o || o.values.length !== 1) return null;
  const [v, m] = o.values[0].split("/").map((x) => (/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(x) ? Number(x) : NaN));
  if (!Number.isInteger(v) || (m !== undefined && !Number.isInteger(m))) return null;
  const left: Json = m === undefined || m === 0xffffffff ? { meta: { key: "mark" } } : { "&": [{ meta: { key: "mark" } }, m] };
  return { expr: [match(o.neg ? "!=" : "==", left, v)] };
}

/** Bit-ordered names of `ct state` and `ct status` as nft prints them. */
const CT_STATES = ["invalid", "established", "related", "new", "untracked"];
const CT_STATUS = ["expected", "seen-reply", "assured", "confirmed", "snat", "dnat"];

/** A list of flags as `ct` prints it: one as a string, several as a list. */
function flagList(names: string[], order: string[]): Json {
  const sorted = [...new Set(names)].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return sorted.length === 1 ? sorted[0] : sorted;
}

function conntrack(ext: XtExtension, family: 4 | 6): Native | null {
  const out: Json[] = [];
  const ip = family === 4 ? "ip" : "ip6";
  for (const o of ext.options) {
    if (o.values.length !== 1 && o.name !== "--ctdir") return null;
    const v = o.values[0] ?? "";
    const names = v.toLowerCase().split(",").map((s) => s.replace("_", "-"));
    const flagOp = o.neg ? "!" : "in";
    switch (o.name) {
      case "--ctstate":
      case "--state":
        if (names.every((s) => CT_STATES.indexOf(s) >= 0)) out.push(match(flagOp, { ct: { key: "state" } }, flagList(names, CT_STATES)));
        // SNAT and DNAT are the conntrack status bits: `--ctstate DNAT` is `ct status dnat`
        else if (names.every((s) => s === "snat" || s === "dnat")) out.push(match(flagOp, { ct: { key: "status" } }, flagList(names, CT_STATUS)));
        else return null;
        break;
      case "--ctstatus":
        if (!names.every((s) => CT_STATUS.indexOf(s) >= 0 && s !== "snat" && s !== "dnat")) return null;
        out.push(match(flagOp, { ct: { key: "status" } }, flagList(names, CT_STATUS)));
        break;
      case "--ctproto": {
        const p = protoText(v);
        if (p === null) return null;
        out.push(match(o.neg ? "!=" : "==", { ct: { key: "protocol" } }, p));
        break;
      }
      case "--ctorigsrc":
      case "--ctorigdst":
      case "--ctreplsrc":
      case "--ctrepldst": {
        const a = address(v, family);
        if (a === null) return null;
        const dir = o.name.startsWith("--ctorig") ? "original" : "reply";
        out.push(match(o.neg ? "!=" : "==", { ct: { key: `${ip} ${o.name.endsWith("src") ? "saddr" : "daddr"}`, dir } }, a));
        break;
      }
      case "--ctorigsrcport":
      case "--ctorigdstport":
      case "--ctreplsrcport":
      case "--ctrepldstport": {
        const p = port(v, ":");
        if (p === null) return null;
        const dir = o.name.startsWith("--ctorig") ? "original" : "reply";
        out.push(match(o.neg ? "!=" : "==", { ct: { key: o.name.includes("src") ? "proto-src" : "proto-dst", dir } }, p));
        break;
      }
      case "--ctdir":
        if (o.values.length !== 1 || o.neg || (v !== "ORIGINAL" && v !== "REPLY")) return null;
        out.push(match("==", { ct: { key: "direction" } }, v.toLowerCase()));
        break;
      default:
        return null;
    }
  }
  return out.length ? { expr: out } : null;
}

function iprange(ext: XtExtension, family: 4 | 6): Native | null {
  const out: Json[] = [];
  for (const o of ext.options) {
    if ((o.name !== "--src-range" && o.name !== "--dst-range") || o.values.length !== 1) return null;
    const [lo, hi] = o.values[0].split("-");
    const a = parseIp(lo);
    const b = hi === undefined ? null : parseIp(hi);
    if (!a || !b || a.length !== b.length || a.length !== (family === 4 ? 4 : 16)) return null;
    const left = { payload: { protocol: family === 4 ? "ip" : "ip6", field: o.name === "--src-range" ? "saddr" : "daddr" } };
    out.push(match(o.neg ? "!=" : "==", left, lo === hi ? lo : { range: [lo, hi] }));
  }
  return out.length ? { expr: out } : null;
}

/** An xt match as native expressions (or the rule's comment); null when natnow cannot say it natively. */
export function nativeMatch(ext: XtExtension, ctx: NativeContext): Native | null {
  switch (ext.name) {
    case "comment": {
      const o = optionsOf(ext, ["--comment"])?.get("--comment");
      return o && o.values.length === 1 && !o.neg ? { expr: [], comment: o.values[0] } : null;
    }
    case "addrtype":
      return addrtype(ext);
    case "multiport":
      return multiport(ext, ctx);
    case "tcp":
    case "udp":
      return ports(ext);
    case "mark":
      return mark(ext);
    case "conntrack":
    case "state":
      return conntrack(ext, ctx.family);
    case "iprange":
      return iprange(ext, ctx.family);
    default:
      return null;
  }
}

/** An xt target as its native statement; null when natnow cannot say it natively. */
export function nativeTarget(ext: XtExtension, ctx: NativeContext): Native | null {
  return natTarget(ext, ctx);
}
