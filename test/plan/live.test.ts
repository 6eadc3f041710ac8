/**
 * The live pipeline's contract, on real nft output with random edits: an
 * identical ruleset gives an empty plan; every selector comes from a change
 * with rules only one side has, whose own match selects the flows it
 * selects; input that does not parse gives an error and no selector.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeLivePlan, type LiveInput } from "../../src/plan/live.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const dump = fixtureText("fw4-examples", "a", "interfaces.json");
const base = (ruleset: string, previous: string | null): LiveInput => ({
  ruleset, previous, fw4State: fixtureText("fw4-examples", "a", "fw4.state"), interfaces: dump, kernel: null,
  policy: utf8Encode("config natnow 'main'\n\toption established '1'\n"), config: null, boot: false, pending: false,
});

/** fw4's example c and the hand-written ruleset, as one ruleset. */
function both(): { nftables: unknown[] } {
  const c = JSON.parse(fixtureText("ruleset", "c.json")) as { nftables: unknown[] };
  const h = JSON.parse(fixtureText("ruleset", "hand.json")) as { nftables: { table?: { name: string }; rule?: { table: string } }[] };
  return { nftables: [...c.nftables, ...h.nftables.filter((x) => !JSON.stringify(x).includes('"table": "fw4"') && !(x.table?.name === "fw4"))] };
}

type Item = { rule?: { expr: unknown[] } };
/** An edit of one rule: drop it, or change a number (a port, a handle-free value) in it. */
const editArb = fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom("drop", "port"), port: fc.integer({ min: 1, max: 65535 }) }),
  { minLength: 0, maxLength: 4 });

function edited(doc: { nftables: unknown[] }, edits: { at: number; kind: string; port: number }[]): string {
  const items = JSON.parse(JSON.stringify(doc.nftables)) as Item[];
  const rules = items.map((x, i) => [x, i] as const).filter(([x]) => x.rule);
  const drop = new Set<number>();
  for (const e of edits) {
    const [item, i] = rules[e.at % rules.length];
    if (e.kind === "drop") drop.add(i);
    else item.rule = { ...item.rule, expr: JSON.parse(JSON.stringify(item.rule?.expr).replace(/("port": )\d+|("right": )\d+/, (_m, a, b) => `${a ?? b}${e.port}`)) };
  }
  return JSON.stringify({ nftables: items.filter((_x, i) => !drop.has(i)) });
}

describe("computeLivePlan", () => {
  it("an identical ruleset gives an empty plan", () => {
    fc.assert(fc.property(editArb, (edits) => {
      const text = edited(both(), edits);
      const o = computeLivePlan(base(text, text));
      expect(o.ok).toBe(true);
      if (o.ok) expect([o.result.plan.changes, o.result.plan.selectors]).toEqual([[], []]);
    }), { numRuns: 40 });
  });

  it("every selector names a change that has rules only one side has", () => {
    fc.assert(fc.property(editArb, editArb, (e1, e2) => {
      const o = computeLivePlan(base(edited(both(), e2), edited(both(), e1)));
      expect(o.ok).toBe(true);
      if (!o.ok) return;
      for (const pc of o.result.plan.changes) {
        if (pc.selectors.length) expect(pc.change.removed.length + pc.change.added.length).toBeGreaterThan(0);
        for (const s of pc.selectors) expect(s.reason).toBe(pc.change.text);
        if (pc.status === "unhandled") expect(pc.selectors).toEqual([]);
        // the contract: a change is acted on, or named unhandled
        if (pc.status !== "planned" && pc.status !== "nothing" && pc.status !== "excluded") expect(pc.unhandled).not.toBeNull();
      }
      const all = o.result.plan.changes.flatMap((pc) => pc.selectors).length;
      expect(o.result.plan.selectors.length).toBeLessThanOrEqual(all);
    }), { numRuns: 60 });
  });

  it("a changed rule natnow cannot read whole: renewed by its readable part, the revoke it cannot bound named unhandled", () => {
    const text = fixtureText("ruleset", "hand.json");
    const o = computeLivePlan(base(text.replace('"right": 1}}, {"dnat": {"addr": "198.18.1.9"}}', '"right": 2}}, {"dnat": {"addr": "198.18.1.9"}}'), text));
    expect(o.ok).toBe(true);
    if (!o.ok) return;
    const c = o.result.plan.changes.filter((x) => x.change.text.startsWith("rule 'ip natx pre handle 14'"))[0];
    expect(c.status).toBe("planned");
    // the old mark's flows to 198.18.1.9 may be the new mark's: kept, and that is said
    expect(c.selectors.map((s) => [s.action, s.replied, s.keep.length > 0])).toEqual([["revoke", null, true], ["renew", false, true]]);
    expect(c.unhandled).toMatch(/^rule 'ip natx pre handle 14' changed: .*flows '.*' may translate alike were kept \(.*matches meta mark\)/);
    expect(o.result.plan.unhandled).toContain(c.unhandled);
  });

  it("garbage in, an error out, and never a selector", () => {
    fc.assert(fc.property(fc.string(), fc.boolean(), (junk, asPrevious) => {
      const good = fixtureText("ruleset", "a.json");
      const o = computeLivePlan(asPrevious ? base(good, junk) : base(junk, good));
      if (o.ok) expect(o.result.plan.selectors).toEqual([]);
    }), { numRuns: 200 });
    const o = computeLivePlan(base('{"nftables": [{"rule": 5}]}', fixtureText("ruleset", "a.json")));
    expect(o).toEqual({ ok: false, error: "ruleset: item 0 (rule) is not an object" });
  });
});

describe("computeLivePlan, pending", () => {
  it("previews what a reload of the UCI config would reset, against the live rules", () => {
    const o = computeLivePlan({ ...base(fixtureText("ruleset", "b.json"), null), config: utf8Encode(fixtureText("fw4-examples", "c", "firewall")), pending: true });
    expect(o.ok).toBe(true);
    if (!o.ok) return;
    expect(o.result.plan.changes.map((c) => [c.change.text, c.status, c.selectors.length])).toEqual([["redirect 'web' added", "planned", 6]]);
    expect(o.extra?.drift).toEqual(["redirect 'web' added"]);
  });
  it("keeps rules from outside fw4 out of the preview", () => {
    const both2 = JSON.stringify(both());
    const o = computeLivePlan({ ...base(both2, null), config: utf8Encode(fixtureText("fw4-examples", "c", "firewall")), pending: true });
    expect(o.ok && o.result.plan.changes).toEqual([]);
  });
});

describe("computeLivePlan, ct status dnat", () => {
  it("masquerading narrowed to flows not DNATed revokes only the DNATed ones", () => {
    const a = fixtureText("ruleset", "a.json");
    const masq = '{"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}}, {"masquerade": null}';
    expect(a.includes(masq)).toBe(true);
    const narrowed = a.replace(masq, '{"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}}, ' +
      '{"match": {"op": "!", "left": {"ct": {"key": "status"}}, "right": "dnat"}}, {"masquerade": null}');
    const o = computeLivePlan(base(narrowed, a));
    expect(o.ok).toBe(true);
    if (!o.ok) return;
    const [c] = o.result.plan.changes;
    expect(c.change.text).toBe("zone 'wan' changed: masquerade→ct-!dnat masquerade");
    // the old rule's flows, except those the new one masquerades alike; (and, under `established '1'`, the new rule's replied flows)
    expect(c.selectors.map((s) => [s.action, s.snat, s.dnat, s.replied, s.keep.map((k) => k.dnat)])).toEqual([
      ["revoke", true, null, null, [false]],
      // the new rule's own translation (not DNATed, masqueraded) is kept: such a flow has its NAT
      ["renew", null, false, false, [false]],
      ["revoke", null, false, true, [false]],
    ]);
  });
});

describe("computeLivePlan, nat output", () => {
  it("a port published for the router's own clients renews their never-replied flows, from its own addresses", () => {
    const a = JSON.parse(fixtureText("ruleset", "a.json")) as { nftables: unknown[] };
    const out = { nftables: [...a.nftables,
      { table: { family: "ip", name: "local", handle: 50 } },
      { chain: { family: "ip", table: "local", name: "out", handle: 1, type: "nat", hook: "output", prio: -100, policy: "accept" } },
      { rule: { family: "ip", table: "local", chain: "out", handle: 2, expr: [
        { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 8080 } },
        { dnat: { addr: "198.18.1.44", port: 80 } }] } },
    ] };
    const o = computeLivePlan(base(JSON.stringify(out), fixtureText("ruleset", "a.json")));
    if (!o.ok) throw new Error(o.error);
    expect(o.result.plan.unhandled).toEqual([]);
    expect(o.result.plan.selectors.map((s) => [s.action, s.replied, s.origSrc.pos.sort().join(","), s.origDport.pos])).toEqual([
      ["renew", false, "127.0.0.1/32,198.18.1.1/32,198.19.100.2/32", [{ min: 8080, max: 8080 }]],
      // the test's policy resets established flows under added rules too
      ["revoke", true, "127.0.0.1/32,198.18.1.1/32,198.19.100.2/32", [{ min: 8080, max: 8080 }]],
    ]);
  });
});
