/**
 * iptables-nft rules joined with iptables-nft-save, on real output of both
 * (test/fixtures/xtables/capture.sh): each translated rule is what nft
 * prints for its native twin; a table where the two disagree keeps its xt
 * with an error naming it; iptables-legacy NAT gives a warning.
 */
import { describe, expect, it } from "vitest";
import { isObject, type Json, natSubset, type NftRule, type NftRuleset, parseNftJson } from "../../src/ruleset/nft.ts";
import { legacyWarnings, resolveXtables, type XtablesText } from "../../src/ruleset/xtables.ts";
import { liveRules } from "../../src/ruleset/walk.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const nft = (name: string): NftRuleset => parseNftJson(fixtureText("xtables", `${name}.nft.json`));
const saves = (name: string): XtablesText => ({
  ip: fixtureText("xtables", `${name}.ip.save`), ip6: fixtureText("xtables", `${name}.ip6.save`), legacy: null,
});
const chainRules = (rs: NftRuleset, family: string, table: string, chain: string): NftRule[] =>
  rs.rules.filter((r) => r.family === family && r.table === table && r.chain === chain);
const hasXt = (r: NftRule) => r.expr.some((e) => isObject(e) && "xt" in e);
/** A rule's expressions without counters, and without `meta l4proto` (nft leaves it out before a `tcp dport` it implies). */
const essence = (expr: readonly Json[]) => expr.filter((e) => !(isObject(e) && ("counter" in e ||
  (isObject(e.match) && isObject(e.match.left) && isObject(e.match.left.meta) && e.match.left.meta.key === "l4proto"))));

describe("every xt rule becomes what nft prints for its native twin", () => {
  const rs = nft("many");
  const out = resolveXtables(rs, saves("many"));
  it("without errors", () => expect([out.errors, out.warnings]).toEqual([[], []]));
  const twins: [string, string][] = [["ip", "PREROUTING"], ["ip", "T"], ["ip", "POSTROUTING"], ["ip6", "PREROUTING"], ["ip6", "POSTROUTING"]];
  for (const [family, chain] of twins) {
    const native = chainRules(rs, family, "native", chain);
    native.forEach((twin, i) => {
      it(`${family} nat ${chain} rule ${i + 1}`, () => {
        const before = chainRules(rs, family, "nat", chain)[i];
        const after = chainRules(out.ruleset, family, "nat", chain)[i];
        expect(after.handle).toBe(before.handle);
        expect(essence(after.expr)).toEqual(essence(twin.expr));
      });
    });
  }
  it("the twins cover every xt rule of those chains", () => {
    const xt = twins.flatMap(([f, c]) => chainRules(rs, f, "nat", c)).filter(hasXt).length;
    expect(xt).toBe(25);
    expect(twins.flatMap(([f, c]) => chainRules(out.ruleset, f, "nat", c)).filter(hasXt)).toEqual([]);
  });
  const comments: [string, number, string | null][] = [
    ["T", 2, 'a "quoted" comment, it\'s \\ here'],
    ["U", 3, "tab\tand $dollar `bt`"],
    ["U", 4, "simple"],
    ["T", 0, null],
  ];
  for (const [chain, i, want] of comments) {
    it(`comment of ip nat ${chain} rule ${i + 1}`, () => expect(chainRules(out.ruleset, "ip", "nat", chain)[i].comment).toBe(want));
  }
  const kept: [number, string][] = [[0, "statistic"], [1, "multiport"], [2, "NETMAP"]];
  for (const [i, name] of kept) {
    it(`what natnow cannot say natively stays xt: ${name}`, () => {
      expect(JSON.stringify(chainRules(out.ruleset, "ip", "nat", "U")[i].expr)).toContain(`"xt":{"type":"${i === 2 ? "target" : "match"}","name":"${name}"}`);
    });
  }
  it("-m state is conntrack's xt", () => {
    expect(chainRules(out.ruleset, "ip", "nat", "U")[4].expr).toEqual([
      { match: { op: "in", left: { ct: { key: "state" } }, right: "new" } }, { counter: { packets: 0, bytes: 0 } }, { accept: null },
    ]);
  });
});

describe("Docker's layout, read by the chain walk", () => {
  it("gives the published port's DNAT (from prerouting and output) and the bridge's masquerade, in both families", () => {
    const out = resolveXtables(nft("docker"), saves("docker"));
    expect(out.errors).toEqual([]);
    const rules = liveRules(natSubset(out.ruleset));
    const nat = rules.filter((r) => r.nat).map((r) => `${r.family} ${r.nftHook} ${r.chain} ${JSON.stringify(r.nat)}`).sort();
    const dnat = (f: string, a: string, hook: string) =>
      `${f} ${hook} DOCKER {"action":"dnat","family":${f === "ip" ? 4 : 6},"toAddr":"${a}","toPort":{"min":5060,"max":5060}}`;
    const masq = (f: string) => `${f} postrouting POSTROUTING {"action":"masquerade","family":0,"toAddr":null,"toPort":null}`;
    expect(nat).toEqual([
      dnat("ip", "198.18.200.2", "output"), dnat("ip", "198.18.200.2", "prerouting"), masq("ip"),
      dnat("ip6", "2001:db8:200::2", "output"), dnat("ip6", "2001:db8:200::2", "prerouting"), masq("ip6"),
    ].sort());
    for (const r of rules) expect(r.terms.unbounded ?? "").not.toMatch(/xtables/);
  });
  it("unresolved, the same rules have no NAT natnow can read, and say why", () => {
    const rules = liveRules(natSubset(nft("docker")));
    expect(rules.filter((r) => r.nat)).toEqual([]);
    const dnat = rules.find((r) => r.chain === "DOCKER" && r.family === "ip" && r.terms.iif.neg.length);
    expect(dnat?.terms.unbounded).toMatch(/xtables/);
  });
});

describe("a table where nft and the save output disagree keeps its xt, with an error naming it", () => {
  const ip = fixtureText("xtables", "docker.ip.save");
  const dnatLine = "-A DOCKER ! -i docker0 -p udp -m udp --dport 5060 -j DNAT --to-destination 198.18.200.2:5060\n";
  const cases: [string, string | null, string][] = [
    ["the save output was not read", null, "ip nat: iptables-nft-save was not read; its xtables extensions (DNAT, addrtype, MASQUERADE) stay unread"],
    ["a rule fewer", ip.replace(dnatLine, ""), "ip nat DOCKER: nft and iptables-nft-save disagree: nft has 2 rules, iptables-nft-save 1"],
    ["another interface match", ip.replace("! -i docker0 -p udp", "-i docker0 -p udp"),
      "ip nat DOCKER rule 2: nft and iptables-nft-save disagree: nft shows [!i docker0, p 17], iptables-nft-save [i docker0, p 17]"],
    ["another protocol", ip.replace("-p udp -m udp", "-p tcp -m tcp"), "ip nat DOCKER rule 2: nft and iptables-nft-save disagree: nft shows [!i docker0, p 17], iptables-nft-save [!i docker0, p 6]"],
    ["another address", ip.replace("-s 198.18.200.0/24", "-s 198.18.201.0/24"), "ip nat POSTROUTING rule 1: nft and iptables-nft-save disagree"],
    ["the rules of a chain swapped", ip.replace("-A DOCKER -i docker0 -j RETURN\n" + dnatLine, dnatLine + "-A DOCKER -i docker0 -j RETURN\n"),
      "ip nat DOCKER rule 1: nft and iptables-nft-save disagree"],
    ["another target", ip.replace("-j DNAT --to-destination", "-j SNAT --to-source"),
      "ip nat DOCKER rule 2: nft and iptables-nft-save disagree: nft shows the target DNAT, iptables-nft-save SNAT"],
    ["another jump", ip.replace("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER", "-A PREROUTING -m addrtype --dst-type LOCAL -j RETURN"),
      "ip nat PREROUTING rule 1: nft and iptables-nft-save disagree: nft shows -j DOCKER, iptables-nft-save -j RETURN"],
    ["a match nft has as xt missing", ip.replace("-A PREROUTING -m addrtype --dst-type LOCAL", "-A PREROUTING"),
      "ip nat PREROUTING rule 1: nft and iptables-nft-save disagree: nft shows the xt match addrtype, iptables-nft-save no -m addrtype for it"],
    ["a chain missing", ip.replace(":DOCKER - [0:0]\n", ":OTHER - [0:0]\n").replace(/-A DOCKER .*\n/g, "").replace(/-j DOCKER/g, "-j OTHER"),
      "ip nat: nft and iptables-nft-save disagree: the chains differ (only in nft: DOCKER; only in iptables-nft-save: OTHER)"],
    ["no nat table printed", ip.replace("*nat", "*filter"), "ip nat: iptables-nft-save did not print the table"],
    ["text that is not save output", "iptables-nft-save v1.8.9 (nf_tables): Parsing nftables rule failed\n",
      "ip nat: iptables-nft-save printed what natnow cannot read (line 1: outside a table)"],
    ["the table incompatible", fixtureText("xtables", "incompatible.ip.save"),
      "ip nat: iptables-nft-save says the table is incompatible (a rule has an expression iptables cannot show); its xtables extensions"],
  ];
  for (const [name, text, want] of cases) {
    it(name, () => {
      const rs = nft("docker");
      const out = resolveXtables(rs, { ...saves("docker"), ip: text });
      expect(out.errors).toHaveLength(1);
      expect(out.errors[0]).toContain(want);
      // ip nat as nft printed it; ip6 nat resolved all the same
      expect(out.ruleset.rules.filter((r) => r.family === "ip")).toEqual(rs.rules.filter((r) => r.family === "ip"));
      expect(out.ruleset.rules.filter((r) => r.family === "ip6").some(hasXt)).toBe(false);
    });
  }
  it("the real incompatible ruleset", () => {
    const out = resolveXtables(nft("incompatible"), saves("incompatible"));
    expect(out.errors).toEqual(["ip nat: iptables-nft-save says the table is incompatible (a rule has an expression iptables cannot show); its xtables extensions (DNAT, addrtype, MASQUERADE) stay unread"]);
  });
  it("a table without nat chains is not natnow's concern: its xt stays, without an error", () => {
    const rs = nft("docker");
    const filter: NftRuleset = {
      ...rs,
      chains: [...rs.chains, { family: "ip", table: "filter", name: "FORWARD", type: "filter", hook: "forward", prio: 0 }],
      rules: [...rs.rules, { family: "ip", table: "filter", chain: "FORWARD", handle: 99, comment: null, expr: [{ xt: { type: "match", name: "conntrack" } }] }],
    };
    const out = resolveXtables(filter, saves("docker"));
    expect(out.errors).toEqual([]);
    expect(out.ruleset.rules.at(-1)).toEqual(filter.rules.at(-1));
  });
  it("a ruleset without xt needs no save output", () => {
    const rs = nft("many");
    const native = { ...rs, rules: rs.rules.filter((r) => r.table === "native") };
    expect(resolveXtables(native, { ip: null, ip6: null, legacy: null })).toEqual({ ruleset: native, errors: [], warnings: [] });
  });
});

describe("NAT in iptables-legacy", () => {
  const cases: [string, string, string[]][] = [
    ["rules: a warning", "legacy.save", [
      "NAT rules in iptables-legacy are invisible to nft: ip nat has 2 rules (PREROUTING); natnow cannot see them, and the kernel runs them besides nft's",
    ]],
    ["empty tables: nothing", "legacy-empty.save", []],
  ];
  for (const [name, file, want] of cases) {
    it(name, () => {
      expect(legacyWarnings(fixtureText("xtables", file))).toEqual(want);
      expect(resolveXtables(nft("docker"), { ...saves("docker"), legacy: fixtureText("xtables", file) }).warnings).toEqual(want);
    });
  }
  it("an ip6 table is named so", () => {
    const v6 = fixtureText("xtables", "legacy.save").replace(/iptables-save/g, "ip6tables-save").split("# Generated by ip6tables-save")[1];
    expect(legacyWarnings(`# Generated by ip6tables-save${v6}`)).toEqual([expect.stringContaining("ip6 nat has 2 rules")]);
  });
});
