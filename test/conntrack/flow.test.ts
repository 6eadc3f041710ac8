import { describe, expect, it } from "vitest";
import { type Flow, selectorMatches } from "../../src/conntrack/flow.ts";
import { parseIp } from "../../src/net/ip.ts";
import type { Selector } from "../../src/plan/selector.ts";
import { ANY_ADDR, ANY_PORT, describeSelector } from "../../src/plan/selector.ts";

function flow(o: string, r: string, extra: Partial<Flow> = {}): Flow {
  // "src:sport>dst:dport" for each direction
  const t = (s: string) => {
    const [a, b] = s.split(">");
    const [sa, sp] = a.split("#");
    const [da, dp] = b.split("#");
    return { src: parseIp(sa)!, dst: parseIp(da)!, sport: sp ? Number(sp) : null, dport: dp ? Number(dp) : null };
  };
  return {
    family: o.includes(":") ? 6 : 4, proto: 17, orig: t(o), reply: t(r), replied: false,
    dnat: false, snat: false, zone: 0, id: null, ...extra,
  };
}

const sel: Selector = {
  action: "revoke", reason: "redirect 'SIP' removed", family: 4, proto: 17,
  origSrc: { pos: [], neg: ["198.18.1.0/24"] }, origDst: ANY_ADDR,
  origSport: ANY_PORT, origDport: { pos: [{ min: 5060, max: 5060 }], neg: [] },
  replySrc: { pos: ["198.18.1.20/32"], neg: [] }, replyDst: ANY_ADDR,
  replySport: { pos: [{ min: 5060, max: 5060 }], neg: [] }, replyDport: ANY_PORT,
  dnat: true, snat: null, replied: null, keep: [],
};

describe("selectorMatches", () => {
  const natted = { dnat: true };
  it.each([
    ["the forwarded flow", flow("198.51.100.7#4000>198.19.100.2#5060", "198.18.1.20#5060>198.51.100.7#4000", natted), true],
    ["replied or not", flow("198.51.100.7#4000>198.19.100.2#5060", "198.18.1.20#5060>198.51.100.7#4000", { ...natted, replied: true }), true],
    ["another target host", flow("198.51.100.7#4000>198.19.100.2#5060", "198.18.1.21#5060>198.51.100.7#4000", natted), false],
    ["another port", flow("198.51.100.7#4000>198.19.100.2#5061", "198.18.1.20#5060>198.51.100.7#4000", natted), false],
    ["from the LAN", flow("198.18.1.9#4000>198.19.100.2#5060", "198.18.1.20#5060>198.18.1.9#4000", natted), false],
    ["not DNATed", flow("198.51.100.7#4000>198.18.1.20#5060", "198.18.1.20#5060>198.51.100.7#4000"), false],
    ["TCP", flow("198.51.100.7#4000>198.19.100.2#5060", "198.18.1.20#5060>198.51.100.7#4000", { ...natted, proto: 6 }), false],
    ["IPv6", flow("2001:db8:7::1#4000>2001:db8:100::2#5060", "2001:db8:1::20#5060>2001:db8:7::1#4000", natted), false],
    ["no ports (ICMP)", flow("198.51.100.7>198.19.100.2", "198.18.1.20>198.51.100.7", { ...natted, proto: 17 }), false],
  ])("%s → %s", (_what, f, want) => {
    expect(selectorMatches(sel, f)).toBe(want);
  });
  it("negated ports exclude", () => {
    const s = { ...sel, origDport: { pos: [], neg: [{ min: 5000, max: 5100 }] } };
    expect(selectorMatches(s, flow("198.51.100.7#4000>198.19.100.2#5060", "198.18.1.20#5060>198.51.100.7#4000", natted))).toBe(false);
    expect(selectorMatches(s, flow("198.51.100.7#4000>198.19.100.2#6000", "198.18.1.20#5060>198.51.100.7#4000", natted))).toBe(true);
  });
  it("leaves alone the flows it keeps", () => {
    const f = flow("198.51.100.7#4000>198.19.100.2#5060", "198.18.1.20#5060>198.51.100.7#4000", natted);
    const g = flow("198.51.100.8#4000>198.19.100.2#5060", "198.18.1.20#5060>198.51.100.8#4000", natted);
    const s = { ...sel, keep: [{ ...sel, origSrc: { pos: ["198.51.100.7/32"], neg: [] }, dnat: null }] };
    expect([selectorMatches(s, f), selectorMatches(s, g)]).toEqual([false, true]);
  });
  it("describes itself in one line", () => {
    expect(describeSelector(sel)).toBe(
      "ipv4 udp src !198.18.1.0/24 dport 5060 reply-src 198.18.1.20 reply-sport 5060 dnat",
    );
  });
});
