/** The rules the kernel runs, with their paths' conditions, read from real nft output. */
import { describe, expect, it } from "vitest";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { ruleTerms } from "../../src/ruleset/terms.ts";
import { liveRules } from "../../src/ruleset/walk.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const hand = () => liveRules(parseNftJson(fixtureText("ruleset", "hand.json")));
const byHandle = (table: string, h: number) => hand().find((r) => r.table === table && r.handle === h);
const noSets = () => undefined;

describe("ruleTerms", () => {
  it.each([
    ["nfproto and a port imply family and protocol", '[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv4"}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":5060}},{"dnat":{"family":"ip","addr":"198.18.1.20","port":5060}}]',
      { family: 4, protos: [17], dport: { pos: [{ min: 5060, max: 5060 }], neg: [] }, unbounded: null }],
    ["a negated prefix", '[{"match":{"op":"!=","left":{"payload":{"protocol":"ip6","field":"saddr"}},"right":{"prefix":{"addr":"2001:db8:1::","len":64}}}},{"masquerade":null}]',
      { family: 6, src: { pos: [], neg: ["2001:db8:1::/64"] } }],
    ["an address range becomes prefixes", '[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":{"range":["198.18.2.1","198.18.2.3"]}}},{"accept":null}]',
      { dst: { pos: ["198.18.2.1/32", "198.18.2.2/31"], neg: [] } }],
    ["a protocol set with th ports", '[{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":{"set":["tcp","udp"]}}},{"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":53}},{"redirect":{"port":5353}}]',
      { protos: [6, 17], dport: { pos: [{ min: 53, max: 53 }], neg: [] } }],
    ["th ports alone: every protocol with ports", '[{"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":53}},{"accept":null}]',
      { protos: [6, 17, 33, 132, 136] }],
    ["ct status dnat: the flow was DNATed", '[{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"accept":null}]',
      { dnat: true, unbounded: null }],
    ["ct status & dnat == 0: it was not", '[{"match":{"op":"!","left":{"ct":{"key":"status"}},"right":"dnat"}},{"masquerade":null}]',
      { dnat: false, unbounded: null }],
    ["other ct status tests are unbounded", '[{"match":{"op":"!=","left":{"ct":{"key":"status"}},"right":"dnat"}},{"masquerade":null}]',
      { unbounded: "matches ct status" }],
    ["a mark is unbounded", '[{"match":{"op":"==","left":{"meta":{"key":"mark"}},"right":1}},{"dnat":{"addr":"198.18.1.9"}}]',
      { unbounded: "matches meta mark" }],
    ["fib is unbounded", '[{"match":{"op":"==","left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local"}},{"dnat":{"addr":"198.18.1.9"}}]',
      { unbounded: "matches fib" }],
    ["a wildcard device is unbounded", '[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"wan*"}},{"dnat":{"addr":"198.18.1.9"}}]',
      { unbounded: "matches iifname by the wildcard 'wan*'" }],
    ["an unknown statement is unbounded", '[{"frobnicate":{}},{"dnat":{"addr":"198.18.1.9"}}]',
      { unbounded: "uses 'frobnicate'" }],
    ["contradicting families match nothing", '[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"198.18.1.1"}},{"accept":null}]',
      { never: true }],
    ["disjoint ports match nothing", '[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":5}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":6}},{"accept":null}]',
      { never: true }],
  ])("%s", (_n, expr, want) => {
    expect(ruleTerms(JSON.parse(expr), 0, noSets).terms).toMatchObject(want);
  });

  it("NAT statements: address, range, port range, family; a map is unbounded", () => {
    const v = (e: string) => ruleTerms(JSON.parse(e), 0, noSets);
    expect(v('[{"dnat":{"addr":{"range":["198.18.1.7","198.18.1.8"]}}}]').verdict)
      .toEqual({ kind: "nat", nat: { action: "dnat", family: 4, toAddr: "198.18.1.7-198.18.1.8", toPort: null } });
    expect(v('[{"dnat":{"family":"ip6","addr":"2001:db8:1::20","port":{"range":[7000,7010]}}}]').verdict)
      .toEqual({ kind: "nat", nat: { action: "dnat", family: 6, toAddr: "2001:db8:1::20", toPort: { min: 7000, max: 7010 } } });
    const m = v('[{"dnat":{"addr":{"map":{"key":{"payload":{"protocol":"tcp","field":"dport"}},"data":{"set":[[80,"198.18.1.10"]]}}}}}]');
    expect(m.terms.unbounded).toBe("dnat maps its address");
    expect(m.verdict.kind).toBe("nat");
  });
});

describe("liveRules", () => {
  it("fw4's chains: each rule carries the device of the jump that reaches it", () => {
    const rules = liveRules(parseNftJson(fixtureText("ruleset", "c.json")));
    expect(rules.map((r) => `${r.chain} ${r.comment} ${r.terms.iif.pos ?? "-"} ${r.terms.oif.pos ?? "-"} ${r.nat?.action}`)).toEqual([
      "dstnat_lan !fw4: SIP (reflection) br-lan - dnat",
      "dstnat_lan !fw4: web (reflection) br-lan - dnat",
      "dstnat_wan !fw4: SIP eth1 - dnat",
      "dstnat_wan !fw4: web eth1 - dnat",
      "srcnat_lan !fw4: SIP (reflection) - br-lan snat",
      "srcnat_lan !fw4: web (reflection) - br-lan snat",
      "srcnat_wan !fw4: Masquerade IPv4 wan traffic - eth1 masquerade",
    ]);
  });
  it("goto keeps the device set; return ending a base chain's goto is an exemption", () => {
    expect(byHandle("natx", 21)).toMatchObject({ nat: null, terms: { iif: { pos: ["eth1", "eth2"] }, unbounded: null } });
    expect(byHandle("natx", 22)).toMatchObject({ nat: { toAddr: "198.18.1.12" }, terms: { iif: { pos: ["eth1", "eth2"] } } });
  });
  it("named sets are read into the rule", () => {
    expect(byHandle("natx", 10)?.terms).toMatchObject({
      src: { pos: ["198.18.5.0/24", "198.18.7.1/32"] }, dport: { pos: [{ min: 1000, max: 1000 }, { min: 2000, max: 2100 }] },
    });
  });
  it("what cannot be bounded stays, with its reason", () => {
    expect(byHandle("natx", 14)?.terms.unbounded).toBe("matches meta mark");
    expect(byHandle("natx", 15)?.terms.unbounded).toBe("matches fib");
    expect(byHandle("natx", 17)?.terms.unbounded).toBe("dnat maps its address");
    expect(byHandle("natx", 18)?.terms).toMatchObject({ dnat: true, unbounded: null });
  });
  it("a return inside a jumped-to chain cannot be an exemption", () => {
    const rs = parseNftJson(fixtureText("ruleset", "hand.json").replace('"goto": {"target": "sub"}', '"jump": {"target": "sub"}'));
    expect(liveRules(rs).find((r) => r.table === "natx" && r.handle === 21)?.terms.unbounded).toBe("returns from a jumped-to chain");
  });
  it("every nat hook, in the kernel's order", () => {
    expect([...new Set(hand().map((r) => r.nftHook))]).toEqual(["prerouting", "output", "postrouting"]);
  });
});
