/** Exact conntrack -D filters (src/backend/exact.ts): which revoke selectors one `-D` names exactly, and its arguments. */
import { describe, expect, it } from "vitest";
import { addrValue, exactArgs, exactFilter, exactFilters, impliedNat, outside, portValue } from "../../src/backend/exact.ts";
import { selectorMatches } from "../../src/conntrack/flow.ts";
import type { FlowMatch, Selector } from "../../src/plan/selector.ts";
import { ANY_ADDR, ANY_PORT } from "../../src/plan/selector.ts";
import { fwd, revokeSip } from "../helpers/flows.ts";
import { configText, planOf } from "../helpers/plan.ts";

const one = (p: number) => ({ pos: [{ min: p, max: p }], neg: [] });
const addr = (pos: string[], neg: string[] = []) => ({ pos, neg });

/** A UPnP-like mapping from one remote host: udp 6001 → 198.18.1.20:6001. */
const mapping: Selector = {
  ...revokeSip, reason: "mapping removed", origSrc: addr(["198.19.7.7/32"]), origDport: one(6001),
  replySrc: addr(["198.18.1.20/32"]), replySport: one(6001),
};

/** The filter's arguments, or why there is none. */
const args = (s: Selector): string[] | string => {
  const f = exactFilter(s);
  return "why" in f ? f.why : exactArgs(f.ok);
};

describe("which revoke selectors one conntrack -D names exactly", () => {
  const D = ["conntrack", "-D", "-f", "ipv4", "-p", "17"];
  const tail = ["-o", "extended,id"];
  const qualifies: { name: string; s: Selector; want: string[] }[] = [
    {
      name: "a mapping from one remote host: its values, translated (--dst-nat)",
      s: mapping, want: [...D, "--dport", "6001", "-r", "198.18.1.20", "--reply-port-src", "6001", "-s", "198.19.7.7", "--dst-nat", ...tail],
    },
    {
      name: "a source prefix, with exclusions outside it (the router's addresses): -s with its mask",
      s: { ...mapping, origSrc: addr(["198.19.50.0/24"], ["198.18.1.1/32", "127.0.0.0/8", "198.19.100.2/32"]) },
      want: [...D, "--dport", "6001", "-r", "198.18.1.20", "--reply-port-src", "6001", "-s", "198.19.50.0/24", "--dst-nat", ...tail],
    },
    {
      name: "the original destination and the reply source differ: the translation is in the values, no --dst-nat",
      s: { ...mapping, origDst: addr(["198.19.100.2/32"]) },
      want: [...D, "-d", "198.19.100.2", "--dport", "6001", "-r", "198.18.1.20", "--reply-port-src", "6001", "-s", "198.19.7.7", ...tail],
    },
    {
      name: "IPv6 with the translation in the values",
      s: {
        ...mapping, family: 6, origSrc: addr(["2001:db8:7::7/128"]), origDst: addr(["2001:db8:100::2/128"]),
        replySrc: addr(["2001:db8:1::20/128"]),
      },
      want: ["conntrack", "-D", "-f", "ipv6", "-p", "17", "-d", "2001:db8:100::2", "--dport", "6001", "-r", "2001:db8:1::20",
        "--reply-port-src", "6001", "-s", "2001:db8:7::7", ...tail],
    },
    {
      name: "a keep on another external port (a moved forward keeps the new port's flows): disjoint",
      s: { ...mapping, keep: [{ ...mapping, origDport: one(6002) }] },
      want: [...D, "--dport", "6001", "-r", "198.18.1.20", "--reply-port-src", "6001", "-s", "198.19.7.7", "--dst-nat", ...tail],
    },
  ];
  for (const c of qualifies) it(c.name, () => expect(args(c.s)).toEqual(c.want));

  const falls: { name: string; s: Selector; why: RegExp }[] = [
    { name: "fw4's wan zone (not the other zones, not the router)", s: revokeSip, why: /^src excludes|names no single old peer/ },
    { name: "a zone scope", s: { ...mapping, origSrc: addr([], ["198.18.1.0/24", "127.0.0.0/8"]) }, why: /^src excludes 198\.18\.1\.0\/24,127\.0\.0\.0\/8 \(conntrack-tools has no negation\)/ },
    { name: "a LAN without the router's address", s: { ...mapping, origSrc: addr(["198.18.1.0/24"], ["198.18.1.1/32"]) }, why: /^src excludes 198\.18\.1\.1\/32/ },
    { name: "two source prefixes", s: { ...mapping, origSrc: addr(["198.19.7.0/24", "198.19.8.0/24"]) }, why: /^src names 2 prefixes/ },
    { name: "a reply prefix", s: { ...mapping, replySrc: addr(["198.18.1.0/24"]) }, why: /^reply-src .* hosts only/ },
    { name: "a port range", s: { ...mapping, origDport: { pos: [{ min: 6000, max: 6010 }], neg: [] } }, why: /^dport names a port range/ },
    { name: "excluded ports", s: { ...mapping, origSport: { pos: [], neg: [{ min: 1, max: 1023 }] } }, why: /^sport excludes ports/ },
    { name: "replied entries only (-D ignores status)", s: { ...mapping, replied: true }, why: /-D ignores status filters/ },
    { name: "a renew", s: { ...mapping, action: "renew", replied: false }, why: /^a renew/ },
    { name: "any protocol", s: { ...mapping, proto: null, origDport: ANY_PORT, replySport: ANY_PORT }, why: /^any protocol/ },
    { name: "no single old port", s: { ...mapping, replySport: ANY_PORT }, why: /names no single old peer/ },
    { name: "IPv6 translated, not by its values (--dst-nat compares 32 bits)", s: { ...mapping, family: 6, origSrc: addr(["2001:db8:7::7/128"]), replySrc: addr(["2001:db8:1::20/128"]) }, why: /--dst-nat is unreliable/ },
    { name: "untranslated, not by its values", s: { ...mapping, dnat: false }, why: /^no dst-nat cannot be said/ },
    { name: "translated, against its values", s: { ...mapping, origDst: addr(["198.18.1.20/32"]) }, why: /^dst-nat contradicts/ },
    { name: "a keep the filter would take", s: { ...mapping, keep: [{ ...mapping, origSrc: ANY_ADDR }] }, why: /^keeps flows the filter would take/ },
  ];
  for (const c of falls) it(`falls back: ${c.name}`, () => expect(args(c.s)).toMatch(c.why));

  it("falls back: a condition it does not know (a ct zone, say) narrows the selector past any filter without it", () => {
    expect(args({ ...mapping, zone: 7 } as Selector)).toMatch(/^matches on zone too/);
  });

  it("says a mark to -D (mwan3's interface marks)", () => {
    expect(args({ ...mapping, mark: { value: 0x100, mask: 0x3f00 } })).toContain("0x100/0x3f00");
  });

  it("a protocol without ports needs no old port, and takes the translation from its values only", () => {
    const gre: Selector = { ...mapping, proto: 47, origDport: ANY_PORT, replySport: ANY_PORT, origDst: addr(["198.19.100.2/32"]) };
    expect(args(gre)).toEqual(["conntrack", "-D", "-f", "ipv4", "-p", "47", "-d", "198.19.100.2", "-r", "198.18.1.20", "-s", "198.19.7.7", "-o", "extended,id"]);
    expect(args({ ...gre, origDst: ANY_ADDR })).toMatch(/--dst-nat is unreliable/);
  });

  it("a plan is one walk only when every selector is; duplicates are one filter", () => {
    const f = exactFilters([mapping, { ...mapping, reason: "again" }]);
    expect("ok" in f && f.ok.length).toBe(1);
    expect(exactFilters([mapping, revokeSip])).toEqual({ why: expect.stringMatching(/^redirect 'SIP' removed: /) });
    expect(exactFilters([])).toEqual({ why: "no selectors" });
  });

  it("fw4's forward removed (the benchmark's plan) falls back: its scopes are zones", () => {
    const plan = planOf(configText("fw4:b"), configText("fw4:a"));
    expect(plan.plan.selectors.length).toBe(3);
    for (const s of plan.plan.selectors) expect(args(s)).toMatch(/^src excludes .*\(conntrack-tools has no negation\)$/);
  });
});

describe("one field as one conntrack-tools value", () => {
  it("addresses: a host, a prefix where allowed, any; exclusions only outside the prefix", () => {
    expect(addrValue(addr(["198.19.7.7/32"]), false)).toEqual({ ok: "198.19.7.7" });
    expect(addrValue(addr(["2001:db8:7::/48"]), true)).toEqual({ ok: "2001:db8:7::/48" });
    expect(addrValue(addr(["0.0.0.0/0"]), true)).toEqual({ ok: null });
    expect(addrValue(ANY_ADDR, false)).toEqual({ ok: null });
    expect(addrValue(addr(["198.19.7.0/24"], ["198.18.1.1/32"]), true)).toEqual({ ok: "198.19.7.0/24" });
    expect(addrValue(addr(["198.19.7.0/24"], ["198.19.0.0/16"]), true)).toMatchObject({ why: expect.stringMatching(/no negation/) });
    expect(addrValue(addr(["198.19.7.0/24"]), false)).toMatchObject({ why: expect.stringMatching(/hosts only/) });
  });
  it("ports: one port, any; no range, no exclusion", () => {
    expect(portValue(one(5060))).toEqual({ ok: "5060" });
    expect(portValue(ANY_PORT)).toEqual({ ok: null });
    expect(portValue({ pos: [{ min: 1, max: 2 }], neg: [] })).toMatchObject({ why: expect.stringMatching(/range/) });
    expect(portValue({ pos: [], neg: [{ min: 1, max: 2 }] })).toMatchObject({ why: expect.stringMatching(/excludes/) });
    expect(portValue({ pos: [{ min: 5, max: 5 }], neg: [{ min: 1, max: 9 }] })).toEqual({ why: "matches no port" });
  });
});

describe("what the values imply of a translation", () => {
  const cases: [Record<string, string>, boolean | null][] = [
    [{ dst: "198.19.0.1", "reply-src": "198.18.1.20" }, true],
    [{ dport: "80", "reply-sport": "8080" }, true],
    [{ dst: "198.18.1.20", "reply-src": "198.18.1.20", dport: "80", "reply-sport": "80" }, false],
    [{ dst: "198.18.1.20", "reply-src": "198.18.1.20" }, null],
    [{ dst: "198.18.1.0/24", "reply-src": "198.18.1.20" }, null],
    [{ "reply-src": "198.18.1.20" }, null],
  ];
  for (const [values, want] of cases) {
    it(`${JSON.stringify(values)}: ${want}`, () => expect(impliedNat(values, true, ["dst", "dport"], ["reply-src", "reply-sport"])).toBe(want));
  }
  it("without ports, the addresses alone", () => {
    expect(impliedNat({ dst: "198.18.1.20", "reply-src": "198.18.1.20" }, false, ["dst", "dport"], ["reply-src", "reply-sport"])).toBe(false);
  });
});

describe("a keep the filter cannot reach", () => {
  const f = exactFilter(mapping);
  if (!("ok" in f)) throw new Error(f.why);
  const k = (x: Partial<FlowMatch>): FlowMatch => ({ ...mapping, ...x });
  const cases: [string, FlowMatch, boolean][] = [
    ["another family", k({ family: 6 }), true],
    ["another protocol", k({ proto: 6 }), true],
    ["another target", k({ replySrc: addr(["198.18.1.30/32"]) }), true],
    ["a target prefix holding it", k({ replySrc: addr(["198.18.1.0/24"]) }), false],
    ["the source excluded", k({ origSrc: addr([], ["198.19.7.0/24"]) }), true],
    ["another port", k({ origDport: one(6002) }), true],
    ["its port excluded", k({ origDport: { pos: [], neg: [{ min: 6000, max: 6005 }] } }), true],
    ["untranslated only", k({ dnat: false }), true],
    ["replied only (the filter takes both)", k({ replied: true }), false],
    ["the same", k({}), false],
  ];
  for (const [name, keep, want] of cases) it(`${name}: ${want ? "outside" : "reached"}`, () => expect(outside(f.ok, keep)).toBe(want));

  it("agrees with the matcher: a flow of the filter is never kept by a keep called outside", () => {
    const flows = [fwd("198.19.7.7", 4000, 6001, "198.18.1.20"), fwd("198.19.7.7", 4001, 6001, "198.18.1.20", 7)];
    for (const [, keep, out] of cases) {
      if (!out) continue;
      for (const fl of flows) expect(selectorMatches({ ...mapping, keep: [keep] }, fl)).toBe(true);
    }
  });
});
