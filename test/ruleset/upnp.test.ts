/**
 * miniupnpd's nftables rules (libnftnl-built: `meta iif`, raw `@nh,72,8`,
 * `th dport`, `dnat ip to`, no comment) in fw4's upnp chains, as nft -j
 * 1.0.6 printed them (upnp.nft and upnp-rules.json loaded in a namespace,
 * the device of one rule deleted; the first rule's dnat port added as
 * libnftnl writes it, which nft's parser refuses after a raw match).
 */
import { describe, expect, it } from "vitest";
import { NO_FACTS } from "../../src/firewall/facts.ts";
import { topology } from "../../src/ruleset/devices.ts";
import { evaluate } from "../../src/ruleset/evaluate.ts";
import { rulesetModel } from "../../src/ruleset/model.ts";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { liveRules } from "../../src/ruleset/walk.ts";
import { fixtureText } from "../helpers/fixtures.ts";
import { describeRule } from "../../src/firewall/rule.ts";

const rs = () => parseNftJson(fixtureText("ruleset", "upnp.json"));

describe("miniupnpd's rules", () => {
  it("are read exactly: IPv4 only, protocol from @nh,72,8, the device by index; a gone device's rule matches nothing", () => {
    const m = rulesetModel(liveRules(rs()), topology(NO_FACTS, []));
    const words = m.sections.filter((s) => s.kind === "rule").flatMap((s) => s.rules.map((r) => describeRule(r)));
    expect(words).toEqual([
      "dstnat ipv4 tcp from iifname eth1 dport 8080 dnat 198.18.1.30:80",
      "dstnat ipv4 udp from iifname eth1 dport 3478 dnat 198.18.1.31",
      "srcnat ipv4 tcp to oifname eth1 src 198.18.1.30 sport 80 snat 198.19.100.2",
    ]);
  });
  it("the evaluator agrees: a WAN packet to the mapped port is forwarded, another protocol is not", () => {
    const route = (d: string) => (d === "198.19.100.2" ? "local" : d.startsWith("198.18.1.") ? "br-lan" : "eth1");
    const own = (dev: string) => (dev === "eth1" ? "198.19.100.2" : "198.18.1.1");
    const p = { family: 4 as const, proto: 6, src: "198.19.60.1", dst: "198.19.100.2", sport: 4000, dport: 8080, iif: "eth1" };
    expect(evaluate(rs(), p, route, own).dnat).toEqual({ addr: "198.18.1.30", port: { min: 80, max: 80 } });
    expect(evaluate(rs(), { ...p, proto: 17 }, route, own).dnat).toBeNull();
    expect(evaluate(rs(), { ...p, family: 6, src: "2001:db8:60::1", dst: "2001:db8:100::2" }, route, own).dnat).toBeNull();
  });
});
