/** The conntrack mark end to end: parsed from the listing, matched, narrowing the dump, carried by every -D filter of that dump. */
import { describe, expect, it } from "vitest";
import { deleteArgs, deleteGroups, listArgs, narrowedBy } from "../../src/backend/conntrack.ts";
import { choose } from "../../src/conntrack/flow.ts";
import { parseLine, parseTable } from "../../src/conntrack/parse.ts";
import { flowSelector } from "../../src/routing/plan.ts";

const L = (sport: number, mark: number, nat = "198.19.1.2") =>
  `ipv4 2 udp 17 100 src=198.18.1.20 dst=198.19.50.1 sport=${sport} dport=5060 src=198.19.50.1 dst=${nat} sport=5060 dport=${sport} mark=${mark} use=1 id=${sport}`;

describe("conntrack marks", () => {
  it("a listing's mark= is the flow's mark (decimal, as conntrack-tools prints it); none without it", () => {
    expect(parseLine(L(1, 256)).mark).toBe(256);
    expect(parseLine(L(1, 4294967295)).mark).toBe(4294967295);
    expect(parseLine(L(1, 0).replace(" mark=0", "")).mark).toBeUndefined();
  });
  it("selectors with one mark narrow the dump with --mark, also across protocols; -D filters of that dump carry it", () => {
    const flows = parseTable([L(1, 256), L(2, 256), L(3, 512, "198.19.2.2")].join("\n")).flows;
    const udp = flowSelector(flows[0], 0x3f00, "r");
    const tcp = { ...flowSelector(flows[1], 0x3f00, "r"), proto: 6 };
    const argv = listArgs(4, [udp, tcp]);
    expect(argv.join(" ")).toMatch(/--mark 0x100\/0x3f00/);
    const view = { narrowed: { 4: narrowedBy(argv) }, unrepliedOnly: false };
    const chosen = new Set(choose(flows, [udp]).map((c) => c.flow));
    expect([...chosen]).toEqual([flows[0]]);
    const groups = deleteGroups(flows.slice(0, 2), chosen, view);
    expect(groups.map((g) => deleteArgs(g.filter).join(" "))).toEqual([
      "conntrack -D -f ipv4 -p 17 -d 198.19.50.1 --dport 5060 -r 198.19.50.1 --reply-port-src 5060 -s 198.18.1.20 --sport 1 " +
        "-q 198.19.1.2 --reply-port-dst 1 --mark 0x100/0x3f00 -w 0 -o extended,id",
    ]);
  });
  it("selectors of two marks share none: the dump is not narrowed by mark", () => {
    const flows = parseTable([L(1, 256), L(3, 512, "198.19.2.2")].join("\n")).flows;
    expect(listArgs(4, flows.map((f) => flowSelector(f, 0x3f00, "r"))).join(" ")).not.toMatch(/--mark/);
  });
});

describe("an exact -D filter keeps the selector's mark", () => {
  it("a revoke naming its old peer and a mark deletes by both", async () => {
    const { exactArgs, exactFilter } = await import("../../src/backend/exact.ts");
    const f = parseLine(L(1, 256));
    const s = { ...flowSelector(f, 0x3f00, "r"), replySrc: { pos: ["198.19.50.1/32"], neg: [] }, replySport: { pos: [{ min: 5060, max: 5060 }], neg: [] } };
    const x = exactFilter(s);
    expect("ok" in x && exactArgs(x.ok).join(" ")).toMatch(/ --mark 0x100\/0x3f00 /);
  });
});
