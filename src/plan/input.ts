/**
 * What both pipelines read and answer: the runtime facts (fw4.state, the
 * interface dump), a UCI config, the policy, and a plan's outcome. The live
 * pipeline (live.ts) and the UCI preview (compute.ts) share these; any
 * input they refuse is an InputError, and nothing is reset then.
 */

import type { Change } from "../diff/diff.ts";
import { type Facts, FactsError, mergeFacts, NO_FACTS, parseFw4State, parseInterfaceDump } from "../firewall/facts.ts";
import type { NatModel } from "../model/nat.ts";
import { parseUci } from "../uci/parse.ts";
import { UciParseError } from "../uci/types.ts";
import type { Plan } from "./plan.ts";
import { type Policy, type PolicyResult, readPolicy } from "../config/policy.ts";

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
export function readFacts(input: { fw4State: string | null; interfaces: string | null }): Facts {
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

