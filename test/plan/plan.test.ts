import { describe, expect, it } from "vitest";
import { describeSelector } from "../../src/plan/selector.ts";
import { configText, planOf } from "../helpers/plan.ts";

const A = configText("fw4:a");
const B = configText("fw4:b");
const C = configText("fw4:c");
const G = configText("fw4:g");
const H = configText("fw4:h");

function lines(before: string | null, after: string, opts = {}): string[] {
  return planOf(before, after, opts).plan.selectors.map((s) => `${s.action} ${describeSelector(s)}`);
}

// the router of the examples: lan 198.18.1.1/24 + 2001:db8:1::1/64 on br-lan,
// wan 198.19.100.2/24 + 2001:db8:100::2/64 on eth1 (masquerading, default routes)
// the router's own addresses are never a NATed flow's end; the plan writes
// each set plainly (no prefix inside another, no negation outside the set)
const LAN4 = "198.18.1.0/24,!198.18.1.1"; // lan hosts
const NOT_ROUTER4 = "!198.18.1.1,!127.0.0.1,!198.19.100.2"; // any source but the router
const NOT_LAN4 = "!198.18.1.0/24,!127.0.0.0/8,!198.19.100.2"; // IPv4 traffic that can come in from wan

describe("plan: port forward added, removed, moved (hand-derived)", () => {
  it("redirect added: renew never-replied flows it now forwards, reflection included", () => {
    expect(planOf(A, B).changes.map((c) => c.text)).toEqual(["redirect 'SIP' added"]);
    expect(lines(A, B)).toEqual([
      `renew ipv4 udp src ${LAN4} dst 198.19.100.2 dport 5060 unreplied except [reply-src 198.18.1.20 reply-sport 5060 dnat]`,
      `renew ipv4 udp src ${LAN4} reply-src 198.18.1.20 reply-sport 5060 unreplied except [reply-dst 198.18.1.1 snat]`,
      `renew ipv4 udp src ${NOT_LAN4} dport 5060 unreplied except [reply-src 198.18.1.20 reply-sport 5060 dnat]`,
    ]);
  });
  it("redirect removed: revoke the flows translated to its target", () => {
    expect(planOf(B, A).changes.map((c) => c.text)).toEqual(["redirect 'SIP' removed"]);
    expect(lines(B, A)).toEqual([
      `revoke ipv4 udp src ${LAN4} dst 198.19.100.2 dport 5060 reply-src 198.18.1.20 reply-sport 5060 dnat`,
      `revoke ipv4 udp src ${LAN4} reply-src 198.18.1.20 reply-dst 198.18.1.1 reply-sport 5060 snat`,
      `revoke ipv4 udp src ${NOT_LAN4} dport 5060 reply-src 198.18.1.20 reply-sport 5060 dnat`,
    ]);
  });
  it("dest_ip changed: revoke the old target, renew for the new one", () => {
    const moved = B.replace("option dest_ip '198.18.1.20'", "option dest_ip '198.18.1.30'");
    const p = planOf(B, moved);
    expect(p.changes.map((c) => c.text)).toEqual(["redirect 'SIP' changed: dest_ip 198.18.1.20→198.18.1.30"]);
    expect(lines(B, moved)).toEqual([
      `revoke ipv4 udp src ${LAN4} dst 198.19.100.2 dport 5060 reply-src 198.18.1.20 reply-sport 5060 dnat`,
      `revoke ipv4 udp src ${LAN4} reply-src 198.18.1.20 reply-dst 198.18.1.1 reply-sport 5060 snat`,
      `revoke ipv4 udp src ${NOT_LAN4} dport 5060 reply-src 198.18.1.20 reply-sport 5060 dnat`,
      `renew ipv4 udp src ${LAN4} dst 198.19.100.2 dport 5060 unreplied except [reply-src 198.18.1.30 reply-sport 5060 dnat]`,
      `renew ipv4 udp src ${LAN4} reply-src 198.18.1.30 reply-sport 5060 unreplied except [reply-dst 198.18.1.1 snat]`,
      `renew ipv4 udp src ${NOT_LAN4} dport 5060 unreplied except [reply-src 198.18.1.30 reply-sport 5060 dnat]`,
    ]);
  });
  it("a second forward added leaves the first one's flows alone", () => {
    const l = lines(B, C);
    expect(planOf(B, C).changes.map((c) => c.text)).toEqual(["redirect 'web' added"]);
    expect(l.every((x) => x.includes("tcp") && !x.includes("5060"))).toBe(true);
    expect(l.some((x) => x.startsWith(`renew ipv4 tcp src ${NOT_LAN4} dport 8080 unreplied except [`))).toBe(true);
  });
  it("IPv6 forward removed: IPv6 selectors only, no reflection (no masq6)", () => {
    expect(lines(H, A)).toEqual([
      "revoke ipv6 udp src !2001:db8:1::/64,!2001:db8:100::2 dport 5060 reply-src 2001:db8:1::20 reply-sport 5060 dnat",
    ]);
  });
});

describe("plan: source NAT", () => {
  it("nat section added: renew the host's never-replied flows leaving through its zone", () => {
    expect(planOf(A, G).changes.map((c) => c.text)).toEqual(["nat 'snat-lan-host50' added"]);
    // `src lan`: the SNAT applies where traffic leaves through lan, i.e. towards lan's subnet
    expect(lines(A, G)).toEqual([
      `renew ipv4 any src 198.18.1.50 reply-src ${LAN4} unreplied except [reply-dst 198.19.100.9 snat]`,
    ]);
  });
  it("nat section removed: revoke flows mapped to its address", () => {
    expect(lines(G, A)).toEqual([
      `revoke ipv4 any src 198.18.1.50 reply-src ${LAN4} reply-dst 198.19.100.9 snat`,
    ]);
  });
  it("masquerading switched on: renew never-replied forwarded flows leaving through wan", () => {
    const off = A.replace("\toption masq '1'\n", "");
    const p = planOf(off, A);
    expect(p.changes.map((c) => c.text)).toEqual(["zone 'wan' masquerading on"]);
    expect(lines(off, A)).toEqual([`renew ipv4 any src ${NOT_ROUTER4} reply-src ${NOT_LAN4} unreplied except [reply-dst 198.19.100.2 snat]`]);
  });
  it("masquerading switched off: revoke flows mapped to the wan address", () => {
    const off = A.replace("\toption masq '1'\n", "");
    expect(lines(A, off)).toEqual([`revoke ipv4 any src ${NOT_ROUTER4} reply-src ${NOT_LAN4} reply-dst 198.19.100.2 snat`]);
  });
});

describe("plan: policy", () => {
  it("established '1' also resets replied flows under added rules", () => {
    const l = lines(A, B, { policy: "config natnow 'main'\n\toption established '1'\n" });
    expect(l.filter((x) => x.startsWith("revoke")).length).toBe(3);
    // each keeps the flows that already carry the new forward's translation
    expect(l.filter((x) => / replied except \[.* (dnat|snat)\]$/.test(x)).length).toBe(3);
  });
  it("revoke '0' keeps flows of removed rules", () => {
    expect(lines(B, A, { policy: "config natnow 'main'\n\toption revoke '0'\n" })).toEqual([]);
  });
  it("renew '0' renews nothing", () => {
    expect(lines(A, B, { policy: "config natnow 'main'\n\toption renew '0'\n" })).toEqual([]);
  });
  it("exclude leaves a named redirect alone", () => {
    const p = planOf(A, C, { policy: "config natnow 'main'\n\tlist exclude 'SIP'\n" });
    expect(p.plan.changes.find((c) => c.change.name === "SIP")?.note).toBe("excluded by policy");
    expect(p.plan.selectors.every((s) => s.reason === "redirect 'web' added")).toBe(true);
  });
  it("bad policy values are reported and the default is used", () => {
    const p = planOf(A, B, { policy: "config natnow 'main'\n\toption renew 'maybe'\n\toption backend 'bpf'\n" });
    expect(p.policyWarnings).toEqual([
      "natnow.main.renew: 'maybe' is not a boolean, using the default",
      "natnow.main.backend: 'bpf' is not one of auto, kmod, conntrack, procfs, using the default",
    ]);
    expect(p.policy.renew).toBe(true);
    expect(p.plan.selectors.length).toBe(3);
  });
});

describe("plan: boot", () => {
  it("renews never-replied flows under every current rule", () => {
    const p = planOf(null, C, { boot: true });
    expect(p.plan.selectors.every((s) => s.action === "renew" && s.replied === false)).toBe(true);
    expect([...new Set(p.plan.selectors.map((s) => s.reason))]).toEqual([
      "boot: zone 'wan' masquerading", "boot: redirect 'SIP'", "boot: redirect 'web'",
    ]);
    expect(p.plan.selectors.length).toBe(1 + 3 + 3);
  });
  it("never resets established flows at boot, whatever the policy", () => {
    const p = planOf(null, C, { boot: true, policy: "config natnow 'main'\n\toption established '1'\n" });
    expect(p.plan.selectors.some((s) => s.action === "revoke")).toBe(false);
  });
});

describe("plan: what cannot be bounded is acted on through its readable part, or named unhandled", () => {
  it("a forward whose port becomes invalid is skipped by fw4, not revoked: unhandled", () => {
    const broken = B.replace("option src_dport '5060'", "option src_dport '50x60'");
    const p = planOf(B, broken);
    expect(p.plan.selectors).toEqual([]);
    expect(p.plan.unhandled).toEqual([
      "redirect 'SIP' is skipped by fw4 (skipped due to invalid options); its flows are left alone",
    ]);
    expect(p.plan.changes.map((c) => c.status)).toEqual(["unhandled"]);
  });
  it("a forward switched off with enabled '0' is revoked", () => {
    const off = B.replace("option dest_port '5060'", "option dest_port '5060'\n\toption enabled '0'");
    expect(off).not.toBe(B);
    expect(lines(B, off).length).toBe(3);
  });
  it.each([
    ["added, no runtime facts: every never-replied flow of its protocol and port is renewed", A, B,
      ["renew ipv4 udp dport 5060 unreplied except [reply-src 198.18.1.20 reply-sport 5060 dnat]"], "fallback: every never-replied flow it may concern is renewed (zone 'wan': network 'wan', 'wan6' unknown to the runtime facts)"],
    ["removed, no runtime facts: revoked by its target, the zone left out", B, A,
      ["revoke ipv4 udp dport 5060 reply-src 198.18.1.20 reply-sport 5060 dnat"], "revoked by its target within what natnow reads of it (zone 'wan': network 'wan', 'wan6' unknown to the runtime facts)"],
  ])("%s", (_n, before, after, want, note) => {
    const p = planOf(before, after, { facts: "none" });
    expect(lines(before, after, { facts: "none" })).toEqual(want);
    expect(p.plan.unhandled).toEqual([]);
    expect(p.plan.changes.map((c) => c.note)).toEqual([note]);
  });
  const mac = B.replace("option dest_port '5060'", "option dest_port '5060'\n\toption src_mac '00:11:22:33:44:55'");
  it("a MAC-restricted forward added: its readable part (no MAC) is renewed, reflection exact", () => {
    expect(mac).not.toBe(B);
    expect(lines(A, mac)).toEqual(lines(A, B));
    expect(planOf(A, mac).plan.changes[0].note).toBe("fallback: every never-replied flow it may concern is renewed (SIP: matches MAC addresses)");
  });
  it("the fallback switched off: the change is unhandled and nothing renewed", () => {
    const p = planOf(A, mac, { policy: "config natnow 'main'\n\toption fallback '0'\n" });
    expect(p.plan.unhandled).toEqual(["redirect 'SIP' added: SIP: matches MAC addresses (the policy's fallback is off)"]);
    expect(p.plan.selectors).toEqual([]);
  });
  it("established flows under a rule natnow cannot bound are not reset: that part is unhandled", () => {
    const p = planOf(A, mac, { policy: "config natnow 'main'\n\toption established '1'\n" });
    expect(p.plan.selectors.filter((s) => s.action === "renew").length).toBe(3);
    expect(p.plan.unhandled).toEqual(["redirect 'SIP' added: established flows under it were not reset (SIP: matches MAC addresses)"]);
  });
  it("a MAC-restricted forward removed: revoked by its target, kept where a current rule translates alike", () => {
    expect(lines(mac, A)).toEqual(lines(B, A));
    const moved = mac.replace("option src_mac '00:11:22:33:44:55'", "option src_mac '00:11:22:33:44:66'");
    // the same target under another MAC: the removed rule's flows may be the new one's, so they are kept
    const p = planOf(mac, moved);
    expect(p.plan.selectors.filter((s) => s.action === "revoke").every((s) => s.keep.length > 0)).toBe(true);
    // and what was kept for that reason is named
    expect(p.plan.unhandled).toEqual([
      "redirect 'SIP' changed: src_mac 00:11:22:33:44:55→00:11:22:33:44:66: flows 'SIP' may translate alike were kept (SIP: matches MAC addresses)",
    ]);
  });
  it("fw4 state alone (no default routes) still scopes a masquerading wan", () => {
    expect(lines(A, B, { facts: "state" })).toEqual(lines(A, B));
  });
});
