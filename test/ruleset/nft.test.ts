/** Reading `nft -j list ruleset`, and the nat part natnow keeps as applied. */
import { describe, expect, it } from "vitest";
import { formatNftJson, natBaseChains, natSubset, parseNftJson, RulesetError } from "../../src/ruleset/nft.ts";
import { fixtureText } from "../helpers/fixtures.ts";

describe("parseNftJson", () => {
  it.each([
    ["not JSON", "{", "ruleset: not valid JSON"],
    ["no list", '{"x": []}', "ruleset: no 'nftables' list"],
    ["an item that is no object", '{"nftables": [1]}', "ruleset: item 0 is not an object"],
    ["a rule without expressions", '{"nftables": [{"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 1}}]}',
      "ruleset: rule 0: 'expr' is not a list"],
    ["a chain without a name", '{"nftables": [{"chain": {"family": "ip", "table": "t"}}]}', "ruleset: chain 0: 'name' is not a string"],
    ["a set with bad elements", '{"nftables": [{"set": {"family": "ip", "table": "t", "name": "s", "elem": 3}}]}',
      "ruleset: set 0: 'elem' is not a list"],
  ])("%s is an error with its place", (_n, text, msg) => {
    expect(() => parseNftJson(text)).toThrow(RulesetError);
    expect(() => parseNftJson(text)).toThrow(msg);
  });

  it("reads nft's own output: chains, rules with handles and comments, named sets", () => {
    const rs = parseNftJson(fixtureText("ruleset", "hand.json"));
    expect(rs.sets.map((s) => s.name)).toEqual(["fwdset", "portset"]);
    expect(rs.rules.find((r) => r.table === "natx" && r.handle === 10)?.expr.length).toBe(3);
    const c = parseNftJson(fixtureText("ruleset", "c.json"));
    expect(c.rules.find((r) => r.comment === "!fw4: web")?.chain).toBe("dstnat_wan");
  });
});

describe("natBaseChains and natSubset", () => {
  it("orders nat base chains by hook, then priority", () => {
    const rs = parseNftJson(fixtureText("ruleset", "hand.json"));
    expect(natBaseChains(rs).map((c) => `${c.table}/${c.name}`)).toEqual(["natx/pre", "fwx/p", "n6/out", "natx/post"]);
  });
  it("keeps the nat chains, the chains they jump to and the sets they name; nothing else", () => {
    const sub = natSubset(parseNftJson(fixtureText("ruleset", "c.json")));
    expect(sub.chains.map((c) => c.name).sort()).toEqual(["dstnat", "dstnat_lan", "dstnat_wan", "srcnat", "srcnat_lan", "srcnat_wan"]);
    expect(sub.rules.length).toBe(11);
    const hand = natSubset(parseNftJson(fixtureText("ruleset", "hand.json")));
    expect(hand.sets.map((s) => s.name)).toEqual(["fwdset", "portset"]);
    expect(hand.chains.some((c) => c.name === "sub")).toBe(true);
  });
  it("what it writes reads back the same", () => {
    for (const f of ["a", "b", "c", "g", "h", "hand"]) {
      const sub = natSubset(parseNftJson(fixtureText("ruleset", `${f}.json`)));
      expect(parseNftJson(formatNftJson(sub))).toEqual(sub);
    }
  });
});

describe("tables, dormant flags and what natSubset keeps (shapes.nft)", () => {
  const shapes = () => parseNftJson(fixtureText("ruleset", "shapes.json"));
  it("reads table flags (nft 1.0.6 prints dormant as 'dorm'); a dormant table's base chains do not run", () => {
    expect(shapes().tables).toEqual([{ family: "inet", name: "t", flags: [] }, { family: "ip", name: "dorm", flags: ["dormant"] }]);
    expect(natBaseChains(shapes()).map((c) => c.name)).toEqual(["pre"]);
  });
  it.each([
    ["the chains a named verdict map jumps to", (s: ReturnType<typeof natSubset>) => s.chains.map((c) => c.name).sort(), ["c1", "c2", "pre"]],
    ["the sets and maps the rules name", (s: ReturnType<typeof natSubset>) => s.sets.map((x) => x.name).sort(), ["dm", "m1", "s4"]],
    ["the tables of what it keeps", (s: ReturnType<typeof natSubset>) => (s.tables ?? []).map((t) => t.name), ["t"]],
  ])("keeps %s", (_n, get, want) => {
    expect(get(natSubset(shapes()))).toEqual(want);
  });
  it("keeps the rules that set a mark, in any chain of any table", () => {
    const text = fixtureText("ruleset", "shapes.json").replace('"name": "p", "handle": 1, "type": "nat"', '"name": "p", "handle": 1, "type": "filter"')
      .replace('[{"masquerade": null}]', '[{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 7}}]');
    const sub = natSubset(parseNftJson(text));
    expect(sub.rules.filter((r) => r.table === "dorm").map((r) => r.expr)).toEqual([[{ mangle: { key: { meta: { key: "mark" } }, value: 7 } }]]);
    expect(parseNftJson(formatNftJson(sub))).toEqual(sub);
  });
});
