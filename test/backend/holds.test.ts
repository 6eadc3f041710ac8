/** Holds (src/backend/holds.ts): set names, grouping, the nft script, tombstones. */
import { describe, expect, it } from "vitest";
import {
  holdScript, holdSetName, holdSets, holdSetsInRuleset, listedHoldSets, needsTombstone, parseHoldSetName,
} from "../../src/backend/holds.ts";
import type { Selector } from "../../src/plan/selector.ts";
import { flow, fwd, revokeSip } from "../helpers/flows.ts";

describe("holds", () => {
  const v6 = flow(
    "ipv6     10 udp      17 29 src=2001:db8:19::2 dst=2001:db8:19::1 sport=4000 dport=5060 src=2001:db8:1::20 dst=2001:db8:19::2 sport=5060 dport=4000 mark=0 zone=3 use=1 id=9",
  );
  const a = fwd("198.19.5.1", 4000, 5060, "198.18.1.20");
  const b = fwd("198.19.5.2", 4001, 5060, "198.18.1.20");
  it("set names carry what the rules need, and read back", () => {
    const cases: [boolean, 4 | 6, number, string, number, string][] = [
      [true, 4, 17, "198.18.1.20", 5060, "t4_17_198_18_1_20_5060"],
      [false, 6, 6, "2001:db8:1::20", 80, "h6_6_2001_db8_1__20_80"],
    ];
    for (const [refresh, family, proto, addr, port, name] of cases) {
      expect(holdSetName(refresh, family, proto, addr, port)).toBe(name);
      expect(parseHoldSetName(name)).toEqual({ name, refresh, family, proto, addr, port });
    }
    expect(parseHoldSetName("other_set")).toBeNull();
  });
  it("one set per old peer; forwards that are gone refresh, moved ones only hold", () => {
    const sets = holdSets([{ flow: a, refresh: true }, { flow: b, refresh: true }, { flow: v6, refresh: false }], 2000, 30000);
    expect(sets.map((x) => [x.name, x.elements])).toEqual([
      ["t4_17_198_18_1_20_5060", [{ addr: "198.19.5.1", port: 4000, ms: 30000 }, { addr: "198.19.5.2", port: 4001, ms: 30000 }]],
      ["h6_17_2001_db8_1__20_5060", [{ addr: "2001:db8:19::2", port: 4000, ms: 2000 }]],
    ]);
  });
  it("the script rebuilds rules for earlier sets, deletes emptied ones, adds the elements", () => {
    const sets = holdSets([{ flow: a, refresh: true }], 2000, 30000);
    const script = holdScript(sets, [{ name: "h4_17_198_18_1_30_5060", empty: false }, { name: "h4_6_198_18_1_40_80", empty: true }], 30000) ?? "";
    const lines = script.split("\n");
    expect(lines).toContain("delete set inet natnow_hold h4_6_198_18_1_40_80");
    expect(lines).toContain("add rule inet natnow_hold pre ct state new meta l4proto 17 ip saddr 198.18.1.30 th sport 5060 " +
      "meta l4proto . ip daddr . th dport @h4_17_198_18_1_30_5060 counter drop");
    expect(lines).toContain("add rule inet natnow_hold pre meta l4proto . ip saddr . th sport @t4_17_198_18_1_20_5060 " +
      "update @t4_17_198_18_1_20_5060 { meta l4proto . ip saddr . th sport timeout 30000ms }");
    expect(lines).toContain("add element inet natnow_hold t4_17_198_18_1_20_5060 { udp . 198.19.5.1 . 4000 timeout 30000ms }");
    expect(lines.filter((l) => l.includes("@h4_6_198_18_1_40_80"))).toEqual([]);
    expect(holdScript([], [], 30000)).toBeNull();
  });
  it("reads set names from nft's listing", () => {
    const listing = "table inet natnow_hold {\n\tset t4_17_198_18_1_20_5060 {\n\t\ttype x\n\t\telements = { udp . 198.19.5.1 . 4000 }\n\t}\n" +
      "\tset h4_17_198_18_1_30_5060 {\n\t\ttype x\n\t}\n\tset mine {\n\t}\n}\n";
    expect(listedHoldSets(listing)).toEqual([
      { name: "t4_17_198_18_1_20_5060", empty: false }, { name: "h4_17_198_18_1_30_5060", empty: true },
    ]);
  });
  it("no tombstone hold when an added rule takes the client over", () => {
    const renewTo30: Selector = { ...revokeSip, action: "renew", replySrc: { pos: [], neg: ["198.18.1.30/32"] }, dnat: null, replied: false };
    expect(needsTombstone(a, [revokeSip])).toBe(true);
    expect(needsTombstone(a, [revokeSip, renewTo30])).toBe(false);
  });
});


describe("hold sets in the run's snapshot (nft -j list ruleset)", () => {
  it("names natnow's sets in inet natnow_hold and which are empty; nothing else", () => {
    const doc = {
      nftables: [
        { metainfo: { json_schema_version: 1 } },
        { table: { family: "inet", name: "natnow_hold", handle: 7 } },
        { set: { family: "inet", table: "natnow_hold", name: "t4_17_198_18_1_20_5060", type: ["inet_proto", "ipv4_addr", "inet_service"], elem: [{ elem: { val: 1 } }] } },
        { set: { family: "inet", table: "natnow_hold", name: "h4_17_198_18_1_30_5060", type: ["inet_proto", "ipv4_addr", "inet_service"] } },
        { set: { family: "inet", table: "natnow_hold", name: "mine" } },
        { set: { family: "inet", table: "fw4", name: "h4_17_198_18_1_40_5060" } },
      ],
    };
    expect(holdSetsInRuleset(JSON.stringify(doc))).toEqual([
      { name: "t4_17_198_18_1_20_5060", empty: false }, { name: "h4_17_198_18_1_30_5060", empty: true },
    ]);
    expect(holdSetsInRuleset("not json")).toBeNull();
  });
});
