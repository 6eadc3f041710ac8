/**
 * Wide filters (src/plan/wide.ts) on fw4's real rulesets: a revoke gets
 * one only when every rule of the previous and the live ruleset that can
 * send a flow to the same H:P is one this plan revokes.
 */
import { describe, expect, it } from "vitest";
import { computeLivePlan, type LiveInput } from "../../src/plan/live.ts";
import type { Selector } from "../../src/plan/selector.ts";
import { utf8Encode } from "../../src/uci/bytes.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const b = fixtureText("ruleset", "b.json");
const a = fixtureText("ruleset", "a.json");

type Doc = { nftables: { rule?: { comment?: string; handle?: number; expr: unknown[] } }[] };

/** b with a second forward 'SIP2' from udp 5070 to the same 198.18.1.20:5060 (rendered like fw4's SIP). */
function withSip2(text: string): string {
  const d = JSON.parse(text) as Doc;
  const out: Doc["nftables"] = [];
  for (const x of d.nftables) {
    out.push(x);
    if (x.rule?.comment === "!fw4: SIP") {
      out.push({ rule: { ...x.rule, handle: 999, comment: "!fw4: SIP2", expr: JSON.parse(JSON.stringify(x.rule.expr).replace('"right":5060}},{"counter"', '"right":5070}},{"counter"')) } });
    }
  }
  return JSON.stringify({ nftables: out });
}
const withoutSip = (text: string) => {
  const d = JSON.parse(text) as Doc;
  return JSON.stringify({ nftables: d.nftables.filter((x) => !/^!fw4: SIP( \(reflection\))?$/.test(x.rule?.comment ?? "")) });
};

function selectors(previous: string, ruleset: string, policy = ""): Selector[] {
  const input: LiveInput = {
    ruleset, previous, fw4State: fixtureText("fw4-examples", "a", "fw4.state"), interfaces: fixtureText("fw4-examples", "a", "interfaces.json"),
    kernel: null, policy: utf8Encode(`config natnow 'main'\n${policy}`), config: null, boot: false, pending: false,
  };
  const o = computeLivePlan(input);
  if (!o.ok) throw new Error(o.error);
  return o.result.plan.selectors;
}

const W20 = { family: 4, proto: 17, nat: "dst", replySrc: "198.18.1.20", replySport: 5060 };
const S20 = { ...W20, nat: "src" };

describe("wide filters from fw4's rulesets", () => {
  it("a forward removed: its revoke selectors (WAN and reflection DNAT, reflection SNAT) get the two filters", () => {
    const s = selectors(b, a);
    expect(s.map((x) => [x.action, x.dnat, x.snat, x.wide])).toEqual([
      ["revoke", true, null, W20], ["revoke", true, null, W20], ["revoke", null, true, S20],
    ]);
  });
  it("a forward moved: the old target's revokes get it, the renews of the new target do not", () => {
    const s = selectors(b, b.replaceAll("198.18.1.20", "198.18.1.30"));
    expect(s.filter((x) => x.action === "revoke").map((x) => x.wide)).toEqual([W20, W20, S20]);
    expect(s.filter((x) => x.action === "renew").map((x) => x.wide)).toEqual([undefined, undefined, undefined]);
  });
  it("another forward to the same host and port stays: no DNAT filter (it would delete that forward's flows)", () => {
    const before = withSip2(b);
    expect(before).toContain('"right":5070}},{"counter"');
    const s = selectors(before, withoutSip(before));
    expect(s.filter((x) => x.action === "revoke").length).toBe(3);
    // SIP2 has no reflection: SNATed flows to the PBX are still only SIP's
    expect(s.map((x) => x.wide)).toEqual(s.map((x) => (x.snat ? S20 : undefined)));
  });
  it("both forwards to that host and port removed: the filter is exact again", () => {
    const s = selectors(withSip2(b), a);
    expect(s.length).toBeGreaterThan(3);
    expect(s.map((x) => x.wide)).toEqual(s.map((x) => (x.snat ? S20 : W20)));
  });
  it("established flows reset by policy (replied) never get one: the filter cannot tell replied from not", () => {
    const s = selectors(a, b, "\toption established '1'\n");
    expect(s.filter((x) => x.action === "revoke").length).toBeGreaterThan(0);
    expect(s.map((x) => x.wide)).toEqual(s.map(() => undefined));
  });
});
