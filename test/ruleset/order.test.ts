/** First match wins: a reorder, a priority change, a dormant table or a mark setter change is a change of the rules it affects. */
import { describe, expect, it } from "vitest";
import { diff } from "../../src/diff/diff.ts";
import { NO_FACTS } from "../../src/firewall/facts.ts";
import { topology } from "../../src/ruleset/devices.ts";
import { rulesetModel } from "../../src/ruleset/model.ts";
import { type Json, parseNftJson } from "../../src/ruleset/nft.ts";
import { liveRules } from "../../src/ruleset/walk.ts";

/** Expressions as nft -j (1.0.6) prints them. */
const udpDport = (p: Json): Json => ({ match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: p } });
const dnat = (a: string): Json => ({ dnat: { family: "ip", addr: a } });
const A = [udpDport({ range: [5000, 5100] }), dnat("198.18.1.5")];
const B = [udpDport(5060), dnat("198.18.1.6")];
const C = [udpDport(7000), dnat("198.18.1.7")];
const ACCEPT = [udpDport(5060), { accept: null }];
const MARKED = [{ match: { op: "==", left: { meta: { key: "mark" } }, right: 1 } }, udpDport(9000), dnat("198.18.1.8")];
const SETTER = (v: number): Json[] => [udpDport(9000), { mangle: { key: { meta: { key: "mark" } }, value: v } }];
const COUNTED = (n: number): Json[] => [{ match: { op: "==", left: { meta: { key: "skuid" } }, right: 0 } }, { counter: { packets: n, bytes: n * 60 } }, dnat("198.18.1.4")];

interface Table { name: string; prio: number; rules: Json[][]; dormant?: boolean; hook?: string; type?: string }

/** A ruleset of ip tables with one base chain each, in nft -j's layout; rules are named by their handle. */
function ruleset(tables: Table[]): string {
  const items: Json[] = [];
  let handle = 1;
  for (const t of tables) {
    items.push({ table: { family: "ip", name: t.name, handle: handle++, ...(t.dormant ? { flags: "dorm" } : {}) } });
    items.push({ chain: { family: "ip", table: t.name, name: "c", handle: handle++, type: t.type ?? "nat", hook: t.hook ?? "prerouting", prio: t.prio, policy: "accept" } });
  }
  for (const t of tables) {
    for (const expr of t.rules) {
      const h = expr === A ? 101 : expr === B ? 102 : expr === C ? 103 : expr === ACCEPT ? 104 : expr === MARKED ? 105 : 100 + handle++;
      items.push({ rule: { family: "ip", table: t.name, chain: "c", handle: h, expr } });
    }
  }
  return JSON.stringify({ nftables: items });
}

const model = (text: string) => rulesetModel(liveRules(parseNftJson(text)), topology(NO_FACTS, []));
const changed = (a: Table[], b: Table[]) =>
  diff(model(ruleset(a)), model(ruleset(b))).map((c) => `${c.kind} ${c.name.replace(/^ip (\S+) c handle /, "$1:")}`).sort();

describe("order and priority", () => {
  it.each<[string, Table[], Table[], string[]]>([
    ["two overlapping DNATs swapped: both", [{ name: "t", prio: -100, rules: [A, B] }], [{ name: "t", prio: -100, rules: [B, A] }],
      ["changed t:101", "changed t:102"]],
    ["two rules that cannot overlap swapped: nothing", [{ name: "t", prio: -100, rules: [A, C] }], [{ name: "t", prio: -100, rules: [C, A] }], []],
    ["an accept moved in front of a DNAT: both", [{ name: "t", prio: -100, rules: [A, ACCEPT] }], [{ name: "t", prio: -100, rules: [ACCEPT, A] }],
      ["changed t:101", "changed t:104"]],
    ["a chain priority changed between two tables: both DNATs",
      [{ name: "t1", prio: -100, rules: [A] }, { name: "t2", prio: 0, rules: [B] }],
      [{ name: "t1", prio: 10, rules: [A] }, { name: "t2", prio: 0, rules: [B] }], ["changed t1:101", "changed t2:102"]],
    ["a table made dormant: its rules are gone, a later overlapping rule no longer comes second",
      [{ name: "t1", prio: -100, rules: [B] }, { name: "t2", prio: 0, rules: [A] }],
      [{ name: "t1", prio: -100, rules: [B], dormant: true }, { name: "t2", prio: 0, rules: [A] }], ["changed t2:101", "removed t1:102"]],
    ["an accept in another base chain does not exempt a later base chain's rule",
      [{ name: "t1", prio: -100, rules: [] }, { name: "t2", prio: 0, rules: [A] }],
      [{ name: "t1", prio: -100, rules: [ACCEPT] }, { name: "t2", prio: 0, rules: [A] }], ["added t1:104"]],
    ["a new rule shadowing part of a range rule: the range rule changes too",
      [{ name: "t", prio: -100, rules: [A] }], [{ name: "t", prio: -100, rules: [B, A] }], ["added t:102", "changed t:101"]],
    ["a mark setter changed: the mark-gated rule changes",
      [{ name: "m", prio: -150, type: "filter", rules: [SETTER(1)] }, { name: "t", prio: -100, rules: [MARKED] }],
      [{ name: "m", prio: -150, type: "filter", rules: [SETTER(2)] }, { name: "t", prio: -100, rules: [MARKED] }], ["changed t:105"]],
    ["counters ticking in an unbounded rule: nothing", [{ name: "t", prio: -100, rules: [COUNTED(1)] }], [{ name: "t", prio: -100, rules: [COUNTED(99)] }], []],
  ])("%s", (_n, a, b, want) => {
    expect(changed(a, b)).toEqual(want);
  });

  it("an exemption a later base chain can undo is unbounded, with the chain named", () => {
    const rules = liveRules(parseNftJson(ruleset([{ name: "t1", prio: -100, rules: [ACCEPT] }, { name: "t2", prio: 0, rules: [A] }])));
    expect(rules.map((r) => [r.table, r.nat?.toAddr ?? "accept", r.terms.unbounded])).toEqual([
      ["t1", "accept", "ends only its base chain: ip t2 c can still translate its flows"],
      ["t2", "198.18.1.5", null],
    ]);
  });
  it("a rule's earlier deciding rules: a NAT of an earlier base chain, an exemption only of its own", () => {
    const rules = liveRules(parseNftJson(ruleset([{ name: "t1", prio: -100, rules: [ACCEPT, B] }, { name: "t2", prio: 0, rules: [A] }])));
    expect(rules.map((r) => r.earlier.map((e) => `${e.table}:${e.handle}`))).toEqual([[], ["t1:104"], ["t1:102"]]);
  });
});
