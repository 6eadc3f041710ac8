/** The evaluator on real nft output (the e2e oracle test holds it against the kernel). */
import { describe, expect, it } from "vitest";
import { evaluate, EvaluateError, type Packet } from "../../src/ruleset/evaluate.ts";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const route = (d: string) => (d === "198.18.1.1" || d === "198.19.100.2" ? "local" : d.startsWith("198.18.1.") ? "br-lan" : "eth1");
const own = (dev: string) => (dev === "br-lan" ? "198.18.1.1" : dev === "eth1" ? "198.19.100.2" : null);
const udp = (src: string, sport: number, dst: string, dport: number, iif: string): Packet =>
  ({ family: 4, proto: 17, src, dst, sport, dport, iif });
const at = (a: string, p: number) => ({ addr: a, port: { min: p, max: p } });

describe("evaluate", () => {
  const c = parseNftJson(fixtureText("ruleset", "c.json"));
  it.each([
    ["a WAN client to the forward", udp("198.19.100.1", 4000, "198.19.100.2", 5060, "eth1"), { dnat: at("198.18.1.20", 5060), snat: null }],
    ["a LAN client to the WAN address: DNAT and reflection SNAT", udp("198.18.1.50", 4000, "198.19.100.2", 5060, "br-lan"),
      { dnat: at("198.18.1.20", 5060), snat: at("198.18.1.1", 4000) }],
    ["a LAN client out to the WAN: masquerade", udp("198.18.1.50", 4000, "198.19.60.7", 53, "br-lan"), { dnat: null, snat: at("198.19.100.2", 4000) }],
    ["to the router itself: nothing", udp("198.18.1.50", 4000, "198.18.1.1", 53, "br-lan"), { dnat: null, snat: null }],
  ])("fw4 example c: %s", (_n, p, want) => {
    expect(evaluate(c, p, route, own)).toEqual({ ...want, dropped: false });
  });

  const hand = parseNftJson(fixtureText("ruleset", "hand.json"));
  it("goto a chain whose return ends the base chain; the next base chain still runs", () => {
    // 198.18.8.0/24 from eth1 returns from 'sub' (reached by goto): the base chain ends, and
    // the next one (fwx, priority 0) has nothing for udp 5060
    expect(evaluate(hand, udp("198.18.8.9", 1, "198.19.100.2", 5060, "eth1"), route, own))
      .toEqual({ dnat: null, snat: null, dropped: false });
    // the next base chain does run: tcp 80 from eth1 is redirected there
    expect(evaluate(hand, { ...udp("198.18.8.9", 1, "198.19.100.2", 80, "eth1"), proto: 6 }, route, own))
      .toEqual({ dnat: at("198.19.100.2", 8080), snat: null, dropped: false });
    // not returned: 'sub' DNATs, and postrouting's unconditional rule (with counter, log, limit) SNATs
    expect(evaluate(hand, udp("198.19.9.9", 1, "198.19.100.2", 9, "eth1"), route, own))
      .toEqual({ dnat: at("198.18.1.12", 9), snat: at("198.19.100.10", 1), dropped: false });
  });
  it("a rule it cannot read is an error, not a guess", () => {
    expect(() => evaluate(hand, udp("198.18.9.1", 1, "198.18.2.100", 9, "br-lan"), route, own)).toThrow(EvaluateError);
  });
});

describe("evaluate: fib, verdict maps, NAT maps, dormant tables (shapes.nft)", () => {
  const shapes = parseNftJson(fixtureText("ruleset", "shapes.json"));
  const only = (...handles: number[]) => ({ ...shapes, rules: shapes.rules.filter((r) => r.table === "dorm" || handles.indexOf(r.handle) >= 0) });
  const r2 = (d: string) => (d === "10.9.0.1" ? "local" : "eth1");
  const none = () => null;
  const tcp = (src: string, dst: string, dport: number, iif: string): Packet => ({ family: 4, proto: 6, src, dst, sport: 4000, dport, iif });
  it.each<[string, Packet, string | null]>([
    ["fib daddr type local holds for a local destination: the tcp 99 DNAT", tcp("10.8.0.1", "10.9.0.1", 99, "eth9"), "10.9.9.10"],
    ["... and not for a forwarded one (fib != local accepts it)", tcp("10.8.0.1", "10.9.0.2", 99, "eth9"), null],
  ])("%s", (_n, p, want) => {
    expect(evaluate(only(12, 13), p, r2, none).dnat?.addr ?? null).toBe(want);
  });
  it("a rule with an unreadable match cannot be evaluated", () => {
    expect(() => evaluate(only(25), tcp("10.8.0.1", "10.9.0.2", 99, "eth9"), r2, none)).toThrow(EvaluateError);
  });
  it("a verdict map's element jumps to its chain; a NAT map's element gives the address", () => {
    const sub = only(7, 8, 19, 21, 22, 24);
    const at = (p: Packet) => evaluate(sub, p, r2, none).dnat?.addr ?? null;
    expect(at(tcp("10.8.0.1", "10.1.0.1", 80, "eth9"))).toBe("192.168.1.5");
    expect(at({ ...tcp("10.8.0.1", "10.1.0.2", 53, "eth9"), proto: 17 })).toBe("192.168.1.6");
    expect(at(tcp("10.8.0.1", "10.1.0.9", 80, "eth0"))).toBe("192.168.1.5");
    expect(at(tcp("10.8.0.1", "10.1.0.9", 80, "eth1"))).toBeNull();
    expect(at(tcp("10.8.0.1", "10.2.0.1", 1, "eth7"))).toBe("192.168.1.1");
    expect(at(tcp("10.8.0.1", "10.4.0.1", 80, "eth7"))).toEqual("192.168.1.7");
    // table dorm's masquerade does not run
    expect(evaluate(sub, tcp("10.8.0.1", "10.5.0.1", 1, "eth7"), r2, () => "10.9.0.1").snat).toBeNull();
  });
});
