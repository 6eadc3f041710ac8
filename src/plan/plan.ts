/**
 * The planner: from NAT changes to selectors of flows to renew or revoke,
 * over the rules' scopes (scope.ts). The router's own addresses are never
 * a NATed flow's end. Anything that cannot be bounded gives an error and
 * no selector, never a wider one.
 */

import type { Change } from "../diff/diff.ts";
import type { NatModel, NatRule } from "../model/nat.ts";
import type { Policy } from "../config/policy.ts";
import { textFamily } from "../net/ip.ts";
import {
  asFlowMatch, disjoint, type Match, ports, ruleMatch, Scopes, targetPrefixes, tidyMatch, Unbounded,
} from "./scope.ts";
import { type Action, type FlowMatch, type Selector, selectorKey } from "./selector.ts";

/** The models before and after the change: zones and networks give the address scopes. */
export interface PlanFacts {
  before: Pick<NatModel, "zones" | "networks">;
  after: Pick<NatModel, "zones" | "networks">;
}

/** How a change was planned: selectors, excluded by the policy, nothing under the policy, or an error. */
export type PlanStatus = "planned" | "excluded" | "nothing" | "error";

/** A change as planned: its selectors, or why it has none. */
export interface PlannedChange {
  change: Change;
  selectors: Selector[];
  status: PlanStatus;
  /** Why this change yields no selector, in words (null when it has selectors). */
  note: string | null;
}

/** The plan: selectors with the change each comes from. */
export interface Plan {
  boot: boolean;
  changes: PlannedChange[];
  /** All selectors, de-duplicated, in order. */
  selectors: Selector[];
  errors: string[];
}

function selector(
  m: Match, action: Action, reason: string, extra: Partial<Selector>,
): Selector {
  return { ...asFlowMatch(m), action, reason, keep: [], ...extra };
}

/** Keeps only the prefixes of one family; a required list that empties means "no selector". */
function ofFamily(list: string[], fam: 4 | 6): string[] {
  return list.filter((x) => textFamily(x) === fam);
}

/** Whether two rules translate a flow the same way (same kind, target and, where it matters, zone). */
function sameTranslation(a: NatRule, b: NatRule): boolean {
  return a.action === b.action && a.hook === b.hook && a.toAddr === b.toAddr &&
    JSON.stringify(a.toPort) === JSON.stringify(b.toPort) &&
    (a.toAddr !== null || a.zone === b.zone);
}

/** Rules the new config adds, with the scopes to match them in. */
interface Added {
  rules: NatRule[];
  scopes: Scopes;
}

/** The match sides of added rules that translate like `rule`: flows there keep their NAT. */
function keepFor(rule: NatRule, added: Added, family: 4 | 6): FlowMatch[] {
  const out: FlowMatch[] = [];
  for (const a of added.rules) {
    if (!sameTranslation(rule, a)) continue;
    try {
      for (const m of ruleMatch(a, added.scopes)) if (m.family === family) out.push(asFlowMatch(m));
    } catch (e) {
      // an added rule that cannot be bounded keeps nothing: its own change reports it
      if (!(e instanceof Unbounded)) throw e;
    }
  }
  return out;
}

/** Flows a removed rule translated: they keep its NAT until revoked. */
function removedSelectors(rule: NatRule, scopes: Scopes, reason: string, policy: Policy, added: Added): Selector[] {
  const out: Selector[] = [];
  for (const m of ruleMatch(rule, scopes)) {
    const keep = keepFor(rule, added, m.family);
    const to = rule.toAddr === null ? [] : ofFamily(targetPrefixes(rule.toAddr), m.family);
    switch (rule.action) {
      case "dnat":
        if (policy.revoke && to.length) {
          out.push(selector(m, "revoke", reason, {
            dnat: true, replySrc: { pos: to, neg: [] }, replySport: ports(rule.toPort), keep,
          }));
        }
        break;
      case "redirect":
        if (policy.revoke) {
          out.push(selector(m, "revoke", reason, { dnat: true, replySport: ports(rule.toPort), keep }));
        }
        break;
      case "snat":
        if (policy.revoke && to.length) {
          out.push(selector(m, "revoke", reason, {
            snat: true, replyDst: { pos: to, neg: [] }, replyDport: ports(rule.toPort), keep,
          }));
        }
        break;
      case "masquerade": {
        if (!policy.revoke) break;
        const own = ofFamily(scopes.zoneAddresses(rule.zone), m.family);
        if (own.length) out.push(selector(m, "revoke", reason, { snat: true, replyDst: { pos: own, neg: [] }, keep }));
        break;
      }
      case "accept":
        // a removed exemption: matching flows were left untranslated
        if (policy.renew) {
          out.push(selector(m, "renew", reason, rule.hook === "dstnat" ? { dnat: false, replied: false } : { snat: false, replied: false }));
        }
        break;
    }
  }
  return out;
}

/** Flows an added rule should translate: renewed if never replied (and reset if established, by policy). */
function addedSelectors(rule: NatRule, scopes: Scopes, reason: string, policy: Policy): Selector[] {
  const out: Selector[] = [];
  for (const m of ruleMatch(rule, scopes)) {
    if (rule.action === "accept") {
      // an added exemption: flows it now exempts keep their NAT until revoked
      if (policy.revoke) out.push(selector(m, "revoke", reason, rule.hook === "dstnat" ? { dnat: true } : { snat: true }));
      continue;
    }
    if (policy.renew) out.push(selector(m, "renew", reason, { replied: false }));
    if (policy.established) out.push(selector(m, "revoke", reason, { replied: true }));
  }
  return out;
}

function planChange(
  change: Change, before: Scopes, after: Scopes, policy: Policy, boot: boolean, added: Added,
): PlannedChange {
  if (change.subject !== "zone" && policy.exclude.indexOf(change.name) >= 0) {
    return { change, selectors: [], status: "excluded", note: "excluded by policy" };
  }
  if (change.error) return { change, selectors: [], status: "error", note: change.error };
  const reason = boot ? `boot: ${change.text}` : change.text;
  try {
    const selectors: Selector[] = [];
    for (const r of change.removed) selectors.push(...removedSelectors(r, before, reason, policy, added));
    // at boot nothing is revoked or reset: only the boot race is fixed
    const p = boot ? { ...policy, established: false, revoke: false } : policy;
    for (const r of change.added) selectors.push(...addedSelectors(r, after, reason, p));
    return selectors.length
      ? { change, selectors, status: "planned", note: null }
      : { change, selectors, status: "nothing", note: "no flow to reset under the policy" };
  } catch (e) {
    if (e instanceof Unbounded) return { change, selectors: [], status: "error", note: `${change.text}: ${e.message}` };
    throw e;
  }
}

/**
 * Plans the resets for a list of changes. Every selector carries the text
 * of the change it comes from; a change that cannot be bounded gets an
 * error and no selector.
 */
export function plan(changes: Change[], facts: PlanFacts, policy: Policy, boot = false): Plan {
  const before = new Scopes(facts.before);
  const after = new Scopes(facts.after);
  const added: Added = { rules: changes.flatMap((c) => c.added), scopes: after };
  const planned = changes.map((c) => planChange(c, before, after, policy, boot, added));
  for (const p of planned) {
    p.selectors = p.selectors.flatMap((s0) => {
      const s = tidyMatch(s0);
      if (!s) return [];
      s.keep = s.keep.flatMap((k) => tidyMatch(k) ?? []).filter((k) => !disjoint(s, k));
      return [s];
    });
    if (p.status === "planned" && !p.selectors.length) {
      p.status = "nothing";
      p.note = "no flow to reset under the policy";
    }
  }
  const seen = new Set<string>();
  const selectors: Selector[] = [];
  for (const p of planned) {
    for (const s of p.selectors) {
      const k = selectorKey(s);
      if (seen.has(k)) continue;
      seen.add(k);
      selectors.push(s);
    }
  }
  const errors = planned.filter((p) => p.status === "error").map((p) => p.note as string);
  return { boot, changes: planned, selectors, errors };
}

/** The changes of a first run: every current NAT section, as if just added. */
export function bootChanges(model: NatModel): Change[] {
  return model.sections.map((s) => ({
    kind: "added" as const,
    subject: s.kind,
    name: s.name,
    text: s.kind === "zone" ? `zone '${s.name}' masquerading` : `${s.kind} '${s.name}'`,
    removed: [],
    added: s.rules,
    error: null,
  }));
}
