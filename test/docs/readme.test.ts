/** The README's example output is what natnow prints for those commands today (refresh: node scripts/readme-examples.mjs --write). */
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without types
import { examples, masked, run } from "../../scripts/readme-examples.mjs";
import { bundle } from "../e2e/harness.ts";

interface Example {
  commands: string[];
  shown: string;
}

describe("README examples", () => {
  const all = examples() as Example[];
  it("are there: the quick start's apply and plan", () => {
    expect(all.map((e) => e.commands[0].split(/\s+/)[4])).toEqual(["apply", "plan"]);
  });
  for (const ex of all) {
    it(ex.commands[0].replace(/\s+/g, " "), () => {
      bundle();
      expect(masked(run(ex.commands) as string)).toBe(masked(ex.shown));
    });
  }
});
