/** `natnow status`'s words for a run: each change with the flows it reset. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { changeCounts, formatRun } from "../../src/cli/status.ts";
import type { RunRecord } from "../../src/apply/state.ts";
import { fixturePath } from "../helpers/fixtures.ts";

describe("changeCounts", () => {
  const cases: [string, Parameters<typeof changeCounts>[0], string][] = [
    ["revokes", { change: "c", renewed: 0, revoked: 2, armed: 0 }, "revoked 2"],
    ["renews and revokes", { change: "c", renewed: 3, revoked: 1, armed: 0 }, "renewed 3, revoked 1"],
    ["kmod: armed, kills counted for the run", { change: "c", renewed: 0, revoked: null, armed: 2 }, "armed 2, revoked (counted for the run)"],
    ["nothing", { change: "c", renewed: 0, revoked: 0, armed: 0 }, "no flow"],
  ];
  for (const [name, c, text] of cases) it(name, () => expect(changeCounts(c)).toBe(text));
});

describe("formatRun", () => {
  const runs: RunRecord[] = JSON.parse(readFileSync(fixturePath("luci", "status.json"), "utf8")).runs;
  it("names each change with its counts", () => {
    expect(formatRun(runs[0]).split("\n")[1]).toBe("      redirect 'SIP' removed: revoked 2");
  });
  it("a record without per-change counts (before they were kept) names the change alone", () => {
    const old = { ...runs[0], result: { ...runs[0].result!, byChange: undefined } } as unknown as RunRecord;
    expect(formatRun(old).split("\n")[1]).toBe("      redirect 'SIP' removed");
  });
  it("a failover: per interface left, what moved where and what stayed", () => {
    const r: RunRecord = { ...runs[0], changes: [], failover: [
      { wan: "wan2", to: ["wan1"], moved: 2, kept: 1, unclear: 0, notes: ["failback udp", "kept: failback policy of 'wan1_wan2' (tcp)"] },
    ] };
    expect(formatRun(r).split("\n")[1]).toBe("      mwan3 'wan2': moved 2 to wan1, kept 1 (failback udp; kept: failback policy of 'wan1_wan2' (tcp))");
  });
});
