/**
 * `nft -j list ruleset` output (libnftables' JSON schema, version 1) as
 * typed tables, chains, rules and sets. Only what natnow reads is typed; a
 * rule's expressions stay JSON for `terms.ts`. Anything not of the schema's
 * shape is an error with its place, never silently skipped.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A JSON object. */
export type JsonObject = { [k: string]: Json };

/** Why a ruleset could not be read. */
export class RulesetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RulesetError";
  }
}

/** A table and its flags (`dormant`: none of its chains run). */
export interface NftTable {
  family: string;
  name: string;
  flags: string[];
}

/** A chain; base chains have a type, hook and priority. */
export interface NftChain {
  family: string;
  table: string;
  name: string;
  type: string | null;
  hook: string | null;
  prio: number | null;
}

/** A rule with its expressions (statements) as JSON. */
export interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment: string | null;
  expr: Json[];
}

/** A named set with its elements (JSON, as nft prints them). */
export interface NftSet {
  family: string;
  table: string;
  name: string;
  /** A map (`map` objects) or a set with verdicts/data: natnow does not read those. */
  map: boolean;
  elem: Json[];
}

/** The objects of a ruleset natnow reads, in the order nft printed them. */
export interface NftRuleset {
  /** The tables with their flags; absent: none known, every table runs. */
  tables?: NftTable[];
  chains: NftChain[];
  rules: NftRule[];
  sets: NftSet[];
}

/** A JSON value in words: a string as it is, anything else as JSON. */
export function jsonText(v: Json | undefined): string {
  return typeof v === "string" ? v : JSON.stringify(v) ?? "undefined";
}

/** Whether a JSON value is an object (not null, not an array). */
export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function text(o: JsonObject, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new RulesetError(`${what}: '${key}' is not a string`);
  return v;
}

/** A table's flags: nft prints one as a string, several as a list. */
function tableFlags(v: Json | undefined, what: string): string[] {
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((f) => {
    if (typeof f !== "string") throw new RulesetError(`${what}: 'flags' is not a string or a list of strings`);
    // nft 1.0.6 prints the dormant flag as "dorm" (table_flags_name), newer ones as "dormant"
    return f === "dorm" ? "dormant" : f;
  });
}

/** Whether a table's chains run (it exists and is not dormant; a ruleset without tables runs all). */
export function tableRuns(rs: NftRuleset, family: string, table: string): boolean {
  const t = (rs.tables ?? []).find((x) => x.family === family && x.name === table);
  return !t || t.flags.indexOf("dormant") < 0;
}

/** Parses `nft -j list ruleset` (or a subset in the same format). */
export function parseNftJson(input: string): NftRuleset {
  let doc: Json;
  try {
    doc = JSON.parse(input) as Json;
  } catch {
    // the engines' own messages differ (QuickJS, Node): keep ours
    throw new RulesetError("ruleset: not valid JSON");
  }
  if (!isObject(doc) || !Array.isArray(doc.nftables)) throw new RulesetError("ruleset: no 'nftables' list");
  const tables: NftTable[] = [];
  const out: NftRuleset = { tables, chains: [], rules: [], sets: [] };
  doc.nftables.forEach((item, i) => {
    if (!isObject(item)) throw new RulesetError(`ruleset: item ${i} is not an object`);
    const keys = Object.keys(item);
    if (keys.length !== 1) throw new RulesetError(`ruleset: item ${i} has ${keys.length} keys`);
    const kind = keys[0];
    const o = item[kind];
    if (!isObject(o)) throw new RulesetError(`ruleset: item ${i} (${kind}) is not an object`);
    const what = `ruleset: ${kind} ${i}`;
    switch (kind) {
      case "table":
        tables.push({ family: text(o, "family", what), name: text(o, "name", what), flags: tableFlags(o.flags, what) });
        break;
      case "chain":
        out.chains.push({
          family: text(o, "family", what),
          table: text(o, "table", what),
          name: text(o, "name", what),
          type: typeof o.type === "string" ? o.type : null,
          hook: typeof o.hook === "string" ? o.hook : null,
          prio: typeof o.prio === "number" ? o.prio : null,
        });
        break;
      case "rule": {
        if (!Array.isArray(o.expr)) throw new RulesetError(`${what}: 'expr' is not a list`);
        if (typeof o.handle !== "number") throw new RulesetError(`${what}: 'handle' is not a number`);
        out.rules.push({
          family: text(o, "family", what),
          table: text(o, "table", what),
          chain: text(o, "chain", what),
          handle: o.handle,
          comment: typeof o.comment === "string" ? o.comment : null,
          expr: o.expr,
        });
        break;
      }
      case "set":
      case "map": {
        const elem = o.elem === undefined ? [] : o.elem;
        if (!Array.isArray(elem)) throw new RulesetError(`${what}: 'elem' is not a list`);
        out.sets.push({
          family: text(o, "family", what),
          table: text(o, "table", what),
          name: text(o, "name", what),
          map: kind === "map" || o.map !== undefined,
          elem,
        });
        break;
      }
      default:
        // metainfo, table, flowtable, counter, ct helper, ...: nothing natnow reads
        break;
    }
  });
  return out;
}

/** The nft hooks a nat base chain can have, and which NAT each does. */
export const NAT_HOOKS: Record<string, "dstnat" | "srcnat"> = {
  prerouting: "dstnat",
  output: "dstnat",
  postrouting: "srcnat",
  input: "srcnat",
};

/** The key naming a chain (or set) inside a ruleset. */
export function chainKey(family: string, table: string, name: string): string {
  return `${family} ${table} ${name}`;
}

/** The base chains of type nat, by hook and then priority (the order the kernel runs them in). */
export function natBaseChains(rs: NftRuleset): NftChain[] {
  const order = ["prerouting", "output", "input", "postrouting"];
  return rs.chains
    .filter((c) => c.type === "nat" && c.hook !== null && c.hook in NAT_HOOKS && tableRuns(rs, c.family, c.table))
    .map((c, i) => ({ c, i }))
    .sort((a, b) =>
      order.indexOf(a.c.hook as string) - order.indexOf(b.c.hook as string) ||
      (a.c.prio ?? 0) - (b.c.prio ?? 0) || a.i - b.i
    )
    .map((x) => x.c);
}

/** The `@name` set references and `jump`/`goto` targets inside a JSON value. */
function references(v: Json): { sets: string[]; chains: string[] } {
  const body = JSON.stringify(v);
  return {
    sets: (body.match(/"@[^"]+"/g) ?? []).map((m) => m.slice(2, -1)),
    chains: (body.match(/"(jump|goto)":\{"target":"[^"]+"/g) ?? []).map((m) => m.slice(m.lastIndexOf(":") + 2, -1)),
  };
}

/** Whether a rule sets the packet or connection mark (what a mark-gated NAT rule depends on). */
function setsAMark(r: NftRule): boolean {
  return /"mangle":\{"key":\{"(meta|ct)":\{"key":"mark"\}/.test(JSON.stringify(r.expr));
}

/**
 * The part of a ruleset the nat chains use: nat base chains, the chains
 * they reach by jump/goto (also through verdict maps), their rules, the
 * named sets those rules name, the rules that set marks (anywhere: a NAT
 * rule may be gated by a mark) and the tables of all of them. This is what
 * natnow keeps as "what it last applied".
 */
export function natSubset(rs: NftRuleset): NftRuleset {
  const chains = new Map(rs.chains.map((c) => [chainKey(c.family, c.table, c.name), c]));
  const sets = new Map(rs.sets.map((s) => [chainKey(s.family, s.table, s.name), s]));
  const rulesOf = new Map<string, NftRule[]>();
  for (const r of rs.rules) {
    const k = chainKey(r.family, r.table, r.chain);
    rulesOf.set(k, [...(rulesOf.get(k) ?? []), r]);
  }
  const keep = new Set<string>();
  const keepRules = new Set<NftRule>();
  const setNames = new Set<string>();
  const follow = (family: string, table: string, v: Json) => {
    const refs = references(v);
    for (const n of refs.sets) {
      const k = chainKey(family, table, n);
      if (setNames.has(k)) continue;
      setNames.add(k);
      // a verdict map's elements jump to chains too
      const s = sets.get(k);
      if (s) follow(family, table, s.elem);
    }
    for (const n of refs.chains) visit(chainKey(family, table, n));
  };
  const visit = (k: string) => {
    if (keep.has(k) || !chains.has(k)) return;
    keep.add(k);
    for (const r of rulesOf.get(k) ?? []) {
      keepRules.add(r);
      follow(r.family, r.table, r.expr);
    }
  };
  for (const c of natBaseChains(rs)) visit(chainKey(c.family, c.table, c.name));
  for (const r of rs.rules.filter(setsAMark)) {
    keepRules.add(r);
    follow(r.family, r.table, r.expr);
  }
  const chainKeys = new Set([...keepRules].map((r) => chainKey(r.family, r.table, r.chain)));
  const tableOf = (family: string, table: string) => chainKey(family, table, "");
  const tables = new Set([...keep, ...chainKeys].map((k) => chains.get(k)).flatMap((c) => (c ? [tableOf(c.family, c.table)] : [])));
  return {
    tables: (rs.tables ?? []).filter((t) => tables.has(tableOf(t.family, t.name))),
    chains: rs.chains.filter((c) => keep.has(chainKey(c.family, c.table, c.name)) || chainKeys.has(chainKey(c.family, c.table, c.name))),
    rules: rs.rules.filter((r) => keepRules.has(r)),
    sets: rs.sets.filter((s) => setNames.has(chainKey(s.family, s.table, s.name))),
  };
}

/** A ruleset (subset) in `nft -j` format, readable again by parseNftJson. */
export function formatNftJson(rs: NftRuleset): string {
  const items: Json[] = [
    ...(rs.tables ?? []).map((t) => ({ table: { family: t.family, name: t.name, ...(t.flags.length ? { flags: t.flags } : {}) } })),
    ...rs.sets.map((s) => ({ [s.map ? "map" : "set"]: { family: s.family, table: s.table, name: s.name, elem: s.elem } })),
    ...rs.chains.map((c) => ({
      chain: {
        family: c.family, table: c.table, name: c.name,
        ...(c.type !== null ? { type: c.type } : {}),
        ...(c.hook !== null ? { hook: c.hook } : {}),
        ...(c.prio !== null ? { prio: c.prio } : {}),
      },
    })),
    ...rs.rules.map((r) => ({
      rule: {
        family: r.family, table: r.table, chain: r.chain, handle: r.handle,
        ...(r.comment !== null ? { comment: r.comment } : {}),
        expr: r.expr,
      },
    })),
  ];
  return JSON.stringify({ nftables: items }) + "\n";
}
