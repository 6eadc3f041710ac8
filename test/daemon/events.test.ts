import { describe, expect, it } from "vitest";
import { Debouncer, describeEvent, nftChange, parseListenLine, routeChange } from "../../src/daemon/events.ts";
import type { Json } from "../../src/ruleset/nft.ts";
import { listingItems, natReferences } from "../../src/ruleset/refs.ts";
import { fixtureText } from "../helpers/fixtures.ts";
import type { Host } from "../../src/host/host.ts";
import { clock } from "../helpers/clock.ts";

describe("ubus listen lines", () => {
  const cases: [string, ReturnType<typeof parseListenLine>][] = [
    ['{ "natnow.reload": {"action":"reload"} }', { type: "natnow.reload", data: { action: "reload" } }],
    ['{ "network.interface": {"action":"ifup","interface":"wan"} }', { type: "network.interface", data: { action: "ifup", interface: "wan" } }],
    ['{ "natnow.reload": {} }', { type: "natnow.reload", data: {} }],
    ["Failed to connect to ubus", null],
    ['{ "a": 1 }', null],
    ['{ "a": {}, "b": {} }', null],
    ["[]", null],
  ];
  for (const [line, want] of cases) it(line, () => expect(parseListenLine(line)).toEqual(want));
  it("names the trigger", () => {
    expect(describeEvent({ type: "natnow.reload", data: { action: "restart" } })).toBe("fw4 restart");
    expect(describeEvent({ type: "natnow.reload", data: {} })).toBe("fw4 reload");
    expect(describeEvent({ type: "network.interface", data: { action: "ifup", interface: "wan" } })).toBe("interface wan ifup");
  });
});

/** The debouncer's host: a FAKE clock the test drives. */
function clockHost() {
  const c = clock();
  return { host: c.timing as unknown as Host, advance: c.advance };
}

describe("debouncing", () => {
  const timing = { settleMs: 100, quietMs: 2000, maxMs: 10_000 };
  it("the first event after a quiet spell runs after the settle time, with what came within it", () => {
    const { host, advance } = clockHost();
    const fired: [number, string[]][] = [];
    const d = new Debouncer(host, timing, (t) => fired.push([host.now(), t]));
    d.poke("ruleset changed");
    advance(30);
    d.poke("fw4 reload");
    advance(69);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual([[100, ["ruleset changed", "fw4 reload"]]]);
  });
  it("a storm of 100 events in 1 s is two runs: at once, and when it is over", () => {
    const { host, advance } = clockHost();
    const fired: [number, number][] = [];
    const d = new Debouncer(host, timing, (t) => fired.push([host.now(), t.length]));
    for (let i = 0; i < 100; i++) {
      d.poke(i % 2 ? "fw4 reload" : "interface wan ifup");
      advance(10);
    }
    advance(5000);
    expect(fired).toEqual([[100, 2], [990 + 2000, 2]]);
  });
  it("a storm that never stops still runs every longest wait", () => {
    const { host, advance } = clockHost();
    const fired: number[] = [];
    const d = new Debouncer(host, timing, () => fired.push(host.now()));
    for (let i = 0; i < 250; i++) {
      d.poke("fw4 reload");
      advance(100);
    }
    expect(fired).toEqual([100, 10_100, 20_100]);
  });
  it("after a quiet spell the next event leads again", () => {
    const { host, advance } = clockHost();
    const fired: number[] = [];
    const d = new Debouncer(host, timing, () => fired.push(host.now()));
    d.poke("fw4 reload");
    advance(2100);
    d.poke("fw4 reload");
    advance(500);
    expect(fired).toEqual([100, 2200]);
  });
  it("an event soon after a run waits for the quiet time", () => {
    const { host, advance } = clockHost();
    const fired: number[] = [];
    const d = new Debouncer(host, timing, () => fired.push(host.now()));
    d.poke("fw4 reload");
    advance(1000);
    d.poke("fw4 reload");
    advance(3000);
    expect(fired).toEqual([100, 3000]);
  });
});

describe("which nft monitor lines wake the daemon (nft 1.0.6's own, test/fixtures/monitor/capture.sh)", () => {
  const full = listingItems(fixtureText("monitor", "ruleset.json"), "ruleset");
  const elements = new Map<string, Json[]>();
  for (const item of full) {
    const o = Object.values(item as object)[0] as { family: string; table: string; name: string; elem?: Json[] };
    if ("set" in (item as object) || "map" in (item as object)) elements.set(`${o.family} ${o.table} ${o.name}`, o.elem ?? []);
  }
  const nat = natReferences(full, elements);
  const lines = fixtureText("monitor", "nft-monitor.txt").split("\n");
  const line = (start: string) => {
    const l = lines.find((x) => x.startsWith(start));
    if (l === undefined) throw new Error(`no monitor line starts with '${start}'`);
    return l;
  };
  it.each([
    ["add element inet t bl ", true, "an element of a set a nat rule matches"],
    ["delete element inet t bl ", true, "the element deleted"],
    ["add element inet t vm ", true, "a named verdict map's element"],
    ["add element inet t inner ", true, "a set named in a chain only a verdict map's element reaches"],
    ["add element inet t dm ", true, "a map a dnat looks its address up in"],
    ["add element ip bltab bl ", false, "a blocklist table's set"],
    ["delete element ip bltab bl ", false, "its element deleted"],
    ["add element inet t unused ", false, "a set only a filter chain names"],
    ["add element inet natnow_hold ", false, "natnow's own hold"],
    ["add rule inet t pre ", true, "a rule of a nat base chain"],
    ["add rule inet t c2 ", true, "a rule of a chain a verdict map jumps to"],
    ["add rule inet fw4 input_wan ", false, "a filter rule of fw4's"],
    ["add chain inet t c9", false, "a chain nothing jumps to yet"],
    ["add rule ip nat FWD ", true, "iptables-nft: a rule of a chain its PREROUTING jumps to"],
    ["add rule ip filter INPUT ", false, "iptables-nft: a filter rule"],
    ["add table ip6 nat", false, "ip6tables-nft: its new nat table, empty yet"],
    ["add chain ip6 nat POSTROUTING ", true, "ip6tables-nft: the nat base chain it adds"],
    ["add rule ip6 nat POSTROUTING ", false, "its rule, in a chain the last run had not seen (the chain woke it)"],
    ["add chain ip other pre ", false, "a new filter base chain"],
    ["add chain ip other post ", true, "a new nat base chain"],
    ["delete table ip bltab", false, "the blocklist table deleted"],
    ["delete set inet t bl", true, "a set the nat rules name deleted"],
    ["delete table inet t", true, "a table of nat chains deleted"],
    ["# new generation", false, "the monitor's comment"],
  ])("%s: %s (%s)", (start, want) => {
    expect(nftChange(line(start), nat)).toBe(want);
  });
  it("every change counts while the daemon knows nothing of the nat paths; natnow's hold table never", () => {
    expect(nftChange(line("add element ip bltab bl "), null)).toBe(true);
    expect(nftChange(line("add element inet natnow_hold "), null)).toBe(false);
    expect(nftChange(line("# new generation"), null)).toBe(false);
  });
});

describe("which ip -o monitor route lines wake the daemon (iproute2 6.1's own, test/fixtures/kernel/capture.sh)", () => {
  const lines = ["changes", "ecmp", "wg-quick", "openvpn", "pbr"].flatMap((s) => fixtureText("kernel", s, "monitor.txt").split("\n"));
  it.each([
    ["default via 198.18.100.1 dev wan ", true],
    ["default via 198.18.101.1 dev wan2 ", true],
    ["Deleted default via 198.18.101.1 dev wan2 ", true],
    ["default \\\tnexthop via 198.18.100.1 dev wan weight 1 \\\tnexthop via 198.18.101.1 dev wan2 weight 1 ", true],
    ["Deleted default \\\tnexthop via 198.18.100.1 dev wan weight 1 \\\tnexthop via 198.18.101.1 dev wan2 weight 1 ", true],
    ["default metric 1024 pref medium\\\tnexthop via 2001:db8:100::1 dev wan weight 1 \\\tnexthop via 2001:db8:101::1 dev wan2 weight 1 ", true],
    ["default dev wg0 table 51820 scope link ", true],
    ["default via 198.18.101.1 dev wan2 table 100 ", true],
    ["0.0.0.0/1 via 198.18.60.1 dev tun0 ", true],
    ["8000::/1 via 2001:db8:60::1 dev tun0 metric 1024 pref medium", true],
    ["Deleted default via 2001:db8:100::1 dev wan metric 1024 pref medium", true],
    ["198.18.20.0/24 via 198.18.100.1 dev wan ", false],
    ["unreachable default table 8 ", false],
    ["unreachable default table 200 ", false],
    ["blackhole 198.18.66.0/24 ", false],
    ["Deleted 2001:db8:100::/64 dev wan proto kernel metric 256 pref medium", false],
    ["local 198.18.50.2 dev wg0 table local proto kernel scope host src 198.18.50.2 ", false],
  ])("%s", (l, want) => {
    expect(lines).toContain(l);
    expect(routeChange(l)).toBe(want);
  });
});
