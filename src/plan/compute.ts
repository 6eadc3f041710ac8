/**
 * The whole pure pipeline of `natnow plan`: config bytes and facts in,
 * a plan out. Any invalid input gives an error and no plan at all.
 */

import { diff, type Change } from "../diff/diff.ts";
import { buildModel } from "../firewall/model.ts";
import type { NatModel } from "../model/nat.ts";
import { bootChanges, plan } from "./plan.ts";
import { InputError, parseConfig, type PlanOutcome, planPolicy, readFacts } from "./input.ts";


/** The inputs of a plan, as the files' contents. */
export interface PlanInput {
  /** The new `/etc/config/firewall` (or `uci export firewall` output). */
  config: Uint8Array;
  /** The previous one; null on a first run. */
  previous: Uint8Array | null;
  /** `/var/run/fw4.state`. */
  fw4State: string | null;
  /** `ubus call network.interface dump`. */
  interfaces: string | null;
  /** `/etc/config/natnow`. */
  policy: Uint8Array | null;
  /** First run: renew never-replied flows under every current rule. */
  boot: boolean;
}

/** Runs parse → model → diff → plan. Invalid input: `{ ok: false }`, and no selector. */
export function computePlan(input: PlanInput): PlanOutcome {
  try {
    if (!input.boot && input.previous === null) {
      throw new InputError("nothing to compare: give the previous config, or plan a first run (boot)");
    }
    const facts = readFacts(input);
    const cfg = parseConfig(input.config, "config", "firewall");
    const prev = input.previous ? parseConfig(input.previous, "previous config", "firewall") : null;
    const pol = planPolicy(input.policy);
    // a file without any zone is not a router's firewall config: taking it
    // as "every NAT rule removed" would be the widest reset of all
    for (const [pkg, what] of [[cfg, "config"], [prev, "previous config"]] as const) {
      if (pkg && !pkg.sections.some((s) => s.type === "zone")) {
        throw new InputError(`${what}: has no 'zone' section; refusing to plan from it`);
      }
    }
    const model = buildModel(cfg, facts);
    let changes: Change[];
    let before: NatModel;
    if (prev) {
      before = buildModel(prev, facts);
      changes = diff(before, model);
    } else {
      before = { zones: [], networks: [], sections: [], skipped: [], warnings: [] };
      changes = [];
    }
    // a first run renews under every current rule, whatever else changed
    if (input.boot) changes = bootChanges(model);
    const p = plan(changes, { before, after: model }, pol.policy, input.boot);
    return {
      ok: true,
      result: {
        plan: p,
        changes,
        policy: pol.policy,
        fw4Warnings: model.warnings,
        policyWarnings: pol.warnings,
        model,
      },
    };
  } catch (e) {
    if (e instanceof InputError) return { ok: false, error: e.message };
    throw e;
  }
}
