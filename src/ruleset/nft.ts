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
  const out: NftRuleset = { chains: [], rules: [], sets: [] };
  doc.nftables.forEach((item, i) => {
    if (!isObject(item)) throw new RulesetError(`ruleset: item ${i} is not an object`);
    const keys = Object.keys(item);
    if (keys.length !== 1) throw new RulesetError(`ruleset: item ${i} has ${keys.length} keys`);
    const kind = keys[0];
    const o = item[kind];
    if (!isObject(o)) throw new RulesetError(`ruleset: item ${i} (${kind}) is not an object`);
    const what = `ruleset: ${kind} ${i}`;
    switch (kind) {
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
    .filter((c) => c.type === "nat" && c.hook !== null && c.hook in NAT_HOOKS)
    .map((c, i) => ({ c, i }))
    .sort((a, b) =>
      order.indexOf(a.c.hook as string) - order.indexOf(b.c.hook as string) ||
      (a.c.prio ?? 0) - (b.c.prio ?? 0) || a.i - b.i
    )
    .map((x) => x.c);
}

/**
 * The part of a ruleset the nat chains use: nat base chains, the chains
 * they reach by jump/goto, their rules, and the named sets those rules
 * name. This is what natnow keeps as "what it last applied".
 */
export function natSubset(rs: NftRuleset): NftRuleset {
  const chains = new Map(rs.chains.map((c) => [chainKey(c.family, c.table, c.name), c]));
  const rulesOf = new Map<string, NftRule[]>();
  for (const r of rs.rules) {
    const k = chainKey(r.family, r.table, r.chain);
    rulesOf.set(k, [...(rulesOf.get(k) ?? []), r]);
  }
  const keep = new Set<string>();
  const setNames = new Set<string>();
  const visit = (k: string) => {
    if (keep.has(k) || !chains.has(k)) return;
    keep.add(k);
    const c = chains.get(k) as NftChain;
    for (const r of rulesOf.get(k) ?? []) {
      const body = JSON.stringify(r.expr);
      for (const m of body.match(/"@[^"]+"/g) ?? []) setNames.add(chainKey(c.family, c.table, m.slice(2, -1)));
      for (const m of body.match(/"(jump|goto)":\{"target":"[^"]+"/g) ?? []) {
        visit(chainKey(c.family, c.table, m.slice(m.lastIndexOf(":") + 2, -1)));
      }
    }
  };
  for (const c of natBaseChains(rs)) visit(chainKey(c.family, c.table, c.name));
  return {
    chains: rs.chains.filter((c) => keep.has(chainKey(c.family, c.table, c.name))),
    rules: rs.rules.filter((r) => keep.has(chainKey(r.family, r.table, r.chain))),
    sets: rs.sets.filter((s) => setNames.has(chainKey(s.family, s.table, s.name))),
  };
}

/** A ruleset (subset) in `nft -j` format, readable again by parseNftJson. */
export function formatNftJson(rs: NftRuleset): string {
  const items: Json[] = [
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
