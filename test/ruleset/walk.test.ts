/** The rules the kernel runs, with their paths' conditions, read from real nft output. */
import { describe, expect, it } from "vitest";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { liveRules } from "../../src/ruleset/walk.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const hand = () => liveRules(parseNftJson(fixtureText("ruleset", "hand.json")));
const byHandle = (table: string, h: number) => hand().find((r) => r.table === table && r.handle === h);

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
    // fwx's later base chain still redirects tcp 80 from eth1: the return ends only natx's chain
    expect(byHandle("natx", 21)).toMatchObject({ nat: null, terms: { iif: { pos: ["eth1", "eth2"] },
      unbounded: "ends only its base chain: inet fwx p can still translate its flows" } });
    expect(byHandle("natx", 22)).toMatchObject({ nat: { toAddr: "198.18.1.12" }, terms: { iif: { pos: ["eth1", "eth2"] } } });
  });
  it("named sets are read into the rule", () => {
    expect(byHandle("natx", 10)?.terms).toMatchObject({
      src: { pos: ["198.18.5.0/24", "198.18.7.1/32"] }, dport: { pos: [{ min: 1000, max: 1000 }, { min: 2000, max: 2100 }] },
    });
  });
  it("what cannot be bounded stays, with its reason", () => {
    expect(byHandle("natx", 14)?.terms.unbounded).toBe("matches meta mark");
    expect(byHandle("natx", 15)?.terms).toMatchObject({ local: true, unbounded: null });
    expect(hand().filter((r) => r.table === "natx" && r.handle === 17).map((r) => [r.terms.dport.pos, r.nat?.toAddr])).toEqual([
      [[{ min: 80, max: 80 }], "198.18.1.10"], [[{ min: 81, max: 81 }], "198.18.1.11"],
    ]);
    expect(byHandle("natx", 18)?.terms).toMatchObject({ dnat: true, unbounded: "ends only its base chain: inet fwx p can still translate its flows" });
  });
  it("a return inside a jumped-to chain cannot be an exemption", () => {
    const rs = parseNftJson(fixtureText("ruleset", "hand.json").replace('"goto": {"target": "sub"}', '"jump": {"target": "sub"}'));
    expect(liveRules(rs).find((r) => r.table === "natx" && r.handle === 21)?.terms.unbounded).toBe("returns from a jumped-to chain; ends only its base chain: inet fwx p can still translate its flows");
  });
  it.each([
    ["Docker's `-i docker0 -j RETURN` before `! -i docker0` DNATs changes nothing: no rule", "!=", 0],
    ["a return before a DNAT that could match its packets stays, unbounded", "==", 1],
  ])("%s", (_n, op, returns) => {
    const rs = parseNftJson(JSON.stringify({ nftables: [
      { chain: { family: "ip", table: "nat", name: "PREROUTING", type: "nat", hook: "prerouting", prio: -100 } },
      { chain: { family: "ip", table: "nat", name: "DOCKER" } },
      { rule: { family: "ip", table: "nat", chain: "PREROUTING", handle: 1, expr: [{ jump: { target: "DOCKER" } }] } },
      { rule: { family: "ip", table: "nat", chain: "DOCKER", handle: 2, expr: [
        { match: { op: "==", left: { meta: { key: "iifname" } }, right: "docker0" } }, { return: null }] } },
      { rule: { family: "ip", table: "nat", chain: "DOCKER", handle: 3, expr: [
        { match: { op, left: { meta: { key: "iifname" } }, right: "docker0" } },
        { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 5060 } },
        { dnat: { addr: "198.18.200.2", port: 5060 } }] } },
    ] }));
    const rules = liveRules(rs);
    expect(rules.filter((r) => r.handle === 2).map((r) => r.terms.unbounded)).toEqual(returns ? ["returns from a jumped-to chain"] : []);
    expect(rules.filter((r) => r.handle === 3).length).toBe(1);
  });
  it("every nat hook, in the kernel's order", () => {
    expect([...new Set(hand().map((r) => r.nftHook))]).toEqual(["prerouting", "output", "postrouting"]);
  });
});
