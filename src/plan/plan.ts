/**
 * The planner: from NAT changes to selectors of flows to renew or revoke.
 *
 * conntrack keeps addresses and ports, not interfaces, so a rule's zone
 * becomes an address scope: an internal zone (known subnets, no
 * masquerading, no default route) is its subnets; an upstream zone is "none
 * of the subnets of the router's other networks". srcnat rules see the
 * destination after DNAT, which conntrack keeps as the reply source. The
 * router's own addresses are never a NATed flow's end. Anything that cannot
 * be bounded this way gives an error and no selector, never a wider one.
 */

import type { Change } from "../diff/diff.ts";
import type { AddrMatch, NatModel, NatRule, NetworkModel, PortMatch, ZoneModel } from "../firewall/types.ts";
import { formatPrefix, parseIp, parsePrefix, type Prefix, prefixCovers, rangeToPrefixes } from "../net/ip.ts";
import type { Policy } from "./policy.ts";
import {
  type Action, ANY_ADDR, ANY_PORT, type FlowMatch, PORT_PROTOS, protoNumber, type Selector, selectorKey,
} from "./selector.ts";

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

class Unbounded extends Error {}

function familyOf(p: string): 4 | 6 {
  return p.indexOf(":") >= 0 ? 6 : 4;
}

/** A NAT target (an address, or an `A-B` range) as prefixes. */
function targetPrefixes(to: string): string[] {
  const dash = to.indexOf("-");
  if (dash < 0) return [hostOf(to)];
  const lo = parseIp(to.slice(0, dash));
  const hi = parseIp(to.slice(dash + 1));
  if (!lo || !hi || lo.length !== hi.length) throw new Unbounded(`'${to}' is not an address range`);
  return rangeToPrefixes(lo, hi).map(formatPrefix);
}

function only(m: AddrMatch, fam: 4 | 6): AddrMatch {
  return { pos: m.pos.filter((p) => familyOf(p) === fam), neg: m.neg.filter((p) => familyOf(p) === fam) };
}

function uniq(list: string[]): string[] {
  return [...new Set(list)];
}

/** Address scopes of zones, for one side of a change. */
class Scopes {
  private readonly zones: ZoneModel[];
  private readonly networks: NetworkModel[];

  constructor(m: Pick<NatModel, "zones" | "networks">) {
    this.zones = m.zones;
    this.networks = m.networks;
  }

  private zone(name: string): ZoneModel {
    const z = this.zones.find((x) => x.name === name);
    if (!z) throw new Unbounded(`zone '${name}' is unknown`);
    return z;
  }

  private known(z: ZoneModel): void {
    if (z.unresolved.length) {
      throw new Unbounded(
        `zone '${z.name}': network ${z.unresolved.map((n) => `'${n}'`).join(", ")} unknown to the runtime facts`,
      );
    }
    if (!z.subnets.length && z.devices.length && !z.upstream) {
      throw new Unbounded(`zone '${z.name}' is matched by device only; its addresses are unknown`);
    }
  }

  /** All of the router's own addresses, on every network it has. */
  routerAddresses(): string[] {
    return uniq([...this.networks.flatMap((n) => n.addresses), ...this.zones.flatMap((z) => z.addresses)]);
  }

  /** The router's addresses in one zone (where masquerading maps to). */
  zoneAddresses(name: string | null): string[] {
    if (name === null) return this.routerAddresses();
    const z = this.zone(name);
    this.known(z);
    if (!z.addresses.length) throw new Unbounded(`zone '${name}' has no known address`);
    return z.addresses;
  }

  /**
   * Where traffic of a zone comes from (dstnat) or goes to (srcnat), as
   * addresses; null when the zone matches no traffic at all.
   */
  scope(name: string | null): AddrMatch | null {
    const router = this.routerAddresses();
    if (name === null) return { pos: [], neg: router };
    const z = this.zone(name);
    if (z.empty) return null;
    this.known(z);
    if (!z.upstream && z.subnets.length) return { pos: z.subnets, neg: router };
    // upstream: anything but what the router reaches on its other networks
    const others = this.zones.filter((o) => o.name !== name);
    for (const o of others) this.known(o);
    const mine = new Set(z.networks);
    const elsewhere = [
      ...this.networks.filter((n) => !mine.has(n.name)).flatMap((n) => n.subnets),
      ...others.flatMap((o) => o.subnets),
    ];
    return { pos: [], neg: uniq([...elsewhere.filter((p) => z.subnets.indexOf(p) < 0), ...router]) };
  }
}

function prefixOf(p: string): Prefix {
  const x = parsePrefix(p);
  if (!x) throw new Unbounded(`'${p}' is not a prefix`);
  return x;
}

/** Drops prefixes another one in the list covers. */
function compact(list: string[]): string[] {
  const ps = uniq(list).map((p) => [p, prefixOf(p)] as const);
  return ps.filter(([p, x]) => !ps.some(([q, y]) => q !== p && prefixCovers(y, x))).map(([p]) => p);
}

/**
 * The same address set written plainly: no prefix inside another, no
 * negation outside the positive list; null when the set is empty (which
 * must never be read as "any").
 */
function tidy(m: AddrMatch): AddrMatch | null {
  const neg = compact(m.neg).map((p) => [p, prefixOf(p)] as const);
  if (!m.pos.length) return { pos: [], neg: neg.map(([p]) => p) };
  const pos = compact(m.pos).filter((p) => !neg.some(([, n]) => prefixCovers(n, prefixOf(p))));
  if (!pos.length) return null;
  const inside = neg.filter(([, n]) => pos.some((p) => prefixCovers(prefixOf(p), n)));
  return { pos, neg: inside.map(([p]) => p) };
}

/** Whether two address sets surely share no address (both list prefixes, none overlapping). */
function disjointAddrs(a: AddrMatch, b: AddrMatch): boolean {
  if (!a.pos.length || !b.pos.length) return false;
  return !a.pos.some((p) => b.pos.some((q) => prefixCovers(prefixOf(p), prefixOf(q)) || prefixCovers(prefixOf(q), prefixOf(p))));
}

/** Whether two matches surely select no common flow. */
function disjoint(a: FlowMatch, b: FlowMatch): boolean {
  return (a.proto !== null && b.proto !== null && a.proto !== b.proto) ||
    disjointAddrs(a.origSrc, b.origSrc) || disjointAddrs(a.origDst, b.origDst) ||
    disjointAddrs(a.replySrc, b.replySrc) || disjointAddrs(a.replyDst, b.replyDst);
}

/** A FlowMatch with tidy address sets, or null when it matches nothing. */
function tidyMatch<T extends FlowMatch>(m: T): T | null {
  const origSrc = tidy(m.origSrc);
  const origDst = tidy(m.origDst);
  const replySrc = tidy(m.replySrc);
  const replyDst = tidy(m.replyDst);
  if (!origSrc || !origDst || !replySrc || !replyDst) return null;
  return { ...m, origSrc, origDst, replySrc, replyDst };
}

function merge(rule: AddrMatch, scope: AddrMatch): AddrMatch {
  // explicit addresses in the rule are what fw4 matches; the zone scope
  // then only removes addresses that cannot be the zone's
  return rule.pos.length
    ? { pos: rule.pos, neg: uniq([...rule.neg, ...scope.neg]) }
    : { pos: scope.pos, neg: uniq([...rule.neg, ...scope.neg]) };
}

function hostOf(addr: string): string {
  const p = parsePrefix(addr);
  if (!p) throw new Unbounded(`'${addr}' is not an address`);
  return `${addr}/${p.bits}`;
}

function ports(r: { min: number; max: number } | null): PortMatch {
  return r ? { pos: [r], neg: [] } : ANY_PORT;
}

/** A rule's match side: the FlowMatch fields a rule decides by (`dnat`: a srcnat rule's `ct status dnat`). */
type Match = Pick<FlowMatch, "family" | "proto" | "origSrc" | "origDst" | "origSport" | "origDport" | "replySrc" | "replySport" | "dnat">;

/** A rule's match side as a FlowMatch. */
function asFlowMatch(m: Match): FlowMatch {
  return { ...m, replyDst: ANY_ADDR, replyDport: ANY_PORT, snat: null, replied: null };
}

/** The flows a rule applies to, per family; [] when it applies to none. */
function ruleMatch(rule: NatRule, scopes: Scopes): Match[] {
  if (rule.unbounded) throw new Unbounded(`${rule.label}: ${rule.unbounded}`);
  let proto: number | null = null;
  if (rule.proto !== null) {
    proto = protoNumber(rule.proto);
    if (proto === null) throw new Unbounded(`${rule.label}: protocol '${rule.proto}' is unknown to natnow`);
  }
  const hasPorts = proto !== null && PORT_PROTOS.indexOf(proto) >= 0;
  const scope = scopes.scope(rule.zone);
  if (scope === null) return [];
  // in prerouting no flow is DNATed yet: `ct status dnat` matches none there
  if (rule.hook === "dstnat" && rule.dnatStatus === true) return [];
  const out: Match[] = [];
  for (const family of rule.family === 0 ? [4, 6] as const : [rule.family]) {
    const base = {
      family,
      proto,
      origSport: hasPorts ? rule.sport : ANY_PORT,
      dnat: rule.hook === "srcnat" ? rule.dnatStatus ?? null : null,
    };
    if (rule.hook === "dstnat") {
      out.push({
        ...base,
        origSrc: only(merge(rule.src, scope), family),
        origDst: only(rule.dst, family),
        origDport: hasPorts ? rule.dport : ANY_PORT,
        replySrc: ANY_ADDR,
        replySport: ANY_PORT,
      });
    } else {
      // srcnat sees the destination after DNAT: conntrack's reply source
      const router = scopes.routerAddresses();
      out.push({
        ...base,
        origSrc: only({ pos: rule.src.pos, neg: uniq([...rule.src.neg, ...router]) }, family),
        origDst: ANY_ADDR,
        origDport: ANY_PORT,
        replySrc: only(merge(rule.dst, scope), family),
        replySport: hasPorts ? rule.dport : ANY_PORT,
      });
    }
  }
  return out;
}

function selector(
  m: Match, action: Action, reason: string, extra: Partial<Selector>,
): Selector {
  return { ...asFlowMatch(m), action, reason, keep: [], ...extra };
}

/** Keeps only the prefixes of one family; a required list that empties means "no selector". */
function ofFamily(list: string[], fam: 4 | 6): string[] {
  return list.filter((x) => familyOf(x) === fam);
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
