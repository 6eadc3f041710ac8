/**
 * What NAT reads of a ruleset, found in the terse listing (`nft -j -t list
 * ruleset`: every object, no named set's elements): the chains the nat
 * base chains reach and the named sets and maps they name. Only those sets
 * are listed with their elements (`nft -j list set|map ...`), and merged
 * back, so the run gets the JSON of a full listing without reading every
 * element of every blocklist on the router. The walk is generic, not tied
 * to the expressions the reader knows: any `"@name"` string in a reached
 * rule names a set of its table (a match, a concatenation, a map, a verdict
 * map), and any `jump`/`goto` target, in a rule or in a fetched verdict
 * map's elements, names a chain.
 */

import { chainKey, isObject, type Json, type JsonObject, RulesetError } from "./nft.ts";

/** A named set or map of a ruleset, as `nft list set|map` names it. */
export interface SetRef {
  kind: "set" | "map";
  family: string;
  table: string;
  name: string;
}

/** What the nat base chains reach: chain and set keys (`family table name`, nft.ts chainKey). */
export interface NatRefs {
  chains: Set<string>;
  sets: Set<string>;
}

/** natnow's own hold table (backend/holds.ts): its sets are read with their elements too. */
const HOLD_TABLE_KEY = "inet natnow_hold";

/** The key of a set reference. */
export function setKey(ref: SetRef): string {
  return chainKey(ref.family, ref.table, ref.name);
}

/** The listing's items (`{"nftables": [...]}`), or an error naming what is wrong. */
export function listingItems(text: string, what: string): Json[] {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch {
    throw new RulesetError(`${what}: not valid JSON`);
  }
  if (!isObject(doc) || !Array.isArray(doc.nftables)) throw new RulesetError(`${what}: no 'nftables' list`);
  return doc.nftables;
}

/** The item's kind and object (`{"set": {...}}` → ["set", {...}]), or null. */
function itemOf(item: Json): [string, JsonObject] | null {
  if (!isObject(item)) return null;
  const keys = Object.keys(item);
  const o = keys.length === 1 ? item[keys[0]] : null;
  return isObject(o) ? [keys[0], o] : null;
}

/** Calls `onSet` for each `"@name"` string and `onChain` for each jump/goto target in a JSON value. */
function scan(v: Json, onSet: (name: string) => void, onChain: (name: string) => void): void {
  if (typeof v === "string") {
    if (v.length > 1 && v[0] === "@") onSet(v.slice(1));
  } else if (Array.isArray(v)) {
    for (const x of v) scan(x, onSet, onChain);
  } else if (isObject(v)) {
    for (const k of Object.keys(v)) {
      const x = v[k];
      if ((k === "jump" || k === "goto") && isObject(x) && typeof x.target === "string") onChain(x.target);
      else scan(x, onSet, onChain);
    }
  }
}

/**
 * The chains and sets the nat base chains reach, given the listing's items
 * and the elements of the sets read so far (a verdict map's elements can
 * jump to more chains).
 */
export function natReferences(items: readonly Json[], elements: ReadonlyMap<string, Json[]>): NatRefs {
  const rulesOf = new Map<string, Json[]>();
  const chains = new Set<string>();
  const bases: string[] = [];
  for (const item of items) {
    const x = itemOf(item);
    if (!x) continue;
    const [kind, o] = x;
    if (typeof o.family !== "string" || typeof o.table !== "string") continue;
    if (kind === "chain" && typeof o.name === "string") {
      const k = chainKey(o.family, o.table, o.name);
      chains.add(k);
      if (o.type === "nat" && typeof o.hook === "string") bases.push(k);
    } else if (kind === "rule" && typeof o.chain === "string" && Array.isArray(o.expr)) {
      const k = chainKey(o.family, o.table, o.chain);
      rulesOf.set(k, [...(rulesOf.get(k) ?? []), o.expr]);
    }
  }
  const out: NatRefs = { chains: new Set(), sets: new Set() };
  const tableOf = (k: string) => k.slice(0, k.lastIndexOf(" "));
  const visit = (k: string): void => {
    if (out.chains.has(k) || !chains.has(k)) return;
    out.chains.add(k);
    const table = tableOf(k);
    const onChain = (name: string) => visit(`${table} ${name}`);
    for (const expr of rulesOf.get(k) ?? []) {
      scan(expr, (name) => {
        const s = `${table} ${name}`;
        if (out.sets.has(s)) return;
        out.sets.add(s);
        scan(elements.get(s) ?? [], () => {}, onChain);
      }, onChain);
    }
  };
  for (const k of bases) visit(k);
  return out;
}

/** The named sets and maps of a listing, by key. */
function namedSets(items: readonly Json[]): Map<string, SetRef> {
  const out = new Map<string, SetRef>();
  for (const item of items) {
    const x = itemOf(item);
    if (!x || (x[0] !== "set" && x[0] !== "map")) continue;
    const o = x[1];
    if (typeof o.family !== "string" || typeof o.table !== "string" || typeof o.name !== "string") continue;
    const ref: SetRef = { kind: x[0], family: o.family, table: o.table, name: o.name };
    out.set(setKey(ref), ref);
  }
  return out;
}

/**
 * The sets a run still has to read with their elements: those the nat
 * paths reach and natnow's hold sets, less those in `read` (by key).
 */
export function setsToRead(items: readonly Json[], read: ReadonlyMap<string, Json[]>): SetRef[] {
  const refs = natReferences(items, read);
  const out: SetRef[] = [];
  for (const [k, ref] of namedSets(items)) {
    if (read.has(k)) continue;
    if (refs.sets.has(k) || `${ref.family} ${ref.table}` === HOLD_TABLE_KEY) out.push(ref);
  }
  return out;
}

/** The command listing one set or map with its elements. */
export function setListArgv(ref: SetRef): string[] {
  return ["nft", "-j", "list", ref.kind, ref.family, ref.table, ref.name];
}

/** The elements in `nft -j list set|map` output for `ref` (none: an empty set), or an error. */
export function parseSetListing(text: string, ref: SetRef): Json[] {
  const what = `nft -j list ${ref.kind} ${setKey(ref)}`;
  for (const item of listingItems(text, what)) {
    const x = itemOf(item);
    if (!x || x[0] !== ref.kind || x[1].name !== ref.name || x[1].table !== ref.table || x[1].family !== ref.family) continue;
    const elem = x[1].elem;
    if (elem === undefined) return [];
    if (!Array.isArray(elem)) throw new RulesetError(`${what}: 'elem' is not a list`);
    return elem;
  }
  throw new RulesetError(`${what}: the ${ref.kind} is not in the listing`);
}

/**
 * The listing with the elements read put in their sets: the JSON a full
 * `nft -j list ruleset` prints for everything natnow reads (an empty set
 * has no `elem`, as nft prints it).
 */
export function mergeElements(items: readonly Json[], elements: ReadonlyMap<string, Json[]>): string {
  const merged = items.map((item): Json => {
    const x = itemOf(item);
    if (!x || (x[0] !== "set" && x[0] !== "map")) return item;
    const o = x[1];
    if (typeof o.family !== "string" || typeof o.table !== "string" || typeof o.name !== "string") return item;
    const elem = elements.get(chainKey(o.family, o.table, o.name));
    return elem === undefined || elem.length === 0 ? item : { [x[0]]: { ...o, elem } };
  });
  return JSON.stringify({ nftables: merged });
}
