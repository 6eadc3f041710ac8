/**
 * What NAT reads of a ruleset: the sets found in nft 1.0.6's terse listing
 * (test/fixtures/ruleset/terse, captured by its capture.sh), read one at a
 * time, merged back into the JSON a full listing prints.
 */
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { natSubset, parseNftJson, RulesetError, type Json } from "../../src/ruleset/nft.ts";
import {
  listingItems, mergeElements, natReferences, parseSetListing, type SetRef, setKey, setListArgv, setsToRead,
} from "../../src/ruleset/refs.ts";
import { fixturePath, fixtureText } from "../helpers/fixtures.ts";

const dir = ["ruleset", "terse"];
const terse = listingItems(fixtureText(...dir, "terse.json"), "terse");
const full = listingItems(fixtureText(...dir, "full.json"), "full");
/** Each set's own listing (`nft -j list set|map F T N`), by the command that printed it. */
const listings = new Map(readdirSync(fixturePath(...dir, "sets")).map((f) => {
  const [kind, family, table, name] = f.replace(/\.json$/, "").split("+");
  return [setListArgv({ kind: kind as SetRef["kind"], family, table, name }).join(" "), fixtureText(...dir, "sets", f)];
}));

/** Reads sets as the snapshot does, round after round; the keys each round read. */
function readAll(): { elements: Map<string, Json[]>; rounds: string[][] } {
  const elements = new Map<string, Json[]>();
  const rounds: string[][] = [];
  for (let refs = setsToRead(terse, elements); refs.length; refs = setsToRead(terse, elements)) {
    rounds.push(refs.map(setKey).sort());
    for (const r of refs) elements.set(setKey(r), parseSetListing(listings.get(setListArgv(r).join(" ")) as string, r));
  }
  return { elements, rounds };
}

describe("the sets a run reads", () => {
  it("first the sets the nat rules name and the hold sets; then the set a verdict map's chain names", () => {
    expect(readAll().rounds).toEqual([
      ["inet natnow_hold h4_17_198_18_1_20_5060", "inet t anon_only", "inet t bl", "inet t cc", "inet t dm", "inet t empty",
        "inet t ports", "inet t vm"],
      ["inet t inner"],
    ]);
  });
  it("never a set only filter chains name, nor a blocklist table's", () => {
    const read = [...readAll().elements.keys()];
    for (const k of ["inet t unused", "ip bltab bl"]) expect(read).not.toContain(k);
  });
  it("reaches the chains of jumps, of anonymous verdict maps and of named ones", () => {
    const refs = natReferences(terse, readAll().elements);
    expect([...refs.chains].filter((k) => k.startsWith("inet t ")).sort()).toEqual(["inet t c2", "inet t c3", "inet t pre"]);
    expect([...refs.chains].filter((k) => k.startsWith("inet fw4 ")).sort()).toEqual(
      ["inet fw4 dstnat", "inet fw4 srcnat", "inet fw4 srcnat_wan"]);
    expect(natReferences(terse, new Map()).chains.has("inet t c2")).toBe(false);
  });
});

describe("the merged listing", () => {
  const merged = listingItems(mergeElements(terse, readAll().elements), "merged");
  const byKey = (items: Json[]) => new Map(items.map((i) => [JSON.stringify(Object.entries(i as object)[0][1]).replace(/"expires": ?[0-9]+,?/g, ""), i]));
  it("has every object of the full listing, in its order", () => {
    expect(merged.length).toBe(full.length);
    expect(merged.map((i) => Object.keys(i as object)[0])).toEqual(full.map((i) => Object.keys(i as object)[0]));
  });
  it("holds each set it read exactly as the full listing does (expiry times aside)", () => {
    const fullSets = byKey(full);
    const { elements } = readAll();
    for (const item of merged) {
      const [kind, o] = Object.entries(item as object)[0] as [string, { family: string; table: string; name: string }];
      if ((kind === "set" || kind === "map") && elements.has(`${o.family} ${o.table} ${o.name}`)) {
        expect(fullSets.has(JSON.stringify(o).replace(/"expires": ?[0-9]+,?/g, "")), `${kind} ${o.name}`).toBe(true);
      }
    }
  });
  it("gives the planner the nat subset the full listing gives", () => {
    const a = natSubset(parseNftJson(mergeElements(terse, readAll().elements)));
    const b = natSubset(parseNftJson(fixtureText(...dir, "full.json")));
    expect(a).toEqual(b);
    expect(a.sets.find((s) => s.name === "vm")?.elem.length).toBe(1);
  });
});

describe("a set's own listing", () => {
  const ref: SetRef = { kind: "set", family: "inet", table: "t", name: "bl" };
  it.each([
    ["not JSON", "{", "nft -j list set inet t bl: not valid JSON"],
    ["no list", "{}", "nft -j list set inet t bl: no 'nftables' list"],
    ["another set", '{"nftables": [{"set": {"family": "inet", "table": "t", "name": "x"}}]}', "nft -j list set inet t bl: the set is not in the listing"],
    ["a map of the name", '{"nftables": [{"map": {"family": "inet", "table": "t", "name": "bl"}}]}', "the set is not in the listing"],
    ["bad elements", '{"nftables": [{"set": {"family": "inet", "table": "t", "name": "bl", "elem": 1}}]}', "'elem' is not a list"],
  ])("%s is an error with the command", (_n, text, msg) => {
    expect(() => parseSetListing(text, ref)).toThrow(RulesetError);
    expect(() => parseSetListing(text, ref)).toThrow(msg);
  });
  it("an empty set has no elements (nft prints no 'elem')", () => {
    expect(parseSetListing(listings.get("nft -j list set inet t empty") as string, { ...ref, name: "empty" })).toEqual([]);
  });
  it("is listed with the word of its kind (nft refuses 'list set' for a map)", () => {
    expect(setListArgv({ kind: "map", family: "inet", table: "t", name: "vm" })).toEqual(["nft", "-j", "list", "map", "inet", "t", "vm"]);
  });
});
