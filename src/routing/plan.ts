/**
 * Routing changes → revoke selectors. Each flow gets its verdict
 * (evaluate.ts); a flow whose interface is offline moves (failover: it is
 * dead where it is), one that a preferred member could carry again moves
 * only as the failback policy says (per mwan3 policy and protocol, once
 * that member has been online long enough), one a rule now sends elsewhere
 * moves. A selector names one flow by its original tuple and its mwan3
 * mark, so a flow that changed interface meanwhile is not touched; the
 * flows are counted per interface they leave.
 */

import type { Flow } from "../conntrack/flow.ts";
import { formatIp } from "../net/ip.ts";
import { protoName } from "../net/proto.ts";
import { ANY_ADDR, ANY_PORT, type Selector } from "../plan/selector.ts";
import { evaluateFlow, type RouterView, type Verdict } from "./evaluate.ts";
import type { Mwan3Config } from "./mwan3.ts";
import type { IfaceState } from "./status.ts";

/** Which flows fail back: IP protocol numbers (null: all), per mwan3 policy, and how long the preferred member must be online first. */
export interface FailbackPolicy {
  /** The protocols that move back at once, for policies not named in `perPolicy`; null = all, [] = none. */
  protocols: number[] | null;
  perPolicy: ReadonlyMap<string, number[] | null>;
  /** Seconds the preferred member must have been online (mwan3track's count; unknown counts as long enough). */
  delay: number;
}

/** What a failover or failback did to the flows leaving by one interface. */
export interface FailoverEntry {
  /** The mwan3 interface the flows left by. */
  wan: string;
  /** Where the policies send them now. */
  to: string[];
  /** Flows revoked (planned; the run's record counts what the backend did). */
  moved: number;
  /** Flows on it that a routing change concerns but stay: the failback policy, no other path, a pinning rule. */
  kept: number;
  /** Flows natnow cannot judge (a rule's ipset or input device), left alone. */
  unclear: number;
  /** Why, in words: `offline`, `failback udp`, `kept: failback policy (tcp)`. */
  notes: string[];
}

/** The routing plan: selectors, and the flows per interface. */
export interface RoutingPlan {
  selectors: Selector[];
  entries: FailoverEntry[];
  /** The reasons natnow could not judge a flow, once each. */
  unclear: string[];
}

/** The reason words of a move, as the selector's reason (`mwan3 'wan1' offline: to wan2`). */
function moveReason(v: Extract<Verdict, { kind: "move" }>): string {
  const what = { offline: "offline", preferred: "failback", rerouted: "rerouted", snat: "source NAT of another interface" }[v.reason];
  return `mwan3 '${v.iface}' ${what}: to ${v.to.join(", ")}`;
}

/** The selector naming exactly one flow: its original tuple and its mark under the mask. */
export function flowSelector(f: Flow, mmxMask: number, reason: string): Selector {
  const host = (a: readonly number[]) => ({ pos: [`${formatIp(a)}/${a.length * 8}`], neg: [] });
  const port = (p: number | null) => (p === null ? ANY_PORT : { pos: [{ min: p, max: p }], neg: [] });
  return {
    family: f.family, proto: f.proto,
    origSrc: host(f.orig.src), origDst: host(f.orig.dst), origSport: port(f.orig.sport), origDport: port(f.orig.dport),
    replySrc: ANY_ADDR, replyDst: ANY_ADDR, replySport: ANY_PORT, replyDport: ANY_PORT,
    dnat: null, snat: null, replied: null,
    mark: { value: ((f.mark ?? 0) & mmxMask) >>> 0, mask: mmxMask >>> 0 },
    action: "revoke", reason, keep: [],
  };
}

/** Whether the failback policy moves a flow of this protocol under this mwan3 policy back now. */
export function failsBack(fb: FailbackPolicy, policy: string, proto: number, target: IfaceState[]): boolean {
  const protos = fb.perPolicy.has(policy) ? fb.perPolicy.get(policy) ?? null : fb.protocols;
  if (protos !== null && protos.indexOf(proto) < 0) return false;
  return target.some((t) => t.onlineFor === null || t.onlineFor >= fb.delay);
}

/** Plans the routing part of a run over the table's flows. */
export function planRouting(
  cfg: Mwan3Config, flows: readonly Flow[], states: ReadonlyMap<string, IfaceState>, view: RouterView, fb: FailbackPolicy,
): RoutingPlan {
  const entries = new Map<string, FailoverEntry>();
  const entry = (wan: string): FailoverEntry => {
    let e = entries.get(wan);
    if (!e) entries.set(wan, e = { wan, to: [], moved: 0, kept: 0, unclear: 0, notes: [] });
    return e;
  };
  const note = (e: FailoverEntry, n: string) => {
    if (e.notes.indexOf(n) < 0) e.notes.push(n);
  };
  const selectors: Selector[] = [];
  const unclear: string[] = [];
  for (const f of flows) {
    const v = evaluateFlow(cfg, f, states, view);
    if (v.kind === "none") continue;
    if (v.kind === "unclear") {
      const e = entry(v.iface);
      e.unclear++;
      if (unclear.indexOf(v.why) < 0) unclear.push(v.why);
      continue;
    }
    if (v.kind === "keep") {
      // a flow its policy still sends this way is no concern of a routing change
      if (/still uses it$/.test(v.why)) continue;
      const e = entry(v.iface);
      e.kept++;
      note(e, `kept: ${v.why}`);
      continue;
    }
    const e = entry(v.iface);
    if (v.reason === "preferred" && !failsBack(fb, v.policy, f.proto, v.to.map((t) => states.get(t) ?? { online: true, onlineFor: null }))) {
      e.kept++;
      note(e, `kept: failback policy of '${v.policy}' (${protoName(f.proto)})`);
      continue;
    }
    e.moved++;
    for (const t of v.to) if (e.to.indexOf(t) < 0) e.to.push(t);
    note(e, v.reason === "preferred" ? `failback ${protoName(f.proto)}` : v.reason);
    selectors.push(flowSelector(f, cfg.mmxMask, moveReason(v)));
  }
  return { selectors, entries: [...entries.values()], unclear };
}
