/**
 * Where mwan3 would send a flow now, and whether its entry still leaves
 * that way. mwan3 decides once per connection: its mangle hook restores
 * the conntrack mark, and only an unmarked packet walks `mwan3_rules`
 * (first match wins: a rule's policy marks it with the interface of its
 * online member of lowest metric, weighted among equals) before the mark
 * is saved back. So an entry stays on the interface it was first given,
 * whatever happens to that interface. Here the rules are evaluated for the
 * entry's original tuple as they stand now, as mwan3 would for a new
 * flow, and compared with the interface the entry's mark names, never by
 * the mark alone: a flow a rule pins to an interface stays with it.
 *
 * Only outbound translated flows are judged (source NAT, no destination
 * NAT, not from or to the router's own addresses): their NAT binding is
 * what pins them; a flow without source NAT keeps its source address
 * wherever it goes, and one that came in through a WAN belongs to it.
 */

import type { Flow } from "../conntrack/flow.ts";
import { addrMatches, portMatches } from "../conntrack/flow.ts";
import { formatIp } from "../net/ip.ts";
import { type Mwan3Config, type Mwan3Interface, type Mwan3Rule, mask2id } from "./mwan3.ts";
import type { IfaceState } from "./status.ts";

/** Why a flow should leave by another interface. */
export type MoveReason =
  /** its interface is offline for the policies (failover) */
  | "offline"
  /** a member of lower metric is online again (failback) */
  | "preferred"
  /** its interface is no member of the policy that now takes the flow */
  | "rerouted"
  /** its mark and its source NAT address name different interfaces */
  | "snat";

/** What to do with one flow. */
export type Verdict =
  | { kind: "none"; why: string }
  | { kind: "keep"; iface: string; why: string }
  | { kind: "move"; iface: string; to: string[]; reason: MoveReason; policy: string; rule: string }
  | { kind: "unclear"; iface: string; why: string };

/** What the evaluation knows of the router besides mwan3. */
export interface RouterView {
  /** The router's addresses on each mwan3 interface's device (netifd's names). */
  ifaceAddrs: ReadonlyMap<string, readonly string[]>;
  /** Every address of the router. */
  own: ReadonlySet<string>;
}

/** The interface a mark names under the config's mask, or null (no mark, default, unreachable, blackhole, unknown id). */
export function markIface(cfg: Mwan3Config, mark: number | undefined): Mwan3Interface | null {
  if (mark === undefined) return null;
  const id = mask2id(mark & cfg.mmxMask, cfg.mmxMask);
  return cfg.interfaces.find((i) => i.id === id) ?? null;
}

/** Whether a rule's readable terms match the flow. */
function ruleMatches(r: Mwan3Rule, f: Flow): boolean {
  if (r.family !== null && r.family !== f.family) return false;
  if (r.proto !== null && r.proto !== f.proto) return false;
  const addrs = (list: string[]) => ({ pos: list, neg: [] });
  if (r.src.length && !addrMatches(addrs(r.src), f.orig.src)) return false;
  if (r.dest.length && !addrMatches(addrs(r.dest), f.orig.dst)) return false;
  if (r.srcPorts.length && !portMatches({ pos: r.srcPorts, neg: [] }, f.orig.sport)) return false;
  return !(r.destPorts.length && !portMatches({ pos: r.destPorts, neg: [] }, f.orig.dport));
}

/** The rules that may take the flow, in order: each with unreadable terms, then the first that surely does (or none). */
export function candidateRules(cfg: Mwan3Config, f: Flow): { rules: Mwan3Rule[]; sure: boolean } {
  const out: Mwan3Rule[] = [];
  for (const r of cfg.rules) {
    // a policy mwan3 never set is an empty chain: the packet returns unmarked and the next rule is tried
    const special = r.policy === "default" || r.policy === "unreachable" || r.policy === "blackhole";
    if (!special && !cfg.policies.has(r.policy)) continue;
    if (!ruleMatches(r, f)) continue;
    out.push(r);
    if (!r.unreadable.length) return { rules: out, sure: true };
  }
  return { rules: out, sure: false };
}

/** The interfaces a policy hands a new flow of a family now: its online members of lowest metric. */
export function chosenIfaces(cfg: Mwan3Config, policy: string, family: 4 | 6, states: ReadonlyMap<string, IfaceState>): string[] {
  const p = cfg.policies.get(policy);
  if (!p) return [];
  const usable = p.members.filter((m) => {
    const i = cfg.interfaces.find((x) => x.name === m.iface);
    return i !== undefined && i.enabled && i.family === family && states.get(i.name)?.online === true;
  });
  if (!usable.length) return [];
  const lowest = Math.min(...usable.map((m) => m.metric));
  return [...new Set(usable.filter((m) => m.metric === lowest).map((m) => m.iface))];
}

/** What one deciding rule says of a flow on interface `iface`. */
function judge(
  cfg: Mwan3Config, rule: Mwan3Rule | null, f: Flow, iface: Mwan3Interface, states: ReadonlyMap<string, IfaceState>, view: RouterView,
): Verdict {
  if (rule === null) return { kind: "unclear", iface: iface.name, why: "no mwan3 rule takes it now (it would leave unmarked)" };
  if (!cfg.policies.has(rule.policy)) {
    return { kind: "unclear", iface: iface.name, why: `rule '${rule.name}' now sends it to '${rule.policy}', not to an interface` };
  }
  const to = chosenIfaces(cfg, rule.policy, f.family, states);
  // never when no other path is up: the policy's last resort is no interface to move to
  if (!to.length) return { kind: "keep", iface: iface.name, why: `policy '${rule.policy}' has no online member` };
  const base = { iface: iface.name, to, policy: rule.policy, rule: rule.name };
  if (to.indexOf(iface.name) >= 0) {
    const natAddr = formatIp(f.reply.dst);
    const other = [...view.ifaceAddrs].find(([n, addrs]) => n !== iface.name && addrs.indexOf(natAddr) >= 0);
    if (f.snat && other) return { kind: "move", ...base, reason: "snat" };
    return { kind: "keep", iface: iface.name, why: `policy '${rule.policy}' still uses it` };
  }
  if (states.get(iface.name)?.online !== true) return { kind: "move", ...base, reason: "offline" };
  const member = cfg.policies.get(rule.policy)?.members.some((m) => m.iface === iface.name) === true;
  return { kind: "move", ...base, reason: member ? "preferred" : "rerouted" };
}

/** The verdict for one flow. */
export function evaluateFlow(cfg: Mwan3Config, f: Flow, states: ReadonlyMap<string, IfaceState>, view: RouterView): Verdict {
  const iface = markIface(cfg, f.mark);
  if (iface === null) return { kind: "none", why: "its mark names no mwan3 interface" };
  if (!f.snat || f.dnat) return { kind: "none", why: "not an outbound translated flow" };
  if (view.own.has(formatIp(f.orig.src)) || view.own.has(formatIp(f.orig.dst))) return { kind: "none", why: "the router's own flow" };
  const { rules, sure } = candidateRules(cfg, f);
  const options = sure ? rules : [...rules, null];
  const verdicts = options.map((r) => judge(cfg, r, f, iface, states, view));
  const first = verdicts[0];
  if (verdicts.length === 1) return first;
  // a rule natnow cannot read whole may or may not take the flow: act only where every reading agrees
  const same = verdicts.every((v) => v.kind === first.kind &&
    (v.kind !== "move" || (first.kind === "move" && v.to.join() === first.to.join() && v.reason === first.reason)));
  if (same) return first;
  const why = rules.flatMap((r) => r.unreadable.map((u) => `rule '${r.name}' ${u.what}`)).join(", ");
  return { kind: "unclear", iface: iface.name, why: `depends on ${why}, which natnow cannot read` };
}
