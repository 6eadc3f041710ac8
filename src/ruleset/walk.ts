/**
 * The NAT rules the kernel runs, in the order it runs them: every nat base
 * chain of a table that is not dormant, by hook and priority, following
 * `jump` and `goto` (also through verdict maps), each deciding alternative
 * of a rule with the conditions of the path that reaches it (the jump
 * rule's `iifname "eth1"` belongs to every rule of `dstnat_wan`).
 */

import { canonicalExpr, markSetters, readsMark } from "./identity.ts";
import { chainKey, type Json, NAT_HOOKS, natBaseChains, type NftChain, type NftRule, type NftRuleset, type NftSet, tableRuns } from "./nft.ts";
import { ruleTerms } from "./rule.ts";
import { anyTerms, combineTerms, type NatStatement, type RuleTerms, type Terms, withReason } from "./terms.ts";
import { orderContext } from "./order.ts";

/** One rule (alternative) that decides a flow's NAT (or exempts it), with its path's conditions. */
export interface LiveRule {
  /** Which NAT the hook does. */
  hook: "dstnat" | "srcnat";
  /** The nft hook of the base chain (prerouting, output, postrouting, input). */
  nftHook: string;
  /** The base chain the rule runs from (`family table name`). */
  base: string;
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment: string | null;
  terms: Terms;
  /** The NAT statement, or null for an exemption (`accept`, or a `return` that ends the base chain). */
  nat: NatStatement | null;
  /** The rule's expressions as nft printed them. */
  expr: readonly Json[];
  /** The expressions without running state, with the elements of the sets they name (identity.ts). */
  canon: string;
  /** The path to the rule reads a mark. */
  markGated: boolean;
  /**
   * Earlier rules of the same hook that decide some of this rule's packets
   * first (a NAT of any earlier base chain, an exemption of the same one).
   */
  earlier: LiveRule[];
  /** What identifies the rule beyond its terms (mark setters, earlier deciding rules), as text; empty: nothing. */
  context: string[];
}

/** jump/goto depth the kernel allows (NFT_JUMP_STACK_SIZE). */
const MAX_DEPTH = 16;

/** The sets of one table, for resolving `@name`. */
export function setLookup(sets: readonly NftSet[], family: string, table: string): (name: string) => NftSet | undefined {
  return (name) => sets.find((s) => s.family === family && s.table === table && s.name === name);
}

/** The table family's address family (`inet` and others: both). */
function tableFamily(family: string): 0 | 4 | 6 {
  return family === "ip" ? 4 : family === "ip6" ? 6 : 0;
}

/** Indexes a ruleset for walking. */
export class ChainIndex {
  private readonly rules = new Map<string, NftRule[]>();
  private readonly chains = new Map<string, NftChain>();
  private readonly parsed = new Map<NftRule, RuleTerms[]>();

  constructor(readonly rs: NftRuleset) {
    for (const c of rs.chains) this.chains.set(chainKey(c.family, c.table, c.name), c);
    for (const r of rs.rules) {
      const k = chainKey(r.family, r.table, r.chain);
      const list = this.rules.get(k);
      if (list) list.push(r);
      else this.rules.set(k, [r]);
    }
  }

  /** A chain's rules, in order. */
  rulesOf(family: string, table: string, chain: string): NftRule[] {
    return this.rules.get(chainKey(family, table, chain)) ?? [];
  }

  /** Whether the chain exists. */
  has(family: string, table: string, chain: string): boolean {
    return this.chains.has(chainKey(family, table, chain));
  }

  /** A rule's alternatives: terms and verdict (read once). */
  terms(r: NftRule): RuleTerms[] {
    let t = this.parsed.get(r);
    if (!t) {
      t = ruleTerms(r.expr, tableFamily(r.family), setLookup(this.rs.sets, r.family, r.table));
      this.parsed.set(r, t);
    }
    return t;
  }
}

/** The deciding rules of one base chain, in order. */
function walkBase(index: ChainIndex, base: NftChain): LiveRule[] {
  const out: LiveRule[] = [];
  const hook = NAT_HOOKS[base.hook as string];
  const baseKey = chainKey(base.family, base.table, base.name);
  const sets = setLookup(index.rs.sets, base.family, base.table);
  /** Whether a rule after `i` in the chain can decide (NAT, jump, exempt) a packet `terms` also match. */
  const laterDecides = (rules: readonly NftRule[], i: number, terms: Terms) =>
    rules.slice(i + 1).some((r) => index.terms(r).some((alt) =>
      alt.verdict.kind !== "continue" && alt.verdict.kind !== "drop" && !combineTerms(terms, alt.terms).never));
  const walk = (chain: string, path: Terms, gated: boolean, returnEnds: boolean, depth: number) => {
    const rules = index.rulesOf(base.family, base.table, chain);
    for (const [i, r] of rules.entries()) {
      const marks = gated || readsMark(r.expr);
      // once per rule: a map's alternatives share the rule's (and its sets') identity
      const canon = canonicalExpr(r.expr, sets);
      for (const alt of index.terms(r)) {
        let terms = combineTerms(path, alt.terms);
        if (terms.never) continue;
        const push = (nat: NatStatement | null, extra: string | null = null) =>
          out.push({
            hook, nftHook: base.hook as string, base: baseKey, family: r.family, table: r.table, chain: r.chain,
            handle: r.handle, comment: r.comment, terms: extra ? withReason(terms, extra) : terms, nat, expr: r.expr,
            canon, markGated: marks, earlier: [], context: [],
          });
        const v = alt.verdict;
        switch (v.kind) {
          case "nat":
            push(v.nat);
            break;
          case "accept":
            push(null);
            break;
          case "unknown":
            // a statement natnow cannot read may decide: kept as an exemption that cannot be bounded
            push(null, terms.unbounded === null ? "decides by a statement natnow cannot read" : null);
            break;
          case "return":
            // in a base chain (or reached by goto from one) return ends the chain:
            // an exemption; inside a jumped-to chain the caller's later rules
            // still run, which an exemption cannot say, unless no later rule
            // here could decide its packets (Docker's `-i docker0 -j RETURN`
            // before its `! -i docker0` DNATs): then it changes nothing
            if (!returnEnds && !laterDecides(rules, i, terms)) break;
            push(null, returnEnds ? null : "returns from a jumped-to chain");
            break;
          case "jump":
          case "goto": {
            if (!index.has(base.family, base.table, v.target)) continue;
            if (depth >= MAX_DEPTH) {
              terms = withReason(terms, "jumps deeper than the kernel allows");
              push(null);
              continue;
            }
            walk(v.target, terms, marks, v.kind === "goto" ? returnEnds : false, depth + 1);
            break;
          }
          case "drop":
          case "continue":
            break;
        }
      }
    }
  };
  walk(base.name, anyTerms(tableFamily(base.family)), false, true, 0);
  return out;
}

/** Every deciding rule of the nat chains, in the order the kernel evaluates them, with its identity context. */
export function liveRules(rs: NftRuleset): LiveRule[] {
  const index = new ChainIndex(rs);
  const rules = natBaseChains(rs).flatMap((base) => walkBase(index, base));
  const setters = markSetters(rs, (family, table) => tableRuns(rs, family, table));
  return orderContext(rules, setters);
}
