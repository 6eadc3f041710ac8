/** miniupnpd's mappings a fw4 reload flushed: held while miniupnpd still leases them (src/ruleset/upnphold.ts). */
import { describe, expect, it } from "vitest";
import { holdUpnp, parseLeases } from "../../src/ruleset/upnphold.ts";
import { natSubset, type NftRuleset, parseNftJson } from "../../src/ruleset/nft.ts";
import { computeLivePlan, type LiveInput } from "../../src/plan/live.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { fixtureText } from "../helpers/fixtures.ts";

/** The ruleset with miniupnpd's mappings (as nftnl-upnp lays them out), and the same after fw4's reload flushed them. */
const mapped = () => natSubset(parseNftJson(fixtureText("ruleset", "upnp.json")));
const flushed = (): NftRuleset => {
  const rs = mapped();
  return { ...rs, rules: rs.rules.filter((r) => r.chain !== "upnp_prerouting").map((r) => ({ ...r, handle: r.handle + 100 })) };
};
const NOW = 1_800_000_000;
const LEASES = "TCP:8080:198.18.1.30:80:0:web server\nUDP:3478:198.18.1.31:3478:1800000600:stun\nbogus line\n";
const heldChains = (rs: NftRuleset) => rs.rules.filter((r) => r.chain === "upnp_prerouting").map((r) => r.handle);

describe("parseLeases", () => {
  it("reads miniupnpd's lines (PROTO:EPORT:IADDR:IPORT:TIMESTAMP:DESC), skipping others", () => {
    expect(parseLeases(LEASES)).toEqual([
      { proto: 6, eport: 8080, iaddr: "198.18.1.30", iport: 80, expires: 0, desc: "web server" },
      { proto: 17, eport: 3478, iaddr: "198.18.1.31", iport: 3478, expires: 1800000600, desc: "stun" },
    ]);
  });
});

describe("holdUpnp", () => {
  it.each([
    ["leased mappings the kernel lost come back (the rule without a port keeps none: not a lease's)", { leases: LEASES, running: true }, NOW, [13],
      ["tcp 8080 → 198.18.1.30:80 (\"web server\")"]],
    ["a lease that ended is not held", { leases: "TCP:8080:198.18.1.30:80:1700000000:old\n", running: true }, NOW, [], []],
    ["miniupnpd not running: nothing held", { leases: LEASES, running: false }, NOW, [], []],
    ["no lease file: nothing held", null, NOW, [], []],
  ])("%s", (_n, upnp, now, handles, words) => {
    const r = holdUpnp(flushed(), mapped(), upnp, now);
    expect(heldChains(r.ruleset)).toEqual(handles);
    expect(r.held).toEqual(words);
  });
  it("a mapping miniupnpd added again (new handle, same rule) is not held twice", () => {
    const again = mapped();
    again.rules = again.rules.map((r) => ({ ...r, handle: r.handle + 100 }));
    const r = holdUpnp(again, mapped(), { leases: LEASES, running: true }, NOW);
    expect([r.held, r.ruleset.rules.length]).toEqual([[], again.rules.length]);
  });
});

describe("a fw4 reload with miniupnpd's mappings leased", () => {
  const input = (ruleset: NftRuleset, previous: NftRuleset, upnp: LiveInput["upnp"]): LiveInput => ({
    ruleset: JSON.stringify({ nftables: [
      ...ruleset.chains.map((c) => ({ chain: { ...c } })), ...ruleset.rules.map((r) => ({ rule: { ...r } })),
    ] }),
    previous: JSON.stringify({ nftables: [
      ...previous.chains.map((c) => ({ chain: { ...c } })), ...previous.rules.map((r) => ({ rule: { ...r } })),
    ] }),
    fw4State: fixtureText("fw4-examples", "a", "fw4.state"), interfaces: fixtureText("fw4-examples", "a", "interfaces.json"),
    kernel: null, policy: utf8Encode(""), config: null, boot: false, pending: false, upnp, now: NOW,
  });
  it("revokes nothing of a held mapping, and names it unhandled", () => {
    const o = computeLivePlan(input(flushed(), mapped(), { leases: LEASES, running: true }));
    if (!o.ok) throw new Error(o.error);
    const revokes = o.result.plan.selectors.filter((s) => s.action === "revoke" && s.replySrc.pos.indexOf("198.18.1.30/32") >= 0);
    expect(revokes).toEqual([]);
    expect(o.extra?.unhandled).toEqual([expect.stringMatching(/^miniupnpd's mapping tcp 8080 → 198\.18\.1\.30:80 \("web server"\) is gone from the kernel/)]);
  });
  it("without the lease the flushed mapping is a removal: its flows are revoked", () => {
    const o = computeLivePlan(input(flushed(), mapped(), { leases: "", running: true }));
    if (!o.ok) throw new Error(o.error);
    expect(o.result.plan.selectors.some((s) => s.action === "revoke" && s.replySrc.pos.indexOf("198.18.1.30/32") >= 0)).toBe(true);
    expect(o.extra?.unhandled).toEqual([]);
  });
});
