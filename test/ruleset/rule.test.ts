/** One rule's expressions as alternatives of terms and verdict, on JSON exactly as `nft -j` (1.0.6) prints it. */
import { describe, expect, it } from "vitest";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { ruleTerms } from "../../src/ruleset/rule.ts";
import { setLookup } from "../../src/ruleset/walk.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const noSets = () => undefined;
const one = (expr: string, family: 0 | 4 | 6 = 0) => {
  const alts = ruleTerms(JSON.parse(expr), family, noSets);
  expect(alts.length).toBe(1);
  return alts[0];
};
/** shapes.nft as nft -j printed it: rules by handle. */
const shapes = parseNftJson(fixtureText("ruleset", "shapes.json"));
const shape = (handle: number) => {
  const r = shapes.rules.find((x) => x.table === "t" && x.handle === handle);
  if (!r) throw new Error(`no rule ${handle}`);
  return ruleTerms(r.expr, 0, setLookup(shapes.sets, "inet", "t"));
};
const port = (n: number) => ({ pos: [{ min: n, max: n }], neg: [] });

describe("ruleTerms: one alternative", () => {
  it.each([
    ["nfproto and a port imply family and protocol", '[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv4"}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":5060}},{"dnat":{"family":"ip","addr":"198.18.1.20","port":5060}}]',
      { family: 4, protos: [17], dport: port(5060), unbounded: null }],
    ["a negated prefix", '[{"match":{"op":"!=","left":{"payload":{"protocol":"ip6","field":"saddr"}},"right":{"prefix":{"addr":"2001:db8:1::","len":64}}}},{"masquerade":null}]',
      { family: 6, src: { pos: [], neg: ["2001:db8:1::/64"] } }],
    ["an address range becomes prefixes", '[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":{"range":["198.18.2.1","198.18.2.3"]}}},{"accept":null}]',
      { dst: { pos: ["198.18.2.1/32", "198.18.2.2/31"], neg: [] } }],
    ["a protocol set with th ports", '[{"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":{"set":["tcp","udp"]}}},{"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":53}},{"redirect":{"port":5353}}]',
      { protos: [6, 17], dport: port(53) }],
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
    ["fib daddr type local: the router's own destination", '[{"match":{"op":"==","left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local"}},{"dnat":{"addr":"198.18.1.9"}}]',
      { local: true, unbounded: null }],
    ["fib daddr type != local", '[{"match":{"op":"!=","left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local"}},{"accept":null}]',
      { local: false, unbounded: null }],
    ["another fib lookup is unbounded", '[{"match":{"op":"==","left":{"fib":{"result":"oif","flags":["daddr","iif"]}},"right":"eth0"}},{"accept":null}]',
      { local: null, unbounded: 'matches fib {"result":"oif","flags":["daddr","iif"]} ["eth0"]' }],
    ["a wildcard device is unbounded", '[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"wan*"}},{"dnat":{"addr":"198.18.1.9"}}]',
      { unbounded: "matches iifname by the wildcard 'wan*'" }],
    ["an unknown statement is unbounded", '[{"frobnicate":{}},{"dnat":{"addr":"198.18.1.9"}}]',
      { unbounded: "uses 'frobnicate'" }],
    ["contradicting families match nothing", '[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"198.18.1.1"}},{"accept":null}]',
      null],
    ["disjoint ports match nothing", '[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":5}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":6}},{"accept":null}]',
      null],
    ["meta protocol ip6 is the family", '[{"match":{"op":"==","left":{"meta":{"key":"protocol"}},"right":"ip6"}},{"accept":null}]',
      { family: 6 }],
    ["meta protocol != ip is IPv6 (nat sees IP only)", '[{"match":{"op":"!=","left":{"meta":{"key":"protocol"}},"right":"ip"}},{"accept":null}]',
      { family: 6 }],
    ["ct state new: every packet a nat chain sees", '[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":"new"}},{"accept":null}]',
      { unbounded: null, never: false }],
    ["ct state established,related: never new", '[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]',
      { unbounded: "matches ct state related" }],
    ["ct state established: never in a nat chain", '[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":"established"}},{"accept":null}]',
      null],
    ["meta iif by name is the device", '[{"match":{"op":"==","left":{"meta":{"key":"iif"}},"right":"eth1"}},{"accept":null}]',
      { iif: { pos: ["eth1"], neg: [] } }],
    ["meta iif of a device that is gone (a number): nothing", '[{"match":{"op":"==","left":{"meta":{"key":"iif"}},"right":"7"}},{"accept":null}]',
      null],
    ["meta oif != a gone device: anything", '[{"match":{"op":"!=","left":{"meta":{"key":"oif"}},"right":"7"}},{"accept":null}]',
      { oif: { pos: null, neg: [] }, unbounded: null }],
  ])("%s", (_n, expr, want) => {
    const alts = ruleTerms(JSON.parse(expr), 0, noSets);
    if (want === null) expect(alts).toEqual([]);
    else expect(one(expr).terms).toMatchObject(want);
  });
});

describe("ruleTerms: reading on after an unreadable match (a superset, with the reasons)", () => {
  it.each([
    ["a mark, then a port: the port still narrows",
      '[{"match":{"op":"==","left":{"meta":{"key":"mark"}},"right":1}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":5060}},{"dnat":{"addr":"198.18.1.9"}}]',
      { protos: [17], dport: port(5060), unbounded: "matches meta mark" }],
    ["two unreadable matches: both reasons",
      '[{"match":{"op":"==","left":{"meta":{"key":"mark"}},"right":1}},{"match":{"op":"==","left":{"meta":{"key":"skuid"}},"right":0}},{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"198.18.1.7"}},{"accept":null}]',
      { family: 4, src: { pos: ["198.18.1.7/32"], neg: [] }, unbounded: "matches meta mark; matches meta skuid" }],
    ["a readable named set after an xt match",
      '[{"xt":{"type":"match","name":"recent"}},{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@fwdset"}},{"dnat":{"addr":"198.18.1.9"}}]',
      { src: { pos: ["198.18.5.0/24"], neg: [] }, unbounded: "uses an xtables extension" }],
  ])("%s", (_n, expr, want) => {
    const sets = (n: string) => (n === "fwdset" ? { family: "ip", table: "x", name: n, map: false, elem: [{ prefix: { addr: "198.18.5.0", len: 24 } }] } : undefined);
    const alts = ruleTerms(JSON.parse(expr), 0, sets);
    expect(alts.length).toBe(1);
    expect(alts[0].terms).toMatchObject(want);
  });
  it("an unknown statement with no verdict after it may decide: verdict unknown, not continue", () => {
    expect(one('[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":80}},{"xt":{"type":"target","name":"TPROXY"}}]').verdict)
      .toEqual({ kind: "unknown" });
  });
});

describe("ruleTerms: miniupnpd's raw payloads (resolved against the rule's family)", () => {
  const raw = (offset: number, v: number) => `{"match":{"op":"==","left":{"payload":{"base":"nh","offset":${offset},"len":8}},"right":${v}}}`;
  const th = '{"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":8080}}';
  it.each([
    ["@nh,72,8 with dnat ip: the IPv4 protocol", `[${raw(72, 6)},${th},{"dnat":{"family":"ip","addr":"198.18.1.30","port":80}}]`, 0,
      [{ family: 4, protos: [6], dport: port(8080), unbounded: null }]],
    ["@nh,72,8 in an ip table", `[${raw(72, 17)},{"accept":null}]`, 4, [{ family: 4, protos: [17], unbounded: null }]],
    ["@nh,48,8 with dnat ip6: the IPv6 next header", `[${raw(48, 17)},{"dnat":{"family":"ip6","addr":"2001:db8:1::30"}}]`, 0,
      [{ family: 6, protos: [17], unbounded: null }]],
    ["@nh,72,8 where the family is unknown: IPv4's protocol, or an IPv6 address byte (unbounded)", `[${raw(72, 6)},${th},{"accept":null}]`, 0,
      [{ family: 4, protos: [6], unbounded: null }, { family: 6, protos: [6, 17, 33, 132, 136], unbounded: "matches @nh,72,8 in IPv6" }]],
    ["@nh,72,8 in an ip6 table: an address byte", `[${raw(72, 6)},{"accept":null}]`, 6, [{ family: 6, protos: null, unbounded: "matches @nh,72,8 in IPv6" }]],
    ["raw @th,16,16 is the destination port", '[{"match":{"op":"==","left":{"payload":{"base":"th","offset":16,"len":16}},"right":99}},{"accept":null}]', 4,
      [{ dport: port(99), protos: [6, 17, 33, 132, 136] }]],
    ["@th,0,32 (nft's merge of sport and dport)", '[{"match":{"op":"==","left":{"payload":{"base":"th","offset":0,"len":32}},"right":80879505}},{"accept":null}]', 4,
      [{ sport: port(1234), dport: port(8081) }]],
  ])("%s", (_n, expr, family, want) => {
    const alts = ruleTerms(JSON.parse(expr), family as 0 | 4 | 6, noSets);
    expect(alts.map((a) => a.terms)).toMatchObject(want);
  });
});

describe("ruleTerms: sets, maps and verdict maps as alternatives (shapes.nft)", () => {
  it.each([
    ["a named set of concatenations: one alternative per element", 16, [
      { src: { pos: ["10.0.0.1/32"] }, dport: port(80), protos: [6] },
      { src: { pos: ["10.0.0.2/32"] }, dport: port(443), protos: [6] },
    ], ["accept", "accept"]],
    ["an anonymous set of concatenations", 18, [
      { src: { pos: ["10.3.0.1/32"] }, dport: port(22) }, { src: { pos: ["10.3.0.2/32"] }, dport: port(23) },
    ], ["accept", "accept"]],
    ["a named verdict map: each element's key holds for its target", 19, [
      { dst: { pos: ["10.1.0.2/32"] }, protos: [17], dport: port(53) }, { dst: { pos: ["10.1.0.1/32"] }, protos: [6], dport: port(80) },
    ], ["goto c2", "jump c1"]],
    ["an anonymous verdict map on iifname", 21, [{ iif: { pos: ["eth0"] } }, { iif: { pos: ["eth1"] } }], ["jump c1", "accept"]],
    ["a NAT map: one DNAT per element", 22, [{ family: 4, dst: { pos: ["10.2.0.1/32"] } }], ["dnat 192.168.1.1"]],
    ["a NAT map with concatenated key and data", 24, [{ dst: { pos: ["10.4.0.1/32"] }, dport: port(80), protos: [6] }], ["dnat 192.168.1.7:8080"]],
    ["fib, ct state new and meta protocol", 12, [{ local: true, family: 4, protos: [6], dport: port(99), unbounded: null }], ["dnat 10.9.9.10"]],
    ["miniupnpd-like meta iif, @nh,72,8 and raw th ports", 10, [{ iif: { pos: ["lo"] }, family: 4, protos: [6], sport: port(1234), dport: port(8081), unbounded: null }], ["dnat 10.9.9.9"]],
  ])("%s", (_n, handle, terms, verdicts) => {
    const alts = shape(handle);
    expect(alts.map((a) => a.terms)).toMatchObject(terms);
    expect(alts.map((a) => {
      const v = a.verdict;
      if (v.kind === "nat") return `${v.nat.action} ${v.nat.toAddr}${v.nat.toPort ? `:${v.nat.toPort.min}` : ""}`;
      return v.kind === "jump" || v.kind === "goto" ? `${v.kind} ${v.target}` : v.kind;
    })).toEqual(verdicts);
  });

  it("NAT statements: address, range, port range, family; a map over an unreadable key is unbounded", () => {
    expect(one('[{"dnat":{"addr":{"range":["198.18.1.7","198.18.1.8"]}}}]').verdict)
      .toEqual({ kind: "nat", nat: { action: "dnat", family: 4, toAddr: "198.18.1.7-198.18.1.8", toPort: null } });
    expect(one('[{"dnat":{"family":"ip6","addr":"2001:db8:1::20","port":{"range":[7000,7010]}}}]').verdict)
      .toEqual({ kind: "nat", nat: { action: "dnat", family: 6, toAddr: "2001:db8:1::20", toPort: { min: 7000, max: 7010 } } });
    const m = one('[{"dnat":{"family":"ip","addr":{"map":{"key":{"meta":{"key":"mark"}},"data":{"set":[[1,"198.18.1.10"]]}}}}}]');
    expect(m.terms.unbounded).toBe("matches meta mark");
    expect(m.verdict).toEqual({ kind: "nat", nat: { action: "dnat", family: 4, toAddr: null, toPort: null } });
  });
});
