/** mwan3's config as its scripts read it: ids and marks, members, policies, rules; what it skips; what makes it unusable. */
import { describe, expect, it } from "vitest";
import { id2mask, mask2id, type Mwan3Config, readMwan3, specialIds } from "../../src/routing/mwan3.ts";
import { fixtureBytes } from "../helpers/fixtures.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const ok = (bytes: Uint8Array): Mwan3Config => {
  const r = readMwan3(bytes);
  if ("error" in r) throw new Error(r.error);
  return r.ok;
};

describe("mwan3's mark arithmetic (mwan3_id2mask)", () => {
  it.each([
    [1, 0x3f00, 0x100], [2, 0x3f00, 0x200], [62, 0x3f00, 0x3e00], [63, 0x3f00, 0x3f00],
    [1, 0xaa, 0x02], [5, 0xaa, 0x22], [3, 0xff0000, 0x30000], [1, 0x80000001, 0x1], [2, 0x80000001, 0x80000000],
  ])("id %i under mask %s is %s, and back", (id, mask, mark) => {
    expect(id2mask(id, mask)).toBe(mark);
    expect(mask2id(mark, mask)).toBe(id);
  });
  it("the default mask's special ids: default 63, unreachable 62, blackhole 61, 60 interfaces", () => {
    expect(specialIds(0x3f00)).toEqual({ default: 63, unreachable: 62, blackhole: 61, maxIface: 60 });
    expect(specialIds(0x700).maxIface).toBe(4);
  });
});

describe("readMwan3 on a home router's config", () => {
  const cfg = ok(fixtureBytes("mwan3", "home.config"));
  it("numbers every interface section from 1, enabled or not, with its family", () => {
    expect(cfg.interfaces.map((i) => [i.name, i.id, i.enabled, i.family])).toEqual([
      ["fibre", 1, true, 4], ["lte", 2, true, 4], ["fibre6", 3, true, 6], ["spare", 4, false, 4],
    ]);
    expect(cfg.mmxMask).toBe(0x3f00);
  });
  it("policies with their members in order; a member of metric over 256 and a name over 15 characters are skipped, said", () => {
    expect(cfg.policies.get("fibre_lte")?.members.map((m) => [m.iface, m.metric])).toEqual([["fibre", 1], ["lte", 2], ["fibre6", 1]]);
    expect(cfg.policies.get("fibre_only")).toMatchObject({ lastResort: "default", members: [{ iface: "fibre" }] });
    expect(cfg.policies.get("balanced")?.lastResort).toBe("unreachable");
    expect(cfg.policies.has("a_policy_name_far_too_long")).toBe(false);
    expect(cfg.skipped.join("\n")).toMatch(/member 'spare_m300': metric 300/);
    expect(cfg.skipped.join("\n")).toMatch(/policy 'a_policy_name_far_too_long'/);
  });
  it("rules in order: addresses, ports, protocol, what it cannot read; without a policy, too long or mixed families skipped", () => {
    expect(cfg.rules.map((r) => r.name)).toEqual(["laptop", "voip", "streaming", "gone_policy", "default_rule_v4", "default_rule_v6"]);
    const [laptop, voip, streaming] = cfg.rules;
    expect(laptop).toMatchObject({ family: 4, proto: null, src: ["198.18.1.50/32"], dest: [], policy: "fibre_only" });
    expect(voip).toMatchObject({
      proto: 17, src: ["198.18.1.20/32", "198.18.1.21/32"], sticky: true,
      destPorts: [{ min: 5060, max: 5060 }, { min: 10000, max: 20000 }],
    });
    expect(streaming.unreadable).toEqual([{ what: "ipset 'streaming'" }]);
    expect(cfg.rules[5]).toMatchObject({ family: 6, dest: ["::/0"] });
    expect(cfg.skipped.join("\n")).toMatch(/rule 'a_rule_name_far_too_long'/);
    expect(cfg.skipped.join("\n")).toMatch(/rule 'mixed': mixes IPv4 and IPv6/);
  });
  it("the e2e test's config: two interfaces, two pinning rules before the default", () => {
    const e = ok(fixtureBytes("mwan3", "two-wan.config"));
    expect(e.rules.map((r) => [r.name, r.policy])).toEqual([["pin_dl", "wan2_only"], ["pin_udp", "wan2_only"], ["default_rule", "wan1_wan2"]]);
    expect(e.rules[1].destPorts).toEqual([{ min: 7000, max: 7099 }]);
  });
  it("the mask mwan3 started with wins over the config's", () => {
    const r = readMwan3(fixtureBytes("mwan3", "home.config"), 0xff0000);
    expect("ok" in r && r.ok.mmxMask).toBe(0xff0000);
  });
});

describe("a config natnow cannot use moves nothing: the error says why", () => {
  it.each([
    ["config rule 'x'\n\toption use_policy 'p'\n\toption dest_ip 'example.org'\n", /dest_ip 'example.org' is not an address/],
    ["config rule 'x'\n\toption use_policy 'p'\n\toption proto 'tcp'\n\toption dest_port '80-x'\n", /dest_port '80-x'/],
    ["config rule 'x'\n\toption use_policy 'p'\n\toption proto 'bogus'\n", /proto 'bogus' is unknown/],
    ["config globals 'globals'\n\toption mmx_mask 'lots'\n", /mmx_mask 'lots'/],
    ["config globals 'globals'\n\toption mmx_mask '0x3'\n", /fewer than 3 bits/],
    ["config member 'm'\n\toption interface 'a'\n\toption metric 'low'\n", /metric 'low' is not a number/],
    ["config interface 'a'\n\toption family 'ipx'\n", /family 'ipx'/],
    ["config rule 'x\n", /does not parse/],
  ])("%j", (text, why) => {
    const r = readMwan3(enc(text));
    expect("error" in r && r.error).toMatch(why);
  });
});
