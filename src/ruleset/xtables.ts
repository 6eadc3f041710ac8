/**
 * Rules written through iptables-nft show in `nft -j list ruleset` as
 * `{"xt": {"type": "target", "name": "DNAT"}}` without their parameters
 * (nft's json.c prints only the name). iptables-nft-save prints them, and
 * lists a chain's rules in nft's order; this joins the two by table, chain
 * and position, checks that both show the same rule (counts, and the
 * protocol, addresses, interfaces and verdict both print), and replaces
 * each `xt` with the native expressions `nft -j` prints for the same rule
 * (xtnative.ts). A table where the two disagree, or that iptables-nft-save
 * calls incompatible, keeps its `xt` and gets an error: never a guessed
 * join. NAT in iptables-legacy is in no nft table at all: only a warning.
 */

import { parseIp, maskBits } from "../net/ip.ts";
import { protoNumber } from "../net/proto.ts";
import { isObject, type Json, type NftRule, type NftRuleset } from "./nft.ts";
import { type Native, nativeMatch, nativeTarget } from "./xtnative.ts";
import { parseXtSave, type XtBasic, type XtExtension, type XtRule, type XtSave, XtSaveError, type XtTable } from "./xtparse.ts";

/** The save outputs a resolution reads, as the tools printed them (null: not read). */
export interface XtablesText {
  /** `iptables-nft-save` (family ip). */
  ip: string | null;
  /** `ip6tables-nft-save` (family ip6). */
  ip6: string | null;
  /** `iptables-legacy-save -t nat` and `ip6tables-legacy-save -t nat`, one after the other. */
  legacy: string | null;
}

/** A ruleset with its `xt` expressions replaced where the save output allows, and what could not be. */
export interface XtResolution {
  ruleset: NftRuleset;
  /** Per table, why its `xt` expressions stay unread (`ip nat: ...`). */
  errors: string[];
  /** iptables-legacy NAT, invisible to nft. */
  warnings: string[];
}

/** The tables iptables-nft owns. */
const XT_TABLES = ["nat", "mangle", "filter", "raw", "security"];

/** xt names of matches iptables-save prints under another name (libxt_state is conntrack's revision). */
const REAL_NAME: Record<string, string> = { state: "conntrack" };

/** One `xt` expression, or null. */
function xtOf(e: Json): { type: string; name: string } | null {
  if (!isObject(e) || !isObject(e.xt)) return null;
  const { type, name } = e.xt;
  return typeof type === "string" && typeof name === "string" ? { type, name } : null;
}

class Disagree extends Error {}

/** An interface name as iptables-nft writes it into nft (`eth+` → `eth*`, a literal `*` escaped). */
function nftIfname(name: string): string {
  const wild = name.endsWith("+");
  const base = (wild ? name.slice(0, -1) : name).replace(/\*/g, "\\*");
  return wild ? `${base}*` : base;
}

/** An address match as `addr/len` (or `addr/mask` when not a prefix), from either side. */
function addrKey(text: string, mask: string | null): string {
  const a = parseIp(text);
  if (!a) return `${text}/${mask ?? "?"}`;
  const full = a.length * 8;
  if (mask === null) return `${text}/${full}`;
  if (/^[0-9]+$/.test(mask)) return `${text}/${mask}`;
  const m = parseIp(mask);
  const bits = m ? maskBits(m) : null;
  return `${text}/${bits ?? mask}`;
}

/** The protocol as a number (or its text when unknown), for comparing. */
function protoKey(p: Json): string {
  const n = typeof p === "number" ? p : typeof p === "string" ? protoNumber(p) : null;
  return n === null ? JSON.stringify(p) : String(n);
}

/** What the nft rule's native part says of the basics iptables prints: `key op value` in words. */
function nftBasics(expr: readonly Json[]): string[] {
  const out: string[] = [];
  const ports = ["tcp", "udp", "sctp", "dccp", "udplite"];
  let implied: string | null = null;
  for (const e of expr) {
    if (!isObject(e) || !isObject(e.match)) continue;
    const { op, left, right } = e.match;
    const neg = op === "!=" ? "!" : "";
    if (isObject(left) && isObject(left.meta)) {
      const key = left.meta.key;
      if ((key === "iifname" || key === "oifname") && typeof right === "string") out.push(`${neg}${key === "iifname" ? "i" : "o"} ${right}`);
      if (key === "l4proto") out.push(`${neg}p ${protoKey(right)}`);
    }
    const pl = isObject(left) && isObject(left.payload) ? left.payload
      : isObject(left) && Array.isArray(left["&"]) && isObject(left["&"][0]) && isObject(left["&"][0].payload) ? left["&"][0].payload : null;
    if (pl && (pl.protocol === "ip" || pl.protocol === "ip6") && (pl.field === "saddr" || pl.field === "daddr")) {
      const which = pl.field === "saddr" ? "s" : "d";
      if (typeof right === "string") {
        const mask = isObject(left) && Array.isArray(left["&"]) && typeof left["&"][1] === "string" ? left["&"][1] : null;
        out.push(`${neg}${which} ${addrKey(right, mask)}`);
      } else if (isObject(right) && isObject(right.prefix) && typeof right.prefix.addr === "string") {
        out.push(`${neg}${which} ${addrKey(right.prefix.addr, JSON.stringify(right.prefix.len))}`);
      } else out.push(`${neg}${which} ${JSON.stringify(right)}`);
    }
    if (pl && pl.protocol === "ip" && pl.field === "protocol") out.push(`${neg}p ${protoKey(right)}`);
    if (pl && pl.protocol === "ip6" && pl.field === "nexthdr") out.push(`${neg}p ${protoKey(right)}`);
    // `udp dport 53` carries its protocol as a dependency nft does not print
    if (pl && typeof pl.protocol === "string" && ports.indexOf(pl.protocol) >= 0) implied = protoKey(pl.protocol);
  }
  if (implied !== null && !out.some((x) => x.startsWith("p ") || x.startsWith("!p "))) out.push(`p ${implied}`);
  return out.sort();
}

/** The same basics from the save rule. */
function saveBasics(r: XtRule): string[] {
  const out: string[] = [];
  const one = (flag: string, b: XtBasic | null, f: (v: string) => string) => {
    if (b) out.push(`${b.neg ? "!" : ""}${flag} ${f(b.value)}`);
  };
  one("i", r.iif, nftIfname);
  one("o", r.oif, nftIfname);
  const addr = (v: string) => {
    const i = v.indexOf("/");
    return i < 0 ? addrKey(v, null) : addrKey(v.slice(0, i), v.slice(i + 1));
  };
  one("s", r.src, addr);
  one("d", r.dst, addr);
  if (r.proto && r.proto.value !== "all" && r.proto.value !== "0") one("p", r.proto, protoKey);
  return out.sort();
}

/** The verdict the nft rule's native part has, as iptables names it; null when there is none. */
function nftVerdict(expr: readonly Json[]): string | null {
  for (const e of expr) {
    if (!isObject(e)) continue;
    const k = Object.keys(e)[0];
    if (k === "accept" || k === "drop" || k === "return") return `-j ${k.toUpperCase()}`;
    const v = e[k];
    if ((k === "jump" || k === "goto") && isObject(v) && typeof v.target === "string") return `${k === "jump" ? "-j" : "-g"} ${v.target}`;
  }
  return null;
}

/** Checks one rule pair and returns the nft rule with its `xt` replaced (where natnow can). */
function joinRule(r: NftRule, s: XtRule, t: XtTable, hook: string | null, family: 4 | 6): NftRule {
  const a = nftBasics(r.expr).join(", ");
  const b = saveBasics(s).join(", ");
  if (a !== b) throw new Disagree(`nft shows [${a}], iptables-nft-save [${b}]`);
  const verdict = nftVerdict(r.expr);
  const target = s.target;
  const xts = r.expr.map(xtOf);
  const xtTargets = xts.filter((x) => x && x.type === "target");
  if (xtTargets.length > 1) throw new Disagree("nft shows two xt targets");
  if (xtTargets.length === 1) {
    if (!target || target.goto || target.name !== (xtTargets[0] as { name: string }).name) {
      throw new Disagree(`nft shows the target ${(xtTargets[0] as { name: string }).name}, iptables-nft-save ${target ? target.name : "none"}`);
    }
  } else if (target && (["ACCEPT", "DROP", "RETURN"].indexOf(target.name) >= 0 || t.chains.indexOf(target.name) >= 0)) {
    const want = `${target.goto ? "-g" : "-j"} ${target.name}`;
    if (verdict !== want) throw new Disagree(`nft shows ${verdict ?? "no verdict"}, iptables-nft-save ${want}`);
  } else if (!target && verdict !== null) throw new Disagree(`nft shows ${verdict}, iptables-nft-save no target`);

  // xt matches in nft's order pair with the save's -m of the same name in its
  // order; a -m nft shows natively (tcp ports, mark) has no xt
  const pairs = new Map<number, XtExtension>();
  let m = 0;
  xts.forEach((x, i) => {
    if (!x || x.type !== "match") return;
    while (m < s.matches.length && (REAL_NAME[s.matches[m].name] ?? s.matches[m].name) !== x.name) m++;
    if (m >= s.matches.length) throw new Disagree(`nft shows the xt match ${x.name}, iptables-nft-save no -m ${x.name} for it`);
    pairs.set(i, s.matches[m++]);
  });

  const ctx = {
    family, hook,
    proto: s.proto && !s.proto.neg ? s.proto.value : null,
  };
  const comments: string[] = [];
  const expr: Json[] = [];
  r.expr.forEach((e, i) => {
    const x = xts[i];
    let native: Native | null = null;
    if (x && x.type === "match") native = nativeMatch(pairs.get(i) as XtExtension, ctx);
    else if (x && x.type === "target") native = nativeTarget(target as XtExtension, ctx);
    if (native === null) {
      expr.push(e);
      return;
    }
    expr.push(...native.expr);
    if (native.comment !== undefined) comments.push(native.comment);
  });
  const comment = r.comment ?? (comments.length ? comments.join(" ") : null);
  return { ...r, comment, expr };
}

/** Built-in chains iptables-save prints even where iptables-nft has not made them in nft yet. */
const BUILTIN = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/** Joins one table's nft rules with its save table; throws Disagree with the place in the table. */
function joinTable(rs: NftRuleset, family: "ip" | "ip6", t: XtTable, tool: string): Map<NftRule, NftRule> {
  const chains = rs.chains.filter((c) => c.family === family && c.table === t.name);
  const names = chains.map((c) => c.name);
  const onlyNft = names.filter((n) => t.chains.indexOf(n) < 0);
  const onlySave = t.chains.filter((n) => names.indexOf(n) < 0 &&
    !(BUILTIN.indexOf(n) >= 0 && !t.rules.some((r) => r.chain === n)));
  if (onlyNft.length || onlySave.length) {
    throw new Disagree(`: the chains differ (only in nft: ${onlyNft.join(" ") || "none"}; only in ${tool}: ${onlySave.join(" ") || "none"})`);
  }
  const out = new Map<NftRule, NftRule>();
  for (const c of chains) {
    const nft = rs.rules.filter((r) => r.family === family && r.table === t.name && r.chain === c.name);
    const save = t.rules.filter((r) => r.chain === c.name);
    if (nft.length !== save.length) {
      throw new Disagree(` ${c.name}: nft has ${nft.length} rules, ${tool} ${save.length}`);
    }
    nft.forEach((r, i) => {
      try {
        out.set(r, joinRule(r, save[i], t, c.hook, family === "ip" ? 4 : 6));
      } catch (e) {
        if (e instanceof Disagree) throw new Disagree(` ${c.name} rule ${i + 1}: ${e.message.replace(/iptables-nft-save/g, tool)}`);
        throw e;
      }
    });
  }
  return out;
}

/** The names of the xt extensions a table uses, for messages. */
function xtNames(rules: NftRule[]): string {
  return [...new Set(rules.flatMap((r) => r.expr.map(xtOf).filter((x) => x !== null).map((x) => x.name)))].join(", ");
}

/** Reads a save text, or says why it cannot be read. */
function readSave(text: string, tool: string): XtSave | string {
  try {
    return parseXtSave(text);
  } catch (e) {
    if (e instanceof XtSaveError) return `${tool} printed what natnow cannot read (${e.message})`;
    throw e;
  }
}

/**
 * Replaces the `xt` expressions of the tables iptables-nft owns (family ip
 * and ip6) that have nat chains with native nft JSON, from the save
 * outputs. A table with `xt`
 * whose save output is missing, unreadable, incompatible or disagrees with
 * nft stays as it is, with an error naming it.
 */
export function resolveXtables(rs: NftRuleset, text: XtablesText): XtResolution {
  const errors: string[] = [];
  const replaced = new Map<NftRule, NftRule>();
  for (const family of ["ip", "ip6"] as const) {
    const tool = family === "ip" ? "iptables-nft-save" : "ip6tables-nft-save";
    // only tables with nat chains concern natnow (the snapshot saves `-t nat`):
    // Docker's filter rules, say, stay as they are, without an error
    const natTables = new Set(rs.chains.filter((c) => c.family === family && c.type === "nat").map((c) => c.table));
    const tables = [...new Set(rs.rules.filter((r) => r.family === family && XT_TABLES.indexOf(r.table) >= 0 &&
      natTables.has(r.table) && r.expr.some((e) => xtOf(e) !== null)).map((r) => r.table))];
    if (!tables.length) continue;
    const src = text[family];
    const save = src === null ? `${tool} was not read` : readSave(src, tool);
    for (const name of tables) {
      const where = `${family} ${name}`;
      const uses = xtNames(rs.rules.filter((r) => r.family === family && r.table === name));
      const fail = (why: string) => errors.push(`${where}${why}; its xtables extensions (${uses}) stay unread`);
      if (typeof save === "string") {
        fail(`: ${save}`);
        continue;
      }
      if (save.incompatible.indexOf(name) >= 0) {
        fail(`: ${tool} says the table is incompatible (a rule has an expression iptables cannot show)`);
        continue;
      }
      const t = save.tables.find((x) => x.name === name);
      if (!t) {
        fail(`: ${tool} did not print the table`);
        continue;
      }
      try {
        for (const [k, v] of joinTable(rs, family, t, tool)) replaced.set(k, v);
      } catch (e) {
        if (!(e instanceof Disagree)) throw e;
        const [place, ...why] = e.message.split(": ");
        fail(`${place}: nft and ${tool} disagree: ${why.join(": ")}`);
      }
    }
  }
  const warnings = text.legacy === null ? [] : legacyWarnings(text.legacy);
  return { ruleset: { ...rs, rules: rs.rules.map((r) => replaced.get(r) ?? r) }, errors, warnings };
}

/** What iptables-legacy-save printed for its nat tables, as warnings when it has rules. */
export function legacyWarnings(text: string): string[] {
  // ip and ip6 outputs follow each other, each under its own header
  const parts = text.split(/(?=^# Generated by )/m).filter((p) => p.trim() !== "");
  const out: string[] = [];
  for (const part of parts) {
    const save = readSave(part, "iptables-legacy-save");
    if (typeof save === "string") {
      out.push(`NAT rules in iptables-legacy are invisible to nft, and ${save}`);
      continue;
    }
    const family = save.family ?? "ip";
    for (const t of save.tables.filter((x) => x.name === "nat" && x.rules.length)) {
      const chains = [...new Set(t.rules.map((r) => r.chain))];
      const n = t.rules.length;
      out.push(`NAT rules in iptables-legacy are invisible to nft: ${family} nat has ${n} rule${n === 1 ? "" : "s"} ` +
        `(${chains.join(", ")}); natnow cannot see them, and the kernel runs them besides nft's`);
    }
  }
  return out;
}
