import { describe, expect, it } from "vitest";
import { addRun, formatRuns, MAX_RUNS, parseRuns, type RunRecord } from "../../src/apply/state.ts";

const run = (time: number): RunRecord => ({
  time, trigger: "apply", ok: true, dryRun: false, backend: "conntrack", reason: "r", changes: ["redirect 'SIP' removed"],
  selectors: 3, result: null, durationMs: 5, errors: [],
});

describe("run records", () => {
  it("round-trip, newest first, at most MAX_RUNS", () => {
    let runs: RunRecord[] = [];
    for (let i = 0; i < MAX_RUNS + 3; i++) runs = addRun(parseRuns(formatRuns(runs)), run(i));
    expect(runs.map((r) => r.time)).toEqual(Array.from({ length: MAX_RUNS }, (_, i) => MAX_RUNS + 2 - i));
  });
  const bad: [string, string | null][] = [
    ["no file", null], ["not JSON", "{"], ["no runs", "{}"], ["runs not a list", '{"runs":1}'],
  ];
  for (const [name, text] of bad) it(`unreadable (${name}) gives no runs`, () => expect(parseRuns(text)).toEqual([]));
  it("drops malformed records, keeps good ones", () => {
    expect(parseRuns(JSON.stringify({ runs: [run(1), { time: "x" }, null] }))).toEqual([run(1)]);
  });
});
