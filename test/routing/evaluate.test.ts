/** Per-flow evaluation of mwan3's rules (table-driven, on the home router's config): move, keep, unclear or none, and why. */
import { describe, expect, it } from "vitest";
import { parseLine } from "../../src/conntrack/parse.ts";
import { candidateRules, chosenIfaces, evaluateFlow, markIface, type RouterView } from "../../src/routing/evaluate.ts";
import { type Mwan3Config, readMwan3 } from "../../src/routing/mwan3.ts";
import type { IfaceState } from "../../src/routing/status.ts";
import { fixtureBytes } from "../helpers/fixtures.ts";

const read = readMwan3(fixtureBytes("mwan3", "home.config"));
if ("error" in read) throw new Error(read.error);
const cfg: Mwan3Config = read.ok;

/** fibre 198.19.1.2 (eth1, id 1, mark 0x100), lte 198.19.2.2 (id 2, 0x200). */
const VIEW: RouterView = {
  ifaceAddrs: new Map([["fibre", ["198.19.1.2"]], ["lte", ["198.19.2.2"]], ["lan", ["198.18.1.1"]]]),
  own: new Set(["198.19.1.2", "198.19.2.2", "198.18.1.1"]),
};
const S = (fibre: boolean, lte: boolean): Map<string, IfaceState> =>
  new Map([["fibre", { online: fibre, onlineFor: fibre ? 60 : null }], ["lte", { online: lte, onlineFor: lte ? 60 : null }]]);

/** A masqueraded LAN flow: `proto src:sport dst:dport` leaving by `wan` (its SNAT address) with `mark`. */
function flow(proto: "udp" | "tcp", src: string, sport: number, dst: string, dport: number, nat: string, mark: number) {
  const n = proto === "udp" ? 17 : 6;
  return parseLine(`ipv4 2 ${proto} ${n} 100 src=${src} dst=${dst} sport=${sport} dport=${dport} src=${dst} dst=${nat} ` +
    `sport=${dport} dport=${sport} mark=${mark} use=1 id=7`);
}

describe("markIface: the conntrack mark under the mask names an interface", () => {
  it.each([[0x100, "fibre"], [0x200, "lte"], [0x10200, "lte"], [0x400, "spare"], [0, null], [0x3f00, null], [0x3e00, null], [0x3d00, null]])(
    "mark %s → %s", (mark, name) => expect(markIface(cfg, mark)?.name ?? null).toBe(name),
  );
});

describe("evaluateFlow", () => {
  it.each([
    // failover: the fibre is offline, lte is the policy's online member
    ["phone on the fibre, fibre down", flow("udp", "198.18.1.30", 5060, "198.19.50.1", 5060, "198.19.1.2", 0x100), S(false, true),
      { kind: "move", reason: "offline", to: ["lte"], policy: "fibre_lte", rule: "default_rule_v4" }],
    ["a TCP download on the fibre, fibre down", flow("tcp", "198.18.1.31", 40000, "198.19.50.3", 443, "198.19.1.2", 0x100), S(false, true),
      { kind: "move", reason: "offline" }],
    // the laptop's rule pins it to the fibre: its policy has no other member online, so it stays
    ["the laptop, pinned to the fibre, fibre down", flow("tcp", "198.18.1.50", 40000, "198.19.50.3", 443, "198.19.1.2", 0x100), S(false, true),
      { kind: "keep", why: "policy 'fibre_only' has no online member" }],
    // never when no other path is up
    ["phone on the fibre, both down", flow("udp", "198.18.1.30", 5060, "198.19.50.1", 5060, "198.19.1.2", 0x100), S(false, false),
      { kind: "keep", why: "policy 'fibre_lte' has no online member" }],
    // failback: the fibre is back and preferred
    ["phone on lte, both up", flow("udp", "198.18.1.30", 5060, "198.19.50.1", 5060, "198.19.2.2", 0x200), S(true, true),
      { kind: "move", reason: "preferred", to: ["fibre"] }],
    // a balanced policy: either member is a choice mwan3 could make
    ["VoIP on lte under 'balanced', both up", flow("udp", "198.18.1.20", 5060, "198.19.50.1", 5060, "198.19.2.2", 0x200), S(true, true),
      { kind: "keep", why: "policy 'balanced' still uses it" }],
    ["VoIP on the fibre under 'balanced', fibre down", flow("udp", "198.18.1.21", 12000, "198.19.50.1", 12000, "198.19.1.2", 0x100), S(false, true),
      { kind: "move", reason: "offline", to: ["lte"], rule: "voip" }],
    // VoIP off its ports is not the voip rule's: the default rule takes it
    ["VoIP host off the voip ports, on lte, both up", flow("udp", "198.18.1.20", 5060, "198.19.50.1", 9999, "198.19.2.2", 0x200), S(true, true),
      { kind: "move", reason: "preferred", rule: "default_rule_v4" }],
    // mark and NAT address disagree: the binding is stale
    ["marked fibre, masqueraded to lte's address, both up", flow("udp", "198.18.1.30", 5060, "198.19.50.1", 5060, "198.19.2.2", 0x100), S(true, true),
      { kind: "move", reason: "snat", to: ["fibre"] }],
    // on its preferred interface: nothing to do
    ["phone on the fibre, both up", flow("udp", "198.18.1.30", 5060, "198.19.50.1", 5060, "198.19.1.2", 0x100), S(true, true),
      { kind: "keep", why: "policy 'fibre_lte' still uses it" }],
  ])("%s", (_what, f, states, want) => {
    expect(evaluateFlow(cfg, f, states, VIEW)).toMatchObject(want);
  });

  it.each([
    ["unmarked", parseLine("ipv4 2 udp 17 100 src=198.18.1.30 dst=198.19.50.1 sport=1 dport=2 src=198.19.50.1 dst=198.19.1.2 sport=2 dport=1 mark=0 use=1"),
      "its mark names no mwan3 interface"],
    ["not translated", parseLine("ipv4 2 udp 17 100 src=198.18.1.30 dst=198.19.50.1 sport=1 dport=2 src=198.19.50.1 dst=198.18.1.30 sport=2 dport=1 mark=256 use=1"),
      "not an outbound translated flow"],
    ["a port forward in through the fibre", parseLine("ipv4 2 tcp 6 100 ESTABLISHED src=198.19.50.7 dst=198.19.1.2 sport=3 dport=443 src=198.18.1.40 dst=198.19.50.7 sport=443 dport=3 [ASSURED] mark=256 use=1"),
      "not an outbound translated flow"],
  ])("%s: none", (_what, f, why) => {
    expect(evaluateFlow(cfg, f, S(false, true), VIEW)).toEqual({ kind: "none", why });
  });

  it("a rule natnow cannot read (ipset) decides nothing it cannot know: unclear where the readings differ", () => {
    // the streaming rule (ipset, lte_only) may take any flow: on the fibre, fibre down, both readings move it to lte
    const onFibre = flow("tcp", "198.18.1.60", 40000, "198.19.50.8", 443, "198.19.1.2", 0x100);
    expect(evaluateFlow(cfg, onFibre, S(false, true), VIEW)).toMatchObject({ kind: "move", to: ["lte"] });
    // on lte, both up: lte_only keeps it, the default rule would move it back: unclear, left alone
    const onLte = flow("tcp", "198.18.1.60", 40000, "198.19.50.8", 443, "198.19.2.2", 0x200);
    expect(evaluateFlow(cfg, onLte, S(true, true), VIEW)).toMatchObject({ kind: "unclear", why: /rule 'streaming' ipset 'streaming'/ });
  });

  it("a rule whose policy mwan3 never set falls through to the next rule, as its empty chain does", () => {
    const f = flow("udp", "198.18.1.30", 1, "198.19.99.5", 2, "198.19.1.2", 0x100);
    expect(candidateRules(cfg, f).rules.map((r) => r.name)).toEqual(["default_rule_v4"]);
  });

  it("chosenIfaces: the online members of lowest metric, of the flow's family", () => {
    expect(chosenIfaces(cfg, "fibre_lte", 4, S(true, true))).toEqual(["fibre"]);
    expect(chosenIfaces(cfg, "fibre_lte", 4, S(false, true))).toEqual(["lte"]);
    expect(chosenIfaces(cfg, "balanced", 4, S(true, true))).toEqual(["fibre", "lte"]);
    expect(chosenIfaces(cfg, "fibre_lte", 6, S(true, true))).toEqual([]); // fibre6 has no state: offline
    expect(chosenIfaces(cfg, "nothing", 4, S(true, true))).toEqual([]);
  });
});
