/** The live ruleset as a NAT model: the same rules the fw4 model builds from UCI, names from fw4's comments. */
import { describe, expect, it } from "vitest";
import { diff } from "../../src/diff/diff.ts";
import { parseFw4State, parseInterfaceDump, mergeFacts, NO_FACTS } from "../../src/firewall/facts.ts";
import { buildModel } from "../../src/firewall/model.ts";
import { ruleIdentity } from "../../src/firewall/rule.ts";
import { parseKernelView, topology } from "../../src/ruleset/devices.ts";
import { rulesetModel, sectionOf, withoutOrder } from "../../src/ruleset/model.ts";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { liveRules } from "../../src/ruleset/walk.ts";
import { parseUci } from "../../src/uci/parse.ts";
import { fixtureBytes, fixtureText } from "../helpers/fixtures.ts";

const EXAMPLES = ["a", "b", "c", "g", "h"];
const facts = (e: string) =>
  mergeFacts(parseFw4State(fixtureText("fw4-examples", e, "fw4.state")), parseInterfaceDump(fixtureText("fw4-examples", e, "interfaces.json")));
const live = (e: string, text = fixtureText("ruleset", `${e}.json`)) =>
  rulesetModel(liveRules(parseNftJson(text)), topology(facts(e), []));
const uci = (e: string) => buildModel(parseUci(fixtureBytes("fw4-examples", e, "firewall"), "firewall"), facts(e));

describe("rulesetModel", () => {
  it.each(EXAMPLES)("example %s: the live rules are exactly the fw4 model's rules", (e) => {
    const l = live(e);
    const u = uci(e);
    const ids = (m: typeof l) => m.sections.flatMap((s) => s.rules.map((r) => ruleIdentity(r, m.zones))).sort();
    expect(ids(l)).toEqual(ids(u));
    expect(diff(l, u)).toEqual([]);
    expect(l.sections.map((s) => `${s.kind} ${s.name}`).sort()).toEqual(u.sections.filter((s) => s.rules.length).map((s) => `${s.kind} ${s.name}`).sort());
  });

  it("names: fw4 comments give UCI names; other rules their table, chain and comment or handle", () => {
    const rs = parseNftJson(fixtureText("ruleset", "hand.json"));
    const names = liveRules(rs).map((r) => sectionOf(r));
    expect(names.find((n) => n.kind === "rule")).toEqual({ kind: "rule", name: "ip natx sub handle 21", label: "ip natx sub handle 21" });
    const c = liveRules(parseNftJson(fixtureText("ruleset", "c.json"))).map(sectionOf);
    expect(c.map((n) => `${n.kind} ${n.name}`)).toEqual([
      "redirect SIP", "redirect web", "redirect SIP", "redirect web", "redirect SIP", "redirect web", "zone wan",
    ]);
  });

  it("zones: a device match named like the fw4 zone with those devices, else by the match", () => {
    expect(live("c").zones.map((z) => [z.name, z.upstream])).toEqual([["lan", false], ["wan", true]]);
    const bare = rulesetModel(liveRules(parseNftJson(fixtureText("ruleset", "c.json"))), topology(NO_FACTS, parseKernelView(
      fixtureText("ruleset", "ip-addr.json"), [fixtureText("ruleset", "ip-route4.json"), fixtureText("ruleset", "ip-route6.json")],
    )));
    expect(bare.zones.map((z) => [z.name, z.subnets, z.upstream])).toEqual([
      ["iifname br-lan", ["198.18.1.0/24"], false],
      ["iifname eth1", ["198.19.100.0/24", "2001:db8:100::/64"], true],
      ["oifname br-lan", ["198.18.1.0/24"], false],
      ["oifname eth1", ["198.19.100.0/24", "2001:db8:100::/64"], true],
    ]);
  });

  it("a negated device match is upstream: anything but the excluded devices", () => {
    const m = rulesetModel(liveRules(parseNftJson(fixtureText("ruleset", "hand.json"))), topology(facts("a"), []));
    expect(m.zones.find((z) => z.name === "oifname != br-lan")).toMatchObject({ upstream: true, notDevices: ["br-lan"] });
  });

  it("the same rule from the ruleset under another zone name is the same rule", () => {
    const named = live("b");
    const bare = rulesetModel(liveRules(parseNftJson(fixtureText("ruleset", "b.json"))), topology(parseInterfaceDump(fixtureText("fw4-examples", "a", "interfaces.json")), []));
    expect(bare.zones.map((z) => z.name)).toContain("iifname eth1");
    expect(diff(named, bare)).toEqual([]);
  });

  it("a changed named set element is a change of the rule that uses it", () => {
    const text = fixtureText("ruleset", "hand.json");
    const before = rulesetModel(liveRules(parseNftJson(text)), topology(facts("a"), []));
    const after = rulesetModel(liveRules(parseNftJson(text.replace('"198.18.7.1"', '"198.18.7.2"'))), topology(facts("a"), []));
    const changes = diff(before, after);
    expect(changes.find((c) => c.name === "ip natx pre handle 10")?.text)
      .toBe("rule 'ip natx pre handle 10' changed: src 198.18.5.0/24,198.18.7.1→src 198.18.5.0/24,198.18.7.2");
    // the later rules it overlaps now lose other packets to it: changed too (first match wins), nothing else
    expect(changes.map((c) => c.name).sort()).toEqual(["ip natx pre handle 10", "ip natx pre handle 13", "ip natx pre handle 14", "ip natx pre handle 15", "ip natx pre handle 18"]);
  });
});

describe("parseKernelView", () => {
  it("global and host addresses, routed subnets and default routes per device; link-local left out", () => {
    const v = parseKernelView(fixtureText("ruleset", "ip-addr.json"), [fixtureText("ruleset", "ip-route4.json"), fixtureText("ruleset", "ip-route6.json")]);
    expect(v).toEqual([
      { name: "br-lan", subnets: ["198.18.1.0/24"], addresses: ["198.18.1.1/32"], defaultRoute: false },
      { name: "eth1", subnets: ["198.19.100.0/24", "2001:db8:100::/64"], addresses: ["198.19.100.2/32", "2001:db8:100::2/128"], defaultRoute: true },
    ]);
  });
  it("is an error for text that is not ip's JSON", () => {
    expect(() => parseKernelView("Usage: ip", [])).toThrow("ip -j addr: not valid JSON");
  });
});

describe("fib daddr type local in the model", () => {
  const rule = (op: string) => JSON.stringify({ nftables: [
    { chain: { family: "ip", table: "t", name: "p", type: "nat", hook: "prerouting", prio: -100 } },
    { rule: { family: "ip", table: "t", chain: "p", handle: 2, expr: [
      { match: { op, left: { fib: { result: "type", flags: ["daddr"] } }, right: "local" } },
      { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 80 } },
      { dnat: { addr: "198.18.1.9" } }] } },
  ] });
  it.each([
    ["== local: the destination is one of the router's addresses", "==", "a", { pos: ["198.18.1.1/32", "198.19.100.2/32", "2001:db8:100::2/128"], neg: [] }, null],
    ["!= local: none of them", "!=", "a", { pos: [], neg: ["198.18.1.1/32", "198.19.100.2/32", "2001:db8:100::2/128"] }, null],
    ["unknown addresses: wider, and unbounded", "==", null, { pos: [], neg: [] }, "matches fib daddr type local, and the router's addresses are unknown"],
  ])("%s", (_n, op, e, dst, unbounded) => {
    const topo = e === null ? topology(NO_FACTS, []) : topology(NO_FACTS, parseKernelView(fixtureText("ruleset", "ip-addr.json"), []));
    const r = rulesetModel(liveRules(parseNftJson(rule(op))), topo).sections[0].rules[0];
    expect({ dst: { pos: [...r.dst.pos].sort(), neg: [...r.dst.neg].sort() }, unbounded: r.unbounded }).toEqual({ dst, unbounded });
  });
});

describe("withoutOrder", () => {
  it("drops the order context of bounded rules (fw4's rules behind another table's DNATs), so they compare with the fw4 model", () => {
    const c = JSON.parse(fixtureText("ruleset", "c.json")) as { nftables: unknown[] };
    const h = JSON.parse(fixtureText("ruleset", "hand.json")) as { nftables: unknown[] };
    const m = rulesetModel(liveRules(parseNftJson(JSON.stringify({ nftables: [...c.nftables, ...h.nftables] }))), topology(facts("c"), []));
    const fw4 = (x: typeof m) => ({ ...x, sections: x.sections.filter((s) => s.kind !== "rule") });
    expect(fw4(m).sections.some((s) => s.rules.some((r) => r.opaque !== undefined))).toBe(true);
    expect(diff(fw4(m), uci("c")).length).toBeGreaterThan(0);
    expect(diff(fw4(withoutOrder(m)), uci("c"))).toEqual([]);
    const unbounded = m.sections.flatMap((s) => s.rules).filter((r) => r.unbounded !== null);
    expect(unbounded.length).toBeGreaterThan(0);
    expect(withoutOrder(m).sections.flatMap((s) => s.rules).filter((r) => r.unbounded !== null)).toEqual(unbounded);
  });
});

describe("nat output: the router's own flows", () => {
  /** Docker's OUTPUT → DOCKER jump and its published port, as iptables-nft's rules read in native form. */
  const docker = (iif: unknown) => JSON.stringify({ nftables: [
    { chain: { family: "ip", table: "nat", name: "OUTPUT", type: "nat", hook: "output", prio: -100 } },
    { chain: { family: "ip", table: "nat", name: "DOCKER" } },
    { rule: { family: "ip", table: "nat", chain: "OUTPUT", handle: 2, expr: [
      { match: { op: "!=", left: { payload: { protocol: "ip", field: "daddr" } }, right: { prefix: { addr: "127.0.0.0", len: 8 } } } },
      { match: { op: "==", left: { fib: { result: "type", flags: ["daddr"] } }, right: "local" } },
      { jump: { target: "DOCKER" } }] } },
    { rule: { family: "ip", table: "nat", chain: "DOCKER", handle: 3, expr: [
      { match: { op: iif === null ? "!=" : "==", left: { meta: { key: "iifname" } }, right: iif ?? "docker0" } },
      { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 5060 } },
      { dnat: { addr: "198.18.200.2", port: 5060 } }] } },
  ] });
  const topo = () => topology(NO_FACTS, parseKernelView(fixtureText("ruleset", "ip-addr.json"), []));
  it("a DNAT of nat output is bounded: local, to the router's own addresses, `iifname != X` always true there", () => {
    const [r] = rulesetModel(liveRules(parseNftJson(docker(null))), topo()).sections[0].rules;
    expect(r).toMatchObject({ hook: "dstnat", local: true, zone: null, unbounded: null, toAddr: "198.18.200.2", proto: "udp" });
    expect(r.dst.pos.filter((p) => !p.includes(":")).sort()).toEqual(["198.18.1.1/32", "198.19.100.2/32"]);
  });
  it("`iifname X` never matches in nat output: no rule", () => {
    expect(rulesetModel(liveRules(parseNftJson(docker("eth1"))), topo()).sections.flatMap((x) => x.rules)).toEqual([]);
  });
});
