/**
 * Wide filters: revoke selectors that conntrack-tools can delete with one
 * `conntrack -D` filter and no dump first.
 *
 * conntrack-tools' `-D` filter knows single addresses and ports, the
 * protocol and "destination NATed" or "source NATed" (`--dst-nat`,
 * `--src-nat`), but no negation and no list, so a selector (`src
 * 198.18.1.0/24,!198.18.1.1 ... dnat`) is rarely a filter itself. The wide
 * filter "every destination (source) NATed entry whose destination after
 * NAT, the reply source, is H:P" is, and it selects exactly the revoked
 * flows when the rulesets prove it: every dstnat (srcnat) rule of the
 * previous or the live ruleset that can send a flow to H:P is a rule this
 * plan revokes (the rule is gone, so all its flows go), and each selector
 * under the filter names nothing outside it. Then `-D` with the wide
 * filter deletes the same entries the selectors name, in one walk of the
 * table instead of a dump and a delete.
 */

import { ruleIdentity } from "../firewall/rule.ts";
import type { NatModel, NatRule } from "../firewall/types.ts";
import type { AddrMatch, PortMatch } from "../net/match.ts";
import { formatIp, parsePrefix, prefixCovers } from "../net/ip.ts";
import type { Plan } from "./plan.ts";
import { ruleMatch, Scopes, targetPrefixes } from "./scope.ts";
import type { Selector, WideFilter } from "./selector.ts";

/** A wide filter as a key. */
export function wideKey(w: WideFilter): string {
  return `${w.family}/${w.proto} ${w.nat} ${w.replySrc}:${w.replySport}`;
}

/** The wide filter a selector fits under by its own fields, or null (before the rulesets are asked). */
export function wideOf(s: Selector): WideFilter | null {
  if (s.action !== "revoke" || s.proto === null || s.keep.length || s.replied !== null) return null;
  const nat = s.dnat === true ? "dst" : s.snat === true ? "src" : null;
  if (nat === null) return null;
  if (s.replySrc.pos.length !== 1 || s.replySport.pos.length !== 1 || s.replySport.neg.length) return null;
  const p = parsePrefix(s.replySrc.pos[0]);
  const r = s.replySport.pos[0];
  if (!p || p.bits !== p.addr.length * 8 || r.min !== r.max) return null;
  return { family: s.family, proto: s.proto, nat, replySrc: formatIp(p.addr), replySport: r.min };
}

function addrHas(m: AddrMatch, host: string): boolean {
  const h = parsePrefix(host);
  if (!h) return true;
  const covers = (p: string) => {
    const x = parsePrefix(p);
    return x !== null && prefixCovers(x, h);
  };
  return (!m.pos.length || m.pos.some(covers)) && !m.neg.some(covers);
}

function portHas(m: PortMatch, port: number): boolean {
  const has = (r: { min: number; max: number }) => r.min <= port && port <= r.max;
  return (!m.pos.length || m.pos.some(has)) && !m.neg.some(has);
}

/**
 * Whether a rule can make an entry under the filter: a dstnat (srcnat)
 * rule for a "dst" ("src") filter that translates a flow whose destination
 * after NAT (the reply source) is H:P. Whatever natnow cannot bound, it
 * assumes can.
 */
export function reaches(rule: NatRule, w: WideFilter, scopes: Scopes): boolean {
  if (rule.action === "accept" || (rule.hook === "srcnat") !== (w.nat === "src")) return false;
  let matches;
  try {
    matches = ruleMatch(rule, scopes);
  } catch {
    return true;
  }
  matches = matches.filter((m) => m.family === w.family && (m.proto === null || m.proto === w.proto));
  if (!matches.length) return false;
  if (rule.hook === "srcnat") {
    // a srcnat rule keeps the destination: flows it sees going to H:P
    return matches.some((m) => addrHas(m.replySrc, w.replySrc) && portHas(m.replySport, w.replySport));
  }
  if (rule.toAddr === null) return true; // redirect: to the router's own address
  let to: string[];
  try {
    to = targetPrefixes(rule.toAddr);
  } catch {
    return true;
  }
  if (!to.some((p) => addrHas({ pos: [p], neg: [] }, `${w.replySrc}/${w.family === 4 ? 32 : 128}`))) return false;
  const port = rule.toPort;
  if (port) return port.min <= w.replySport && w.replySport <= port.max;
  // the port is kept: flows to P
  return matches.some((m) => portHas(m.origDport, w.replySport));
}

/**
 * Sets `wide` on the plan's revoke selectors whose wide filter the
 * rulesets prove exact (see the module comment); returns how many.
 */
export function widen(p: Plan, before: NatModel, after: NatModel): number {
  const revoked = new Set<string>();
  for (const c of p.changes) {
    if (c.status !== "planned") continue;
    for (const r of c.change.removed) revoked.add(ruleIdentity(r, before.zones));
  }
  const rules = (m: NatModel) => m.sections.flatMap((s) => s.rules);
  const verdict = new Map<string, boolean>();
  const exact = (w: WideFilter): boolean => {
    const k = wideKey(w);
    let v = verdict.get(k);
    if (v === undefined) {
      const [sb, sa] = [new Scopes(before), new Scopes(after)];
      v = !rules(after).some((r) => reaches(r, w, sa)) &&
        rules(before).every((r) => !reaches(r, w, sb) || revoked.has(ruleIdentity(r, before.zones)));
      verdict.set(k, v);
    }
    return v;
  };
  let n = 0;
  for (const s of p.selectors) {
    const w = wideOf(s);
    if (w && exact(w)) {
      s.wide = w;
      n++;
    }
  }
  return n;
}
