/**
 * First match wins: which earlier rules decide some of a NAT rule's packets
 * before it can. nf_nat_inet_fn runs a hook's nat base chains in priority
 * order and stops at the first that sets a binding; an `accept` (or a
 * `return` ending the base chain) ends only its own base chain, after which
 * the next base chain runs. So a rule's outcome depends on the earlier NAT
 * rules of the hook and on the earlier exemptions of its own base chain that
 * overlap it: those, and the mark setters for a mark-gated rule, become its
 * context, so that a reorder, a priority change or a new shadowing rule is a
 * change of every rule whose behaviour changed.
 */

import { combineTerms, overlaps, withReason } from "./terms.ts";
import type { LiveRule } from "./walk.ts";

/**
 * Whether `e`, earlier than `r` in the same hook, decides some of r's
 * packets first, and otherwise than r would (the same NAT statement, or
 * two exemptions, decide alike whichever comes first).
 */
function decidesFirst(e: LiveRule, r: LiveRule): boolean {
  if (e.nftHook !== r.nftHook) return false;
  if (e.nat === null && e.base !== r.base) return false;
  if (JSON.stringify(e.nat) === JSON.stringify(r.nat)) return false;
  return overlaps(e.terms, r.terms);
}

/** An earlier deciding rule as text for a later rule's identity: what it takes of the rule's packets, and how. */
function earlierText(e: LiveRule, r: LiveRule): string {
  const taken = combineTerms(e.terms, { ...r.terms, unbounded: null });
  return JSON.stringify([e.base, e.nat, taken, e.terms.unbounded !== null ? e.canon : null]);
}

/** The later base chains' NAT rules an exemption cannot stop (it ends only its own base chain). */
function laterTranslators(rules: readonly LiveRule[], i: number): string[] {
  const x = rules[i];
  const out = new Set<string>();
  for (const l of rules.slice(i + 1)) {
    if (l.nat !== null && l.nftHook === x.nftHook && l.base !== x.base && overlaps(l.terms, x.terms)) out.add(l.base);
  }
  return [...out];
}

/** The rules with `earlier` and `context` filled in, and exemptions a later base chain undoes made unbounded. */
export function orderContext(rules: readonly LiveRule[], markSetters: readonly string[]): LiveRule[] {
  const out: LiveRule[] = [];
  rules.forEach((r0, i) => {
    let r = r0;
    if (r.nat === null) {
      const later = laterTranslators(rules, i);
      if (later.length) r = { ...r, terms: withReason(r.terms, `ends only its base chain: ${later.join(", ")} can still translate its flows`) };
    }
    const earlier = out.filter((e) => decidesFirst(e, r));
    const context = [
      ...(r.markGated ? markSetters.map((m) => `mark set by ${m}`) : []),
      ...earlier.map((e) => `after ${earlierText(e, r)}`),
    ];
    out.push({ ...r, earlier, context });
  });
  return out;
}
