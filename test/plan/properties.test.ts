import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { computePlan } from "../../src/plan/compute.ts";
import { addrMatches, type Flow, portMatches, selectorMatches } from "../../src/conntrack/flow.ts";
import { binaryToBytes } from "../../src/uci/bytes.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import type { NatRule } from "../../src/model/nat.ts";
import { configArb, flowArb } from "../helpers/gen.ts";
import { fixtureText } from "../helpers/fixtures.ts";
import { configFixtures } from "../helpers/fixtures.ts";

const dump = fixtureText("fw4-examples", "a", "interfaces.json");

function run(before: string | Uint8Array | null, after: string | Uint8Array, boot = false) {
  const enc = (x: string | Uint8Array) => (typeof x === "string" ? utf8Encode(x) : x);
  return computePlan({
    config: enc(after),
    previous: before === null ? null : enc(before),
    fw4State: null,
    interfaces: dump,
    policy: utf8Encode("config natnow 'main'\n\toption established '1'\n"),
    boot,
  });
}

/** The rule's own match fields, checked on the flow as the chain sees it (an independent reading of fw4's rule). */
function ruleSees(r: NatRule, f: Flow): boolean {
  if (r.family !== 0 && r.family !== f.family) return false;
  const protoNum: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, "ipv6-icmp": 58 };
  if (r.proto !== null && protoNum[r.proto] !== f.proto) return false;
  const dst = r.hook === "dstnat" ? f.orig.dst : f.reply.src;
  const dport = r.hook === "dstnat" ? f.orig.dport : f.reply.sport;
  return addrMatches(r.src, f.orig.src) && addrMatches(r.dst, dst) &&
    portMatches(r.sport, f.orig.sport) && portMatches(r.dport, dport);
}

describe("plan properties", () => {
  it("identical configs give an empty plan", () => {
    fc.assert(fc.property(configArb, (cfg) => {
      const out = run(cfg, cfg);
      expect(out.ok).toBe(true);
      if (out.ok) {
        expect(out.result.changes).toEqual([]);
        expect(out.result.plan.selectors).toEqual([]);
      }
    }), { numRuns: 200 });
  });

  it("identical real-world fixtures give an empty plan", () => {
    for (const name of configFixtures()) {
      const cfg = fixtureText("configs", name, "firewall");
      const out = run(cfg, cfg);
      expect(out.ok && out.result.plan.selectors.length).toBe(0);
    }
  });

  it("every selector traces to a change, and every flow it selects is one that change's rules see", () => {
    let hits = 0;
    fc.assert(fc.property(configArb, configArb, fc.array(flowArb, { minLength: 30, maxLength: 30 }), (a, b, flows) => {
      const out = run(a, b);
      expect(out.ok).toBe(true);
      if (!out.ok) return;
      const { changes, plan } = out.result;
      for (const pc of plan.changes) {
        for (const s of pc.selectors) {
          expect(changes.map((c) => c.text)).toContain(s.reason);
          for (const f of flows) {
            if (!selectorMatches(s, f)) continue;
            hits++;
            const rules = [...pc.change.removed, ...pc.change.added];
            expect(rules.some((r) => ruleSees(r, f))).toBe(true);
          }
        }
      }
    }), { numRuns: 300 });
    // the property must have been exercised: generated flows do fall in selectors
    expect(hits).toBeGreaterThan(100);
  });

  it("random garbage never yields a selector", () => {
    const cfg = fixtureText("fw4-examples", "c", "firewall");
    fc.assert(fc.property(
      fc.oneof(fc.string(), fc.uint8Array({ maxLength: 300 }).map((u) => binaryToBytes(String.fromCharCode(...u)))),
      fc.boolean(),
      (garbage, asPrevious) => {
        const out = asPrevious ? run(garbage, cfg) : run(cfg, garbage);
        if (out.ok) {
          // garbage that happens to be valid UCI has no firewall zones: nothing can be scoped
          expect(out.result.plan.selectors).toEqual([]);
        } else {
          expect(out.error).toMatch(/^(previous config|config): (Parse error|has no 'zone' section)/);
        }
      },
    ), { numRuns: 500 });
  });

  it("a garbled value in a forward never widens the plan", () => {
    const cfg = fixtureText("fw4-examples", "c", "firewall");
    const options = ["src_dport", "dest_ip", "dest_port", "proto", "src", "dest", "family", "target"];
    fc.assert(fc.property(fc.constantFrom(...options), fc.constantFrom("SIP", "web"),
      fc.stringMatching(/^[!x0-9:.\/-]{1,8}$/), (opt, name, junk) => {
        const blocks = cfg.split(/\n(?=config )/);
        const i = blocks.findIndex((b) => b.includes(`option name '${name}'`));
        blocks[i] = blocks[i].replace(new RegExp(`\\toption ${opt} '[^']*'`), `\toption ${opt} '${junk}'`);
        const out = run(cfg, blocks.join("\n"));
        expect(out.ok).toBe(true);
        if (!out.ok) return;
        // only the garbled forward may appear, and only if fw4 could still read it
        for (const s of out.result.plan.selectors) expect(s.reason).toMatch(new RegExp(`^redirect '${name}' changed`));
        if (out.result.model.skipped.some((k) => k.name === name)) expect(out.result.plan.selectors).toEqual([]);
      }), { numRuns: 300 });
  });

  it("boot plans only renew never-replied flows", () => {
    fc.assert(fc.property(configArb, (cfg) => {
      const out = run(null, cfg, true);
      expect(out.ok).toBe(true);
      if (out.ok) {
        for (const s of out.result.plan.selectors) expect([s.action, s.replied]).toEqual(["renew", false]);
      }
    }), { numRuns: 100 });
  });
});
