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
