/**
 * The NAT rules the kernel runs, in the order it runs them: every nat base
 * chain by hook and priority, following `jump` and `goto`, each deciding
 * rule with the conditions of the path that reaches it (the jump rule's
 * `iifname "eth1"` belongs to every rule of `dstnat_wan`).
 */

import { chainKey, type Json, NAT_HOOKS, natBaseChains, type NftChain, type NftRule, type NftRuleset, type NftSet } from "./nft.ts";
import { combineTerms, type NatStatement, ruleTerms, type RuleTerms, type Terms, anyTerms } from "./terms.ts";

/** One rule that decides a flow's NAT (or exempts it), with its path's conditions. */
export interface LiveRule {
  /** Which NAT the hook does. */
  hook: "dstnat" | "srcnat";
  /** The nft hook of the base chain (prerouting, output, postrouting, input). */
  nftHook: string;
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment: string | null;
  terms: Terms;
  /** The NAT statement, or null for an exemption (`accept`, or a `return` that ends the base chain). */
  nat: NatStatement | null;
  /** The rule's expressions as nft printed them (what identifies a rule natnow cannot read whole). */
  expr: readonly Json[];
}

/** jump/goto depth the kernel allows (NFT_JUMP_STACK_SIZE). */
const MAX_DEPTH = 16;

/** The sets of one table, for resolving `@name`. */
function setLookup(sets: readonly NftSet[], family: string, table: string): (name: string) => NftSet | undefined {
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
  private readonly parsed = new Map<NftRule, RuleTerms>();

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

  /** A rule's terms and verdict (read once). */
  terms(r: NftRule): RuleTerms {
    let t = this.parsed.get(r);
    if (!t) {
      t = ruleTerms(r.expr, tableFamily(r.family), setLookup(this.rs.sets, r.family, r.table));
      this.parsed.set(r, t);
    }
    return t;
  }
}

/** Every deciding rule of the nat chains, in the order the kernel evaluates them. */
export function liveRules(rs: NftRuleset): LiveRule[] {
  const index = new ChainIndex(rs);
  const out: LiveRule[] = [];
  for (const base of natBaseChains(rs)) {
    const hook = NAT_HOOKS[base.hook as string];
    const walk = (chain: string, path: Terms, returnEnds: boolean, depth: number) => {
      for (const r of index.rulesOf(base.family, base.table, chain)) {
        const rt = index.terms(r);
        let terms = combineTerms(path, rt.terms);
        if (terms.never) continue;
        const push = (nat: NatStatement | null, extra: string | null = null) =>
          out.push({
            hook, nftHook: base.hook as string, family: r.family, table: r.table, chain: r.chain, handle: r.handle,
            comment: r.comment, terms: extra && !terms.unbounded ? { ...terms, unbounded: extra } : terms, nat,
            expr: r.expr,
          });
        switch (rt.verdict.kind) {
          case "nat":
            push(rt.verdict.nat);
            break;
          case "accept":
            push(null);
            break;
          case "return":
            // in a base chain (or reached by goto from one) return ends the chain:
            // an exemption; inside a jumped-to chain the caller's later rules
            // still run, which an exemption cannot say
            push(null, returnEnds ? null : "returns from a jumped-to chain");
            break;
          case "jump":
          case "goto": {
            const target = rt.verdict.target;
            const goto = rt.verdict.kind === "goto";
            if (!index.has(base.family, base.table, target)) continue;
            if (depth >= MAX_DEPTH) {
              terms = { ...terms, unbounded: terms.unbounded ?? "jumps deeper than the kernel allows" };
              push(null);
              continue;
            }
            walk(target, terms, goto ? returnEnds : false, depth + 1);
            break;
          }
          case "drop":
          case "continue":
            break;
        }
      }
    };
    walk(base.name, anyTerms(tableFamily(base.family)), true, 0);
  }
  return out;
}
