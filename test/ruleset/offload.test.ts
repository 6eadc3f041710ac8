/**
 * fw4's ruleset with software flow offloading on (the flowtable ft and the
 * forward chain's `flow offload @ft`), as `nft -j list ruleset` printed it in
 * the kmod test VM (test/fixtures/conntrack/capture-offload.sh): the same NAT
 * model as without it.
 */
import { describe, expect, it } from "vitest";
import { diff } from "../../src/diff/diff.ts";
import { parseInterfaceDump } from "../../src/firewall/facts.ts";
import { topology } from "../../src/ruleset/devices.ts";
import { rulesetModel } from "../../src/ruleset/model.ts";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { liveRules } from "../../src/ruleset/walk.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const model = (file: string) =>
  rulesetModel(liveRules(parseNftJson(fixtureText("ruleset", file))), topology(parseInterfaceDump(fixtureText("fw4-examples", "a", "interfaces.json")), []));

describe("fw4's ruleset with flow offloading", () => {
  it("has the flowtable and the offload rule", () => {
    const doc = JSON.parse(fixtureText("ruleset", "b-offload.json")) as { nftables: Record<string, { chain?: string; expr?: unknown[] }>[] };
    expect(doc.nftables.find((x) => x.flowtable)?.flowtable).toMatchObject({ name: "ft", hook: "ingress", prio: 0, dev: ["br-lan", "eth1"] });
    const first = doc.nftables.find((x) => x.rule?.chain === "forward")?.rule;
    expect(JSON.stringify(first?.expr)).toContain('{"flow":{"op":"add","flowtable":"@ft"}}');
  });
  it("is the same NAT model as the ruleset without it", () => {
    const off = model("b-offload.json");
    expect(diff(model("b.json"), off)).toEqual([]);
    expect(off.sections.map((s) => `${s.kind} ${s.name}`).sort()).toEqual(["redirect SIP", "zone wan"]);
  });
});
