/**
 * One nft rule's expressions as alternatives of terms and verdict. All
 * matches of a rule must hold (nft_do_chain stops at the first that does
 * not); a set of concatenations, a NAT map and a verdict map are one
 * alternative per element. A match natnow cannot read is left out with its
 * reason in `unbounded`, and reading goes on, so every alternative's terms
 * are a superset of the packets it stands for.
 */

import type { PortRange } from "../net/match.ts";
import { parseIp, textFamily } from "../net/ip.ts";
import { isObject, type Json, type JsonObject, jsonText } from "./nft.ts";
import { type ByFamily, describeKey, elementKey, elements, keyTerms, portElement, type SetLookup, Unreadable } from "./keys.ts";
import {
  anyTerms, combineTerms, type NatStatement, type RuleTerms, settle, type Terms, type Verdict, withReason,
} from "./terms.ts";

/** One way a rule can match: terms, and keys to read once the family is known. */
interface Option {
  terms: Terms;
  later: ByFamily[];
}

/** More alternatives than this and a match is left out (widened) instead. */
const MAX_ALTERNATIVES = 1024;

const option = (terms: Terms, later: ByFamily[] = []): Option => ({ terms, later });

function both(a: Option, b: Option): Option {
  return { terms: combineTerms(a.terms, b.terms), later: [...a.later, ...b.later] };
}

/** `left == value` (one element, a concatenation when `left` is one) as an option. */
function elementOption(left: Json, value: Json): Option {
  if (isObject(left) && Array.isArray(left.concat)) {
    const vals = isObject(value) && Array.isArray(value.concat) ? value.concat : null;
    if (!vals || vals.length !== left.concat.length) throw new Unreadable(`matches a concatenation with ${JSON.stringify(value)}`);
    return left.concat.reduce<Option>((acc, k, i) => both(acc, elementOption(k, vals[i])), option(anyTerms()));
  }
  const t = keyTerms(left, [value], false);
  return typeof t === "function" ? option(anyTerms(), [t]) : option(t);
}

/** The options of one `match` expression. */
function matchOptions(m: JsonObject, sets: SetLookup): Option[] {
  const { op, left, right } = m;
  if (left === undefined || right === undefined) throw new Unreadable("has a bad match");
  if (isObject(left) && isObject(left.ct) && left.ct.key === "status" && right === "dnat" && (op === "in" || op === "!")) {
    // a flag test (nft's `ct status dnat`, `ct status & dnat == 0`); `==`/`!=` compare the whole status
    return [option({ ...anyTerms(), dnat: op === "in" })];
  }
  if (op !== "==" && op !== "!=" && op !== "in") throw new Unreadable(`uses the operator '${jsonText(op)}' on ${describeKey(left)}`);
  const els = elements(right, sets, describeKey(left));
  if (isObject(left) && Array.isArray(left.concat)) {
    if (op === "!=") throw new Unreadable("matches a concatenation with '!='");
    return els.map((e) => elementOption(left, e));
  }
  const t = keyTerms(left, els, op === "!=");
  return [typeof t === "function" ? option(anyTerms(), [t]) : option(t)];
}

/** The key/data pairs of a map's right side (`@name` or an anonymous `{"set": [[k, v], ...]}`). */
function mapPairs(data: Json | undefined, sets: SetLookup, what: string): [Json, Json][] {
  let list: Json[];
  if (typeof data === "string" && data.startsWith("@")) {
    const s = sets(data.slice(1));
    if (!s) throw new Unreadable(`${what}: map '${data.slice(1)}' is not in the ruleset`);
    list = s.elem;
  } else if (isObject(data) && Array.isArray(data.set)) list = data.set;
  else throw new Unreadable(`${what}: ${JSON.stringify(data)} is not a map`);
  return list.map((p) => {
    if (!Array.isArray(p) || p.length !== 2) throw new Unreadable(`${what}: ${JSON.stringify(p)} is not a map element`);
    return [elementKey(p[0]), p[1]];
  });
}

function natAddr(v: Json | undefined, what: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string" && parseIp(v)) return v;
  if (isObject(v) && Array.isArray(v.range) && v.range.length === 2 && typeof v.range[0] === "string" &&
    typeof v.range[1] === "string" && parseIp(v.range[0]) && parseIp(v.range[1])) {
    return `${v.range[0]}-${v.range[1]}`;
  }
  throw new Unreadable(`${what} to ${JSON.stringify(v)}`);
}

function natFamily(body: JsonObject, toAddr: string | null): 0 | 4 | 6 {
  return body.family === "ip" ? 4 : body.family === "ip6" ? 6 : toAddr ? textFamily(toAddr) : 0;
}

/** A NAT statement with a plain address and port. */
function plainNat(kind: NatStatement["action"], body: JsonObject, addr: Json | undefined, port: Json | undefined): NatStatement {
  const toPort: PortRange | null = port === undefined ? null : portElement(port, kind);
  const toAddr = kind === "dnat" || kind === "snat" ? natAddr(addr, kind) : null;
  return { action: kind, family: natFamily(body, toAddr), toAddr, toPort };
}

/** A NAT statement as options, one per map element when it maps its address or port (nft_nat with a map lookup). */
function natOptions(kind: NatStatement["action"], o: Json, sets: SetLookup): [Option, NatStatement][] {
  const body = isObject(o) ? o : {};
  const addrMap = isObject(body.addr) && isObject(body.addr.map) ? body.addr.map : null;
  const portMap = isObject(body.port) && isObject(body.port.map) ? body.port.map : null;
  if (addrMap && portMap) throw new Unreadable(`${kind} maps both its address and its port`);
  const m = addrMap ?? portMap;
  if (!m) return [[option(anyTerms()), plainNat(kind, body, body.addr, body.port)]];
  if (m.key === undefined) throw new Unreadable(`${kind} maps by no key`);
  const key = m.key;
  return mapPairs(m.data, sets, `${kind} map`).map(([k, v]) => {
    let addr: Json | undefined = addrMap ? v : body.addr;
    let port: Json | undefined = addrMap ? body.port : v;
    // `dnat to ip daddr . tcp dport map { ... : 198.18.1.7 . 8080 }`: address and port
    if (addrMap && isObject(v) && Array.isArray(v.concat) && v.concat.length === 2) [addr, port] = v.concat;
    return [elementOption(key, k), plainNat(kind, body, addr, port)];
  });
}

function verdictOf(k: string, v: Json): Verdict | null {
  if (k === "jump" || k === "goto") {
    if (!isObject(v) || typeof v.target !== "string") throw new Unreadable(`has a bad ${k}`);
    return { kind: k, target: v.target };
  }
  if (k === "accept" || k === "return" || k === "drop" || k === "continue") return { kind: k };
  if (k === "reject") return { kind: "drop" };
  return null;
}

/** A verdict map's elements as options with their verdicts. */
function vmapOptions(v: Json, sets: SetLookup): [Option, Verdict][] {
  if (!isObject(v) || v.key === undefined) throw new Unreadable("has a bad vmap");
  const key = v.key;
  return mapPairs(v.data, sets, "vmap").map(([k, verdict]) => {
    const vk = isObject(verdict) ? Object.keys(verdict)[0] : null;
    const out = vk !== null && isObject(verdict) ? verdictOf(vk, verdict[vk]) : null;
    if (!out) throw new Unreadable(`vmap: ${JSON.stringify(verdict)} is not a verdict`);
    // a key natnow cannot read (kube-proxy's `numgen random mod N`): each target is still
    // walked, under the readable part of the rule (a superset of the packets it gets)
    try {
      return [elementOption(key, k), out];
    } catch (e) {
      if (!(e instanceof Unreadable)) throw e;
      return [option(withReason(anyTerms(), e.message)), out];
    }
  });
}

/** Statements that neither match nor decide (their side effects do not change the NAT). */
const PASSIVE = ["counter", "log", "limit", "quota", "mangle", "notrack", "ct count", "last"];

/** Every option of `alts` with every one of `more` (the options of the next match). */
function product(alts: Option[], more: Option[]): Option[] {
  const out: Option[] = [];
  for (const a of alts) {
    for (const b of more) {
      const c = both(a, b);
      if (!c.terms.never) out.push(c);
    }
  }
  return out;
}

/** An alternative's terms, its family-dependent keys read (both families' readings when it has none). */
function resolve(o: Option, family: 0 | 4 | 6): Terms[] {
  const fams: (4 | 6)[] = family ? [family] : o.later.length ? [4, 6] : [];
  if (!fams.length) return [settle(o.terms)];
  return fams.flatMap((f) => {
    let t = combineTerms(o.terms, { ...anyTerms(), family: f });
    for (const read of o.later) {
      try {
        t = combineTerms(t, read(f));
      } catch (e) {
        if (!(e instanceof Unreadable)) throw e;
        t = withReason(t, e.message);
      }
    }
    return t.never ? [] : [settle(t)];
  });
}

/** Reads a statement that decides: its options and verdicts, or null when `k` does not decide. */
function decision(k: string, v: Json, sets: SetLookup): [Option, Verdict][] | null {
  if (k === "dnat" || k === "snat" || k === "masquerade" || k === "redirect") {
    return natOptions(k, v, sets).map(([o, nat]) => [
      // nft_nat_inet_eval translates only packets of the statement's family
      { ...o, terms: nat.family ? combineTerms(o.terms, { ...anyTerms(), family: nat.family }) : o.terms },
      { kind: "nat", nat },
    ]);
  }
  if (k === "vmap") return vmapOptions(v, sets);
  const verdict = verdictOf(k, v);
  return verdict ? [[option(anyTerms()), verdict]] : null;
}

/**
 * Reads a rule's expressions. `family` is the table's (`ip` 4, `ip6` 6,
 * `inet` 0); `sets` resolves `@name` references in the rule's table. The
 * result lists the rule's alternatives (none when it matches nothing).
 */
export function ruleTerms(expr: readonly Json[], family: 0 | 4 | 6, sets: SetLookup): RuleTerms[] {
  let alts: Option[] = [option(anyTerms(family))];
  const reasons: string[] = [];
  let unknown = false;
  let decided: [Option, Verdict][] | null = null;
  for (const e of expr) {
    const k = isObject(e) ? Object.keys(e)[0] : "";
    const v = isObject(e) ? e[k] : null;
    try {
      if (k === "match") {
        if (!isObject(v)) throw new Unreadable("has a bad match");
        const more = matchOptions(v, sets);
        if (alts.length * more.length > MAX_ALTERNATIVES) {
          throw new Unreadable(`matches more alternatives than natnow reads (${describeKey(v.left)})`);
        }
        alts = product(alts, more);
        continue;
      }
      if (PASSIVE.indexOf(k) >= 0) continue;
      decided = decision(k, v, sets);
      if (decided) break;
      // an unknown statement may match (an xt match) or decide (an xt target): read on, and remember it
      unknown = true;
      throw new Unreadable(k === "xt" ? "uses an xtables extension" : k ? `uses '${k}'` : "has an expression that is not an object");
    } catch (err) {
      if (!(err instanceof Unreadable)) throw err;
      reasons.push(err.message);
      if (k === "match" || unknown) continue;
      // a deciding statement natnow cannot read whole decides all the same
      decided = [[option(anyTerms()), unreadVerdict(k, v)]];
      break;
    }
  }
  const out: RuleTerms[] = [];
  const ends: [Option, Verdict][] = decided ?? [[option(anyTerms()), { kind: unknown ? "unknown" : "continue" }]];
  for (const a of alts) {
    for (const [o, verdict] of ends) {
      const joined = both(a, o);
      if (joined.terms.never) continue;
      for (const t of resolve(joined, joined.terms.family)) out.push({ terms: reasons.reduce(withReason, t), verdict });
    }
  }
  return out;
}

/** The verdict of a deciding statement natnow could not read: its NAT without the target, or unknown. */
function unreadVerdict(k: string, v: Json): Verdict {
  if (k === "dnat" || k === "snat" || k === "masquerade" || k === "redirect") {
    const fam = isObject(v) ? natFamily(v, null) : 0;
    return { kind: "nat", nat: { action: k, family: fam, toAddr: null, toPort: null } };
  }
  return { kind: "unknown" };
}
