import { describe, expect, it } from "vitest";
import { computePlan } from "../../src/plan/compute.ts";
import { formatPlan } from "../../src/cli/plan.ts";
import { fixtureBytes, fixtureText } from "../helpers/fixtures.ts";
import { goldenCases } from "./golden.cases.ts";

describe("expected plans for changes to the real-world configs", () => {
  for (const c of goldenCases) {
    it(c.name, () => {
      const out = computePlan({
        config: fixtureBytes("configs", c.config, "firewall"),
        previous: c.previous ? fixtureBytes("configs", c.previous, "firewall") : null,
        fw4State: null,
        interfaces: fixtureText("fw4-examples", "a", "interfaces.json"),
        policy: null,
        boot: c.previous === null,
      });
      expect(out.ok).toBe(true);
      if (out.ok) expect(formatPlan(out.result)).toBe(fixtureText("plans", `${c.name}.txt`));
    });
  }
});
