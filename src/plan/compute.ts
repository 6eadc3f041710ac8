/**
 * The whole pure pipeline of `natnow plan`: config bytes and facts in,
 * a plan out. Any invalid input gives an error and no plan at all.
 */

import { diff, type Change } from "../diff/diff.ts";
import {
  type Facts, FactsError, mergeFacts, NO_FACTS, parseFw4State, parseInterfaceDump,
} from "../firewall/facts.ts";
import { buildModel } from "../firewall/model.ts";
import type { NatModel } from "../model/nat.ts";
import { parseUci } from "../uci/parse.ts";
import { UciParseError } from "../uci/types.ts";
import { bootChanges, type Plan, plan } from "./plan.ts";
import { type Policy, type PolicyResult, readPolicy } from "../config/policy.ts";

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

/** A computed plan with everything that explains it. */
export interface PlanResult {
  plan: Plan;
  changes: Change[];
  policy: Policy;
  /** fw4's warnings about the new config. */
  fw4Warnings: string[];
  policyWarnings: string[];
  model: NatModel;
}

/** The result of computing a plan: the plan, or why the input is invalid. */
export type PlanOutcome = { ok: true; result: PlanResult } | { ok: false; error: string };

/** Parses a UCI file; a parse error is invalid input with libuci's message. */
export function parseConfig(bytes: Uint8Array, what: string, pkgName: string) {
  try {
    return parseUci(bytes, pkgName);
  } catch (e) {
    if (e instanceof UciParseError) throw new InputError(`${what}: ${e.message}`);
    throw e;
  }
}

/** Input natnow refuses to plan from (nothing is reset then). */
export class InputError extends Error {}

/** The policy a plan follows; a policy file that does not parse is input natnow refuses. */
export function planPolicy(bytes: Uint8Array | null): PolicyResult {
  const read = readPolicy(bytes);
  if (read.error !== null) throw new InputError(`policy: ${read.error}`);
  return read;
}

/** The runtime facts from fw4.state and the interface dump (the dump wins). */
export function readFacts(input: Pick<PlanInput, "fw4State" | "interfaces">): Facts {
  try {
    const st = input.fw4State !== null ? parseFw4State(input.fw4State) : null;
    const ub = input.interfaces !== null ? parseInterfaceDump(input.interfaces) : null;
    if (st && ub) return mergeFacts(st, ub);
    return ub ?? st ?? NO_FACTS;
  } catch (e) {
    if (e instanceof FactsError) throw new InputError(e.message);
    throw e;
  }
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
