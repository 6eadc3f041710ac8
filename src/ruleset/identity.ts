/**
 * What identifies a live rule beyond its terms: its expressions as they
 * decide (the elements of every set and map it names, without counter
 * values or timers), and, for a rule gated by a mark, every rule that sets
 * marks. A change in any of them is a change of the rule; a counter ticking
 * is not.
 */

import { isObject, type Json, type NftRuleset, type NftSet } from "./nft.ts";

/** Keys whose values change while the rule stays the same (counters, quotas, timers). */
const RUNNING = ["packets", "bytes", "used", "expires"];

/** A JSON value without its running state, `@name` replaced by the set's elements (sorted). */
function canonical(v: Json, sets: (name: string) => NftSet | undefined): Json {
  if (typeof v === "string" && v.startsWith("@")) {
    const s = sets(v.slice(1));
    if (!s) return v;
    const elem = s.elem.map((e) => JSON.stringify(canonical(e, () => undefined))).sort();
    return { [v]: elem };
  }
  if (Array.isArray(v)) return v.map((x) => canonical(x, sets));
  if (!isObject(v)) return v;
  const out: { [k: string]: Json } = {};
  for (const k of Object.keys(v)) {
    if (RUNNING.indexOf(k) < 0) out[k] = canonical(v[k], sets);
  }
  return out;
}

/** A rule's expressions as text that changes exactly when what the rule does changes. */
export function canonicalExpr(expr: readonly Json[], sets: (name: string) => NftSet | undefined): string {
  return JSON.stringify(canonical([...expr], sets));
}

/** Whether a JSON value names the packet or connection mark (`meta mark`, `ct mark`). */
function isMark(v: Json | undefined): boolean {
  return isObject(v) && ((isObject(v.meta) && v.meta.key === "mark") || (isObject(v.ct) && v.ct.key === "mark"));
}

/** Whether any value inside `v` (a statement, a key) satisfies `test`. */
function anyInside(v: Json | undefined, test: (x: Json) => boolean): boolean {
  if (v === undefined) return false;
  if (test(v)) return true;
  if (Array.isArray(v)) return v.some((x) => anyInside(x, test));
  return isObject(v) && Object.keys(v).some((k) => anyInside(v[k], test));
}

/** Whether a rule sets a mark (a `mangle` of `meta mark` or `ct mark`). */
function setsMark(expr: readonly Json[]): boolean {
  return expr.some((e) => isObject(e) && isObject(e.mangle) && isMark(e.mangle.key));
}

/** Whether a rule's decision reads a mark (a match, a map or a verdict map keyed by one). */
export function readsMark(expr: readonly Json[]): boolean {
  return expr.some((e) => isObject(e) && !isObject(e.mangle) && anyInside(e, (x) => isMark(x)));
}

/**
 * Every rule that sets a mark, in any chain of any table that runs (not
 * dormant), as text: a NAT rule gated by a mark depends on all of them.
 */
export function markSetters(rs: NftRuleset, runs: (family: string, table: string) => boolean): string[] {
  const lookup = (family: string, table: string) => (name: string) =>
    rs.sets.find((s) => s.family === family && s.table === table && s.name === name);
  return rs.rules
    .filter((r) => runs(r.family, r.table) && setsMark(r.expr))
    .map((r) => `${r.family} ${r.table} ${r.chain}: ${canonicalExpr(r.expr, lookup(r.family, r.table))}`)
    .sort();
}
