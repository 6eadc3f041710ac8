/** Test helpers: plans from fixture configs with the shared fw4 example facts. */
import { computePlan } from "../../src/plan/compute.ts";
import type { PlanResult } from "../../src/plan/input.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { fixtureText } from "./fixtures.ts";

/** A config fixture's text: `fw4:b` (shared example) or `NN-name` (test/fixtures/configs). */
export function configText(name: string): string {
  return name.startsWith("fw4:")
    ? fixtureText("fw4-examples", name.slice(4), "firewall")
    : fixtureText("configs", name, "firewall");
}

/** Plans old → new with the example router's facts (interface dump of example a). */
export function planOf(
  before: string | null, after: string, opts: { policy?: string; boot?: boolean; facts?: "dump" | "state" | "none" } = {},
): PlanResult {
  const facts = opts.facts ?? "dump";
  const out = computePlan({
    config: utf8Encode(after),
    previous: before === null ? null : utf8Encode(before),
    fw4State: facts === "state" ? fixtureText("fw4-examples", "a", "fw4.state") : null,
    interfaces: facts === "dump" ? fixtureText("fw4-examples", "a", "interfaces.json") : null,
    policy: opts.policy === undefined ? null : utf8Encode(opts.policy),
    boot: opts.boot ?? false,
  });
  if (!out.ok) throw new Error(out.error);
  return out.result;
}
