import { describe, expect, it } from "vitest";
import { parseStatus, planWrites, selectorLine } from "../../src/backend/kmod-protocol.ts";
import { configText, planOf } from "../helpers/plan.ts";

describe("kmod protocol encoding", () => {
  it("writes the plan of a removed forward as kill commands", () => {
    const p = planOf(configText("fw4:b"), configText("fw4:a"));
    expect(planWrites(p.plan.selectors, { holdMs: 2000 })).toEqual([
      "kill hold=2000 family=ipv4 proto=17 src=198.18.1.0/24,!198.18.1.1/32 dst=198.19.100.2/32 dport=5060 reply-src=198.18.1.20/32 reply-sport=5060 dnat=1\n",
      "kill hold=2000 family=ipv4 proto=17 src=198.18.1.0/24,!198.18.1.1/32 reply-src=198.18.1.20/32 reply-dst=198.18.1.1/32 reply-sport=5060 snat=1\n",
      "kill hold=2000 family=ipv4 proto=17 src=!198.18.1.0/24,!127.0.0.0/8,!198.19.100.2/32 dport=5060 reply-src=198.18.1.20/32 reply-sport=5060 dnat=1\n",
    ]);
  });
  it("writes renews as one arm, selectors joined by |", () => {
    const p = planOf(configText("fw4:a"), configText("fw4:b"));
    const w = planWrites(p.plan.selectors, { ttl: 120 });
    expect(w.length).toBe(1);
    expect(w[0].startsWith("arm ttl=120 family=ipv4 proto=17 ")).toBe(true);
    expect(w[0].split(" | ").length).toBe(3);
  });
  it("carries keep matches as except clauses", () => {
    const off = configText("fw4:a");
    const narrowed = off.replace("\toption masq '1'\n", "\toption masq '1'\n\tlist masq_src '198.18.1.0/25'\n");
    const p = planOf(off, narrowed);
    const kills = planWrites(p.plan.selectors).filter((x) => x.startsWith("kill"));
    expect(kills).toEqual([
      "kill family=ipv4 src=!198.18.1.1/32,!127.0.0.1/32,!198.19.100.2/32 reply-src=!198.18.1.0/24,!127.0.0.0/8,!198.19.100.2/32 reply-dst=198.19.100.2/32 snat=1 except family=ipv4 src=198.18.1.0/25,!198.18.1.1/32 reply-src=!198.18.1.0/24,!127.0.0.0/8,!198.19.100.2/32\n",
    ]);
  });
  it("splits arms at 64 selectors and at a page", () => {
    const p = planOf(null, configText("08-luci-written"), { boot: true });
    const many = Array.from({ length: 150 }, () => p.plan.selectors).flat();
    const w = planWrites(many);
    expect(w.every((x) => x.length <= 4095 && x.split(" | ").length <= 64)).toBe(true);
    expect(w.reduce((n, x) => n + x.split(" | ").length, 0)).toBe(many.length);
  });
  it("encodes IPv6 and status conditions", () => {
    const p = planOf(configText("fw4:h"), configText("fw4:a"));
    expect(selectorLine(p.plan.selectors[0])).toBe(
      "family=ipv6 proto=17 src=!2001:db8:1::/64,!2001:db8:100::2/128 dport=5060 reply-src=2001:db8:1::20/128 reply-sport=5060 dnat=1",
    );
  });
});

describe("kmod status", () => {
  it("reads what the module prints", () => {
    const s = parseStatus([
      "natnow 1", "timestamps on", "armed 1", "gen 3 age_ms=1520 left_ms=118480 scopes=1",
      "scope 3 family=ipv4 proto=17 dport=5060", "holds 0", "checked 118", "renewed 1", "renew_failed 0",
      "killed 2", "held_drops 3", "bad_commands 0", "",
    ].join("\n"));
    expect(s).toEqual({
      version: 1, armed: 1, scopes: ["family=ipv4 proto=17 dport=5060"],
      counters: { holds: 0, checked: 118, renewed: 1, renew_failed: 0, killed: 2, held_drops: 3, bad_commands: 0 },
    });
    expect(parseStatus("something else")).toBeNull();
  });
});
