import { describe, expect, it } from "vitest";
import { buildModel } from "../../src/firewall/model.ts";
import { parseFw4State, parseInterfaceDump } from "../../src/firewall/facts.ts";
import { parseUci } from "../../src/uci/parse.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import type { NatModel } from "../../src/model/nat.ts";
import { fixtureBytes, fixtureText } from "../helpers/fixtures.ts";
import { natChains, renderRule } from "../helpers/nft.ts";

function modelOf(configText: string, example = "a"): NatModel {
  const facts = parseFw4State(fixtureText("fw4-examples", example, "fw4.state"));
  return buildModel(parseUci(utf8Encode(configText), "firewall"), facts);
}

function chainsOf(m: NatModel): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  // fw4 order inside a chain: redirects, then nat sections, then zone masquerading
  const order = { redirect: 0, nat: 1, zone: 2, rule: 3 } as const;
  const sections = [...m.sections].sort((a, b) => order[a.kind] - order[b.kind]);
  for (const s of sections) {
    for (const r of s.rules) {
      const chain = `${r.hook}_${r.zone}`;
      (out[chain] ??= []).push(renderRule(r));
    }
  }
  return out;
}

describe("model matches the rules fw4 rendered", () => {
  for (const ex of ["a", "b", "c", "g", "h"]) {
    it(`fw4 example ${ex}`, () => {
      const m = modelOf(fixtureText("fw4-examples", ex, "firewall"), ex);
      const want = natChains(fixtureText("fw4-examples", ex, "ruleset.nft"));
      const got = chainsOf(m);
      // fw4 prints empty chains for zones with dnat/snat flags; compare the rules
      const nonEmpty = (c: Record<string, string[]>) =>
        Object.fromEntries(Object.entries(c).filter(([, v]) => v.length));
      expect(nonEmpty(got)).toEqual(nonEmpty(want));
      expect(m.skipped).toEqual([]);
    });
  }
});

describe("facts", () => {
  it("the interface dump and fw4 state agree on the examples", () => {
    for (const ex of ["a", "b", "c", "g", "h"]) {
      const st = parseFw4State(fixtureText("fw4-examples", ex, "fw4.state"));
      const ub = parseInterfaceDump(fixtureText("fw4-examples", ex, "interfaces.json"));
      const noRoute = (f: typeof ub) =>
        Object.fromEntries(Object.entries(f.networks).map(([k, v]) => [k, { ...v, defaultRoute: false }]));
      expect(noRoute(ub)).toEqual(st.networks);
      expect(ub.networks.wan.defaultRoute && ub.networks.wan6.defaultRoute && !ub.networks.lan.defaultRoute).toBe(true);
    }
  });
  it.each([
    ["{", "fw4 state: not valid JSON"],
    ["[]", "fw4 state: not a JSON object"],
    ['{"networks": {"lan": {"ipaddrs": [{"family": 4, "addr": "1.2.3", "bits": 24}]}}}', "is not an IPv4 address"],
    ['{"networks": {"lan": {"ipaddrs": [{"family": 4, "addr": "1.2.3.4", "bits": 33}]}}}', "is not a prefix length"],
  ])("rejects bad fw4 state %j", (text, msg) => {
    expect(() => parseFw4State(text)).toThrow(msg);
  });
  it("rejects a dump without interfaces", () => {
    expect(() => parseInterfaceDump("{}")).toThrow("interface dump: no 'interface' list");
  });
});

describe("fw4 skip rules and warnings", () => {
  const m = modelOf(new TextDecoder().decode(fixtureBytes("configs", "12-fw4-skips", "firewall")));
  it.each([
    ["bad-port", "skipped due to invalid options"],
    ["no-src", "has no source specified"],
    ["unknown-zone", "skipped due to invalid options"],
    ["inverted-dest", "must not specify a negated 'dest_ip' value"],
    ["snat-no-ip", "needs either 'snat_ip' or 'snat_port' for target snat, ignoring section"],
    ["ports-no-proto", "specifies ports but no UDP/TCP protocol, ignoring section"],
  ])("%s: %s", (name, reason) => {
    expect(m.skipped.find((s) => s.name === name)?.reason).toBe(reason);
  });
  it("a zone without its mandatory name is skipped", () => {
    const z = modelOf("config zone\n\toption input 'ACCEPT'\n");
    expect(z.warnings).toEqual([
      "Section @zone[0] option 'name' is mandatory but not set",
      "Section @zone[0] skipped due to invalid options",
    ]);
  });
  it("says why in fw4's words", () => {
    expect(m.warnings).toContain("Section @redirect[0] (bad-port) option 'src_dport' specifies invalid value '80x'");
    expect(m.warnings).toContain("Section @redirect[2] (unknown-zone) option 'src' specifies invalid value 'dmz'");
  });
  it("keeps the valid section, with prefix enums and case-insensitive proto", () => {
    const fine = m.sections.find((s) => s.name === "fine");
    // no `dest`: fw4 finds lan by dest_ip, so reflection applies too
    expect(m.warnings).toContain("Section @redirect[4] (fine) does not specify a destination, assuming 'lan'");
    expect(fine?.rules.map(renderRule)).toEqual([
      'ip saddr 198.18.1.0/24 ip daddr 198.19.100.2 tcp dport 8081 dnat 198.18.1.11:8081 comment "!fw4: fine (reflection)"',
      'ip saddr 198.18.1.0/24 ip daddr 198.18.1.11 tcp dport 8081 snat 198.18.1.1 comment "!fw4: fine (reflection)"',
      'meta nfproto ipv4 tcp dport 8081 dnat 198.18.1.11:8081 comment "!fw4: fine"',
    ]);
  });
});

describe("model details", () => {
  it("disabled sections are skipped with fw4's reason", () => {
    const m = modelOf(fixtureText("configs", "07-disabled", "firewall"));
    expect(m.skipped.map((s) => [s.kind, s.name, s.reason])).toEqual([
      ["zone", "guest", "is disabled, ignoring section"],
      ["redirect", "ssh-off", "is disabled, ignoring section"],
      ["nat", "snat-off", "is disabled, ignoring section"],
    ]);
    const game = m.sections.find((s) => s.name === "game");
    expect(game?.rules.map(renderRule)).toEqual([
      'ip saddr 198.18.1.0/24 ip daddr 198.19.100.2 tcp dport 27015-27030 dnat 198.18.1.40:27015-27030 comment "!fw4: game (reflection)"',
      'ip saddr 198.18.1.0/24 ip daddr 198.18.1.40 tcp dport 27015-27030 snat 198.18.1.1 comment "!fw4: game (reflection)"',
      'meta nfproto ipv4 tcp dport 27015-27030 dnat 198.18.1.40:27015-27030 comment "!fw4: game"',
      'ip saddr 198.18.1.0/24 ip daddr 198.19.100.2 udp dport 27015-27030 dnat 198.18.1.40:27015-27030 comment "!fw4: game (reflection)"',
      'ip saddr 198.18.1.0/24 ip daddr 198.18.1.40 udp dport 27015-27030 snat 198.18.1.1 comment "!fw4: game (reflection)"',
      'meta nfproto ipv4 udp dport 27015-27030 dnat 198.18.1.40:27015-27030 comment "!fw4: game"',
    ]);
  });
  it("masq_src/masq_dest lists, negation and masq6", () => {
    const m = modelOf(fixtureText("configs", "06-masq-src-dest", "firewall"));
    const wan = m.sections.find((s) => s.kind === "zone" && s.name === "wan");
    expect(wan?.rules.map(renderRule)).toEqual([
      'meta nfproto ipv4 ip saddr 198.18.1.0/25 ip saddr != 198.18.1.64/26 ip daddr 198.19.0.0/16 ip daddr != 198.19.100.0/24 masquerade comment "!fw4: Masquerade IPv4 wan traffic"',
      'meta nfproto ipv6 masquerade comment "!fw4: Masquerade IPv6 wan traffic"',
    ]);
  });
  it("SNAT redirects, redirects to the router, src_dip and reflection_zone", () => {
    const m = modelOf(fixtureText("configs", "10-snat-redirect", "firewall"));
    const r = (n: string) => m.sections.find((s) => s.name === n)?.rules.map(renderRule);
    expect(r("legacy-snat")).toEqual(['ip saddr 198.18.1.70 snat 198.19.100.7 comment "!fw4: legacy-snat"']);
    expect(r("ssh-alt")).toEqual(['meta nfproto ipv4 tcp dport 2222 redirect to 22 comment "!fw4: ssh-alt"']);
    expect(r("rdp")).toEqual([
      'ip saddr 198.18.1.0/24 ip daddr 198.19.100.2 tcp dport 3389 dnat 198.18.1.80:3389 comment "!fw4: rdp (reflection)"',
      'ip saddr 198.18.1.0/24 ip daddr 198.18.1.80 tcp dport 3389 snat 198.18.1.1 comment "!fw4: rdp (reflection)"',
      'ip daddr 198.19.100.2 tcp dport 3389 dnat 198.18.1.80:3389 comment "!fw4: rdp"',
    ]);
    expect(r("masq-to-vpn")).toEqual(['ip daddr 198.18.200.0/24 udp dport 1194 masquerade comment "!fw4: masq-to-vpn"']);
  });
  it("network names as addresses, IPv6-only redirects, several masq zones", () => {
    const facts = parseFw4State(fixtureText("fw4-examples", "a", "fw4.state"));
    facts.networks.guest = { device: "br-guest", zone: null, defaultRoute: false, addrs: [
      { kind: "prefix", family: 4, addr: [198, 18, 2, 1], bits: 24 },
    ] };
    facts.networks.wwan = { device: "wlan1", zone: null, defaultRoute: true, addrs: [
      { kind: "prefix", family: 4, addr: [198, 19, 101, 2], bits: 24 },
    ] };
    const m = buildModel(parseUci(fixtureBytes("configs", "11-multiwan", "firewall"), "firewall"), facts);
    const r = (n: string) => m.sections.find((s) => s.name === n)?.rules.map(renderRule);
    expect(r("guest-fixed")).toEqual([
      'meta l4proto tcp ip saddr 198.18.2.0/24 snat 198.19.101.2 comment "!fw4: guest-fixed"',
      'meta l4proto udp ip saddr 198.18.2.0/24 snat 198.19.101.2 comment "!fw4: guest-fixed"',
    ]);
    expect(r("web6")).toEqual([
      'meta nfproto ipv6 tcp dport 443 dnat [2001:db8:1::443]:443 comment "!fw4: web6"',
    ]);
    expect(m.sections.filter((s) => s.kind === "zone").map((s) => s.name)).toEqual(["wan", "wwan"]);
  });
  it("the `;` rule drops an option (hand-written file)", () => {
    const m = modelOf(fixtureText("configs", "09-handwritten", "firewall"));
    const lan = m.zones.find((z) => z.name === "lan");
    expect(lan?.empty).toBe(true);
    expect(m.sections.find((s) => s.name === "SIP phone")?.rules.length).toBe(2);
  });
  it("networks unknown to the facts are reported on the zone", () => {
    const m = buildModel(parseUci(fixtureBytes("configs", "02-forward-sip", "firewall"), "firewall"), {
      networks: {}, zones: [], source: "none",
    });
    expect(m.zones.map((z) => [z.name, z.unresolved])).toEqual([["lan", ["lan"]], ["wan", ["wan", "wan6"]]]);
  });
});
