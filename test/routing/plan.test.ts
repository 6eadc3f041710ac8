/** The routing plan: which flows move (failover always, failback by the policy), the selectors naming them, the counts per interface. */
import { describe, expect, it } from "vitest";
import { choose, flowMatches } from "../../src/conntrack/flow.ts";
import { parseLine } from "../../src/conntrack/parse.ts";
import { readMwan3 } from "../../src/routing/mwan3.ts";
import { type FailbackPolicy, failsBack, flowSelector, planRouting } from "../../src/routing/plan.ts";
import type { IfaceState } from "../../src/routing/status.ts";
import { describeSelector } from "../../src/plan/selector.ts";
import { fixtureBytes } from "../helpers/fixtures.ts";

const read = readMwan3(fixtureBytes("mwan3", "two-wan.config"));
if ("error" in read) throw new Error(read.error);
const cfg = read.ok;
const VIEW = { ifaceAddrs: new Map([["wan1", ["198.19.1.2"]], ["wan2", ["198.19.2.2"]]]), own: new Set(["198.19.1.2", "198.19.2.2", "198.18.1.1"]) };
const S = (wan1: boolean, wan2: boolean, wan1For = 60): Map<string, IfaceState> =>
  new Map([["wan1", { online: wan1, onlineFor: wan1 ? wan1For : null }], ["wan2", { online: wan2, onlineFor: 60 }]]);
const UDP_BACK: FailbackPolicy = { protocols: [17], perPolicy: new Map(), delay: 0 };

const line = (p: "udp" | "tcp", src: string, sport: number, dst: string, dport: number, nat: string, mark: number) =>
  parseLine(`ipv4 2 ${p} ${p === "udp" ? 17 : 6} 100 ${p === "tcp" ? "ESTABLISHED " : ""}src=${src} dst=${dst} sport=${sport} dport=${dport} ` +
    `src=${dst} dst=${nat} sport=${dport} dport=${sport} mark=${mark} use=1 id=${sport}`);
const phone = (nat: string, mark: number) => line("udp", "198.18.1.20", 5060, "198.19.50.1", 5060, nat, mark);
const wg = (nat: string, mark: number) => line("udp", "198.18.1.21", 51820, "198.19.50.1", 51820, nat, mark);
const dl = (nat: string, mark: number) => line("tcp", "198.18.1.30", 40000, "198.19.50.3", 8001, nat, mark);
const pinnedDl = line("tcp", "198.18.1.30", 40001, "198.19.50.3", 8002, "198.19.2.2", 0x200);
const pinnedUdp = Array.from({ length: 40 }, (_, i) => line("udp", "198.18.1.31", 7000 + i, "198.19.50.1", 7000 + i, "198.19.2.2", 0x200));

describe("planRouting", () => {
  it("failover: every flow on the dead wan1 moves, none of the 41 a rule pins to wan2", () => {
    const flows = [phone("198.19.1.2", 0x100), wg("198.19.1.2", 0x100), dl("198.19.1.2", 0x100), pinnedDl, ...pinnedUdp];
    const p = planRouting(cfg, flows, S(false, true), VIEW, UDP_BACK);
    expect(p.entries).toEqual([{ wan: "wan1", to: ["wan2"], moved: 3, kept: 0, unclear: 0, notes: ["offline"] }]);
    const chosen = choose(flows, p.selectors).map((c) => c.flow);
    expect(chosen).toEqual(flows.slice(0, 3));
  });
  it("failback 'udp': the phone and WireGuard move back, the TCP download stays, the pinned flows are no concern", () => {
    const flows = [phone("198.19.2.2", 0x200), wg("198.19.2.2", 0x200), dl("198.19.2.2", 0x200), pinnedDl, ...pinnedUdp];
    const p = planRouting(cfg, flows, S(true, true), VIEW, UDP_BACK);
    expect(p.entries).toEqual([{ wan: "wan2", to: ["wan1"], moved: 2, kept: 1, unclear: 0,
      notes: ["failback udp", "kept: failback policy of 'wan1_wan2' (tcp)"] }]);
    expect(choose(flows, p.selectors).map((c) => c.flow.orig.dport)).toEqual([5060, 51820]);
  });
  it.each([
    ["none", { protocols: [], perPolicy: new Map(), delay: 0 }, 0],
    ["all", { protocols: null, perPolicy: new Map(), delay: 0 }, 3],
    ["udp, but 'wan1_wan2' all", { protocols: [17], perPolicy: new Map([["wan1_wan2", null]]), delay: 0 }, 3],
    ["all, but 'wan1_wan2' none", { protocols: null, perPolicy: new Map([["wan1_wan2", []]]), delay: 0 }, 0],
    ["udp after 30 s online (wan1 has been for 10)", { protocols: [17], perPolicy: new Map(), delay: 30 }, 0],
  ] as [string, FailbackPolicy, number][])("failback %s: %s flows move back", (_w, fb, n) => {
    const flows = [phone("198.19.2.2", 0x200), wg("198.19.2.2", 0x200), dl("198.19.2.2", 0x200)];
    expect(planRouting(cfg, flows, S(true, true, 10), VIEW, fb).selectors.length).toBe(n);
  });
  it("nothing to do when every flow is where mwan3 would put it", () => {
    const flows = [phone("198.19.1.2", 0x100), pinnedDl, ...pinnedUdp];
    expect(planRouting(cfg, flows, S(true, true), VIEW, UDP_BACK)).toEqual({ selectors: [], entries: [], unclear: [] });
  });
});

describe("flowSelector: one flow by its original tuple and its mark", () => {
  const f = phone("198.19.1.2", 0x100);
  const s = flowSelector(f, 0x3f00, "mwan3 'wan1' offline: to wan2");
  it("reads as one flow", () => {
    expect(describeSelector(s)).toBe("ipv4 udp src 198.18.1.20 dst 198.19.50.1 sport 5060 dport 5060 mark 0x100/0x3f00");
  });
  it("matches the flow, not the same tuple under another mark (it has moved already), nor a flow without a mark", () => {
    expect(flowMatches(s, f)).toBe(true);
    expect(flowMatches(s, { ...f, mark: 0x200 })).toBe(false);
    expect(flowMatches(s, { ...f, mark: 0x10100 })).toBe(true);
    const { mark: _m, ...unmarked } = f;
    expect(flowMatches(s, unmarked)).toBe(false);
  });
  it("failsBack needs the protocol and a target online long enough (unknown counts as long enough)", () => {
    expect(failsBack(UDP_BACK, "p", 17, [{ online: true, onlineFor: null }])).toBe(true);
    expect(failsBack({ ...UDP_BACK, delay: 5 }, "p", 17, [{ online: true, onlineFor: 4 }])).toBe(false);
    expect(failsBack(UDP_BACK, "p", 6, [{ online: true, onlineFor: 99 }])).toBe(false);
  });
});
