/**
 * The planner: from NAT changes to selectors of flows to renew or revoke,
 * over the rules' scopes (scope.ts). The router's own addresses are never
 * a NATed flow's end. The contract: every change is acted on, or named as
 * unhandled with the reason. A rule natnow cannot read whole is acted on
 * through its readable part (a superset of its flows) where that is safe:
 * an added rule renews the never-replied flows it may concern (the policy's
 * `fallback`), a removed one revokes what it translated to its target,
 * keeping every flow a current rule translates the same way. Nothing wider.
 */

import { type Change, changeKey } from "../diff/diff.ts";
import type { NatModel, NatRule } from "../model/nat.ts";
import type { Policy } from "../config/policy.ts";
import { textFamily } from "../net/ip.ts";
import {
  asFlowMatch, disjoint, type Match, ports, readableMatch, ruleMatch, Scopes, targetPrefixes, tidyMatch, Unbounded,
} from "./scope.ts";
import { type Action, type FlowMatch, type Selector, selectorKey } from "./selector.ts";

/** The models before and after the change: zones and networks give the address scopes. */
export interface PlanFacts {
  before: Pick<NatModel, "zones" | "networks">;
  /** The new model; its sections' rules keep flows a removed rule natnow cannot read whole translated. */
  after: Pick<NatModel, "zones" | "networks"> & Partial<Pick<NatModel, "sections">>;
}

/** How a change was planned: selectors, excluded by the policy, nothing under the policy, or not acted on at all. */
export type PlanStatus = "planned" | "excluded" | "nothing" | "unhandled";

/** A change as planned: its selectors, or why it has none. */
export interface PlannedChange {
  change: Change;
  selectors: Selector[];
  status: PlanStatus;
  /** Why this change yields no selector, or how a fallback acted, in words (null when it has exact selectors). */
  note: string | null;
  /** What of the change natnow could not act on: the change in words and the reason (null: all of it was acted on). */
  unhandled: string | null;
}

/** The plan: selectors with the change each comes from. */
export interface Plan {
  boot: boolean;
  changes: PlannedChange[];
  /** All selectors, de-duplicated, in order. */
  selectors: Selector[];
  /** The changes (or parts) not acted on: `change: reason`, one each. */
  unhandled: string[];
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

/** Rules the new config adds, and all of its rules, with the scopes to match them in. */
interface Added {
  rules: NatRule[];
  /** Every rule of the new model (what may keep a flow a removed rule natnow cannot read whole translated). */
  all: NatRule[];
  scopes: Scopes;
}

/**
 * The match sides of rules that translate like `rule`: flows there keep
 * their NAT. An exact removed rule is kept from by the added rules; one
 * read only in part (its readable part is wider) by every current rule.
 * A keeping rule natnow cannot read whole keeps its readable part (never
 * too little), and says so.
 */
function keepFor(rule: NatRule, added: Added, of: Match, unhandled: string[]): FlowMatch[] {
  const out: FlowMatch[] = [];
  const family = of.family;
  const flows = asFlowMatch(of);
  const keep = (a: NatRule, extra: Partial<FlowMatch>) => {
    const exact = boundedMatch(a, added.scopes);
    const ms = (typeof exact === "string" ? readableMatch(a, added.scopes) : exact).filter((m) => m.family === family);
    const kept = ms.map((m) => ({ ...asFlowMatch(m), ...extra })).filter((k) => !disjoint(flows, k));
    // wider than the rule, where it meets the revoke: some flows there may be kept too long
    if (typeof exact === "string" && kept.length) unhandled.push(`flows '${a.label}' may translate alike were kept (${exact})`);
    out.push(...kept);
  };
  if (!rule.unbounded) {
    for (const a of added.rules) if (sameTranslation(rule, a)) keep(a, {});
    return out;
  }
  // the readable part may hold flows other rules translate: keep each
  // current rule's flows that carry its own translation
  for (const a of added.all) {
    // a rule that translates to another address cannot give a flow the removed rule's translation
    if (a.hook !== rule.hook || a.action !== rule.action || a.toAddr !== rule.toAddr) continue;
    const t = translation(a, added.scopes, family);
    if (t !== null) keep(a, t);
  }
  return out;
}

/** The conntrack fields a rule's translation leaves in an entry (null: not known). */
function translation(rule: NatRule, scopes: Scopes, family: 4 | 6): Partial<FlowMatch> | null {
  try {
    const to = rule.toAddr === null ? [] : ofFamily(targetPrefixes(rule.toAddr), family);
    switch (rule.action) {
      case "dnat":
        return to.length ? { dnat: true, replySrc: { pos: to, neg: [] }, replySport: ports(rule.toPort) } : null;
      case "redirect": {
        const own = ofFamily(scopes.routerAddresses(), family);
        return own.length ? { dnat: true, replySrc: { pos: own, neg: [] }, replySport: ports(rule.toPort) } : null;
      }
      case "snat":
        return to.length ? { snat: true, replyDst: { pos: to, neg: [] }, replyDport: ports(rule.toPort) } : null;
      case "masquerade": {
        const own = ofFamily(scopes.zoneAddresses(rule.zone), family);
        return own.length ? { snat: true, replyDst: { pos: own, neg: [] } } : null;
      }
      default:
        return null;
    }
  } catch (e) {
    if (e instanceof Unbounded) return null;
    throw e;
  }
}

/** Flows a removed rule translated: they keep its NAT until revoked. */
function removedSelectors(
  rule: NatRule, scopes: Scopes, reason: string, policy: Policy, added: Added, notes: string[], unhandled: string[],
): Selector[] {
  const out: Selector[] = [];
  const exact = boundedMatch(rule, scopes);
  if (typeof exact === "string") return removedReadable(rule, exact, scopes, reason, policy, added, notes, unhandled);
  for (const m of exact) {
    const keep = keepFor(rule, added, m, unhandled);
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

/**
 * A removed rule natnow cannot read whole: within its readable part, the
 * flows carrying its translation (its target address and port), except
 * those a current rule translates the same way. An untranslatable target
 * (a map, an unknown zone) is not acted on: Unbounded.
 */
function removedReadable(
  rule: NatRule, why: string, scopes: Scopes, reason: string, policy: Policy, added: Added, notes: string[], unhandled: string[],
): Selector[] {
  if (rule.action === "accept") {
    // a removed exemption natnow cannot read: flows it exempted are never-replied or
    // working untranslated; renewing the never-replied ones is the fallback
    return policy.renew && policy.fallback
      ? readableMatch(rule, scopes).map((m) => selector(m, "renew", reason, rule.hook === "dstnat" ? { dnat: false, replied: false } : { snat: false, replied: false }))
      : [];
  }
  if (!policy.revoke) return [];
  const out: Selector[] = [];
  for (const m of readableMatch(rule, scopes)) {
    const t = translation(rule, scopes, m.family);
    if (t === null) throw new Unbounded(`${why}; what it translated to is unknown`);
    out.push(selector(m, "revoke", reason, { ...t, keep: keepFor({ ...rule, unbounded: why }, added, m, unhandled) }));
  }
  if (out.length) notes.push(`revoked by its target within what natnow reads of it (${why})`);
  return out;
}

/** A rule's exact flows, or why they cannot be bounded. */
function boundedMatch(rule: NatRule, scopes: Scopes): Match[] | string {
  try {
    return ruleMatch(rule, scopes);
  } catch (e) {
    if (e instanceof Unbounded) return e.message;
    throw e;
  }
}

/** Flows an added rule should translate: renewed if never replied (and reset if established, by policy). */
function addedSelectors(rule: NatRule, scopes: Scopes, reason: string, policy: Policy, notes: string[], unhandled: string[]): Selector[] {
  const out: Selector[] = [];
  const exact = boundedMatch(rule, scopes);
  if (typeof exact === "string") {
    if (rule.action === "accept") {
      if (policy.revoke) throw new Unbounded(`${exact}; the flows it now exempts keep their NAT`);
      return out;
    }
    if (!policy.renew) return out;
    if (!policy.fallback) throw new Unbounded(`${exact} (the policy's fallback is off)`);
    for (const m of readableMatch(rule, scopes)) {
      const t = translation(rule, scopes, m.family);
      out.push(selector(m, "renew", reason, { replied: false, keep: t ? [{ ...asFlowMatch(m), ...t }] : [] }));
    }
    notes.push(`fallback: every never-replied flow it may concern is renewed (${exact})`);
    if (policy.established) unhandled.push(`established flows under it were not reset (${exact})`);
    return out;
  }
  for (const m of exact) {
    if (rule.action === "accept") {
      // an added exemption: flows it now exempts keep their NAT until revoked
      if (policy.revoke) out.push(selector(m, "revoke", reason, rule.hook === "dstnat" ? { dnat: true } : { snat: true }));
      continue;
    }
    // a flow that already carries the rule's translation (it came after the rule) has its NAT
    const t = translation(rule, scopes, m.family);
    const keep = t ? [{ ...asFlowMatch(m), ...t }] : [];
    if (policy.renew) out.push(selector(m, "renew", reason, { replied: false, keep }));
    if (policy.established) out.push(selector(m, "revoke", reason, { replied: true, keep }));
  }
  return out;
}

function planChange(
  change: Change, before: Scopes, after: Scopes, policy: Policy, boot: boolean, added: Added,
): PlannedChange {
  if (change.subject !== "zone" && policy.exclude.indexOf(change.name) >= 0) {
    return { change, selectors: [], status: "excluded", note: "excluded by policy", unhandled: null };
  }
  if (change.error) return { change, selectors: [], status: "unhandled", note: change.error, unhandled: change.error };
  const line = (why: string) => (why.startsWith(change.text) ? why : `${change.text}: ${why}`);
  const reason = boot ? `boot: ${change.text}` : change.text;
  const notes: string[] = [];
  const parts: string[] = [];
  try {
    const selectors: Selector[] = [];
    // at boot nothing is revoked or reset: only the boot race is fixed
    const p = boot ? { ...policy, established: false, revoke: false } : policy;
    for (const r of change.removed) selectors.push(...removedSelectors(r, before, reason, p, added, notes, parts));
    for (const r of change.added) selectors.push(...addedSelectors(r, after, reason, p, notes, parts));
    const note = notes.length ? [...new Set(notes)].join("; ") : null;
    const unhandled = parts.length ? line([...new Set(parts)].join("; ")) : null;
    return selectors.length
      ? { change, selectors, status: "planned", note, unhandled }
      : { change, selectors, status: "nothing", note: note ?? "no flow to reset under the policy", unhandled };
  } catch (e) {
    if (e instanceof Unbounded) return { change, selectors: [], status: "unhandled", note: e.message, unhandled: line(e.message) };
    throw e;
  }
}

/**
 * Plans the resets for a list of changes. Every selector carries the text
 * of the change it comes from; a change that cannot be bounded gets an
 * error and no selector.
 */
export function plan(changes: Change[], facts: PlanFacts, policy: Policy, boot = false, acted: ReadonlySet<string> = new Set()): Plan {
  const before = new Scopes(facts.before);
  const after = new Scopes(facts.after);
  const added: Added = { rules: changes.flatMap((c) => c.added), all: facts.after.sections?.flatMap((s) => s.rules) ?? [], scopes: after };
  const planned = changes.map((c): PlannedChange => acted.size && acted.has(changeKey(c))
    ? { change: c, selectors: [], status: "nothing", note: "acted on by an earlier run (the baseline waits for an unhandled change)", unhandled: null }
    : planChange(c, before, after, policy, boot, added));
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
  const unhandled = planned.flatMap((p) => p.unhandled ?? []);
  return { boot, changes: planned, selectors, unhandled };
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
