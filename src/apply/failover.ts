/**
 * The routing part of a run: mwan3's config and states and the table's
 * flows → the routing plan (routing/plan.ts) → the conntrack backend. The
 * kernel module's selectors carry no conntrack mark (docs/kmod-protocol.md),
 * so the flows move through conntrack-tools even where natnow.ko is loaded,
 * and the run says so. A config that cannot be used moves nothing and is
 * named unhandled.
 */

import type { Host } from "../host/host.ts";
import { applyConntrack } from "../backend/conntrack.ts";
import type { BackendResult } from "../backend/result.ts";
import type { Policy } from "../config/policy.ts";
import { type Facts, parseInterfaceDump } from "../firewall/facts.ts";
import { parseKernelView } from "../ruleset/devices.ts";
import { formatIp } from "../net/ip.ts";
import { readMwan3 } from "../routing/mwan3.ts";
import { type FailbackPolicy, type FailoverEntry, planRouting } from "../routing/plan.ts";
import { readMwan3Status } from "../routing/status.ts";
import type { RouterView } from "../routing/evaluate.ts";
import type { RoutingInput } from "./routesnap.ts";

/** How long (ms) a moved flow's old peer is held off its old NAT address (the revoke race). */
const HOLD_MS = 2000;

/** What the routing part did. */
export interface FailoverOutcome {
  /** Per interface left: moved (what the backend revoked), kept, unclear. Empty when no flow was concerned. */
  entries: FailoverEntry[];
  result: BackendResult | null;
  /** Why nothing could be judged (the config, the states, the table), each once: the run names these unhandled. */
  unhandled: string[];
  warnings: string[];
  errors: string[];
  lines: string[];
}

/** What the routing part needs of the rest of the snapshot. */
export interface FailoverContext {
  /** `ubus call network.interface dump` (netifd's names and devices), or null. */
  interfaces: string | null;
  /** `ip -j addr` and the route listings, or null. */
  kernel: { addr: string; routes: string[] } | null;
  /** Whether the run's backend would be natnow.ko. */
  kmod: boolean;
  dryRun: boolean;
}

/** The router's addresses per netifd interface (its device's, and the dump's own). */
export function routerView(ctx: Pick<FailoverContext, "interfaces" | "kernel">): RouterView {
  let facts: Facts = { networks: {}, zones: [], source: "none" };
  try {
    if (ctx.interfaces !== null) facts = parseInterfaceDump(ctx.interfaces);
  } catch { /* no names: the source NAT cross-check is skipped */ }
  let devices: { name: string; addresses: string[] }[] = [];
  try {
    if (ctx.kernel !== null) devices = parseKernelView(ctx.kernel.addr, ctx.kernel.routes);
  } catch { /* no kernel view */ }
  const bare = (p: string) => p.replace(/\/(32|128)$/, "");
  const own = new Set(devices.flatMap((d) => d.addresses.map(bare)));
  const ifaceAddrs = new Map<string, string[]>();
  for (const [name, n] of Object.entries(facts.networks)) {
    const dev = devices.find((d) => d.name === n.device);
    const addrs = [...(dev?.addresses.map(bare) ?? []), ...n.addrs.map((a) => formatIp(a.addr))];
    for (const a of addrs) own.add(a);
    ifaceAddrs.set(name, [...new Set(addrs)]);
  }
  return { ifaceAddrs, own };
}

/** The failback policy of natnow's policy file. */
export function failbackOf(p: Policy): FailbackPolicy {
  return { protocols: p.failback, perPolicy: new Map(Object.entries(p.failbackPolicies)), delay: p.failbackDelay };
}

/** Plans and carries out the routing part. */
export function runFailover(host: Host, input: RoutingInput, policy: Policy, ctx: FailoverContext): FailoverOutcome {
  const out: FailoverOutcome = { entries: [], result: null, unhandled: [], warnings: [...input.warnings], errors: [], lines: [] };
  const cfg = readMwan3(input.config, input.mmxMask);
  if ("error" in cfg) {
    out.unhandled.push(`mwan3: ${cfg.error}; no flow moved`);
    return out;
  }
  for (const s of cfg.ok.skipped) out.warnings.push(`mwan3 ${s}`);
  const states = readMwan3Status(input.status, input.hotplug);
  if ("error" in states) {
    out.unhandled.push(`mwan3: ${states.error}; no flow moved`);
    return out;
  }
  if (input.flows === null) {
    out.unhandled.push("mwan3: the conntrack table could not be listed; no flow moved");
    return out;
  }
  const plan = planRouting(cfg.ok, input.flows, states.ok, routerView(ctx), failbackOf(policy));
  out.entries = plan.entries;
  for (const u of plan.unclear) out.warnings.push(`mwan3: flows left alone: ${u}`);
  if (!plan.selectors.length) return out;
  if (ctx.kmod) out.lines.push("failover through conntrack-tools: natnow.ko's selectors carry no conntrack mark");
  const r = applyConntrack(host, plan.selectors, { holdMs: HOLD_MS, tombstoneMs: 0, dryRun: ctx.dryRun });
  out.result = r;
  out.errors.push(...r.errors);
  if (!ctx.dryRun) {
    // what the backend revoked, per interface left (the selectors' reasons start with it)
    for (const e of out.entries) {
      const mine = r.byChange.filter((c) => c.change.startsWith(`mwan3 '${e.wan}' `));
      if (e.moved) e.moved = mine.reduce((n, c) => n + (c.revoked ?? 0), 0);
    }
  }
  for (const e of out.entries) {
    out.lines.push(`mwan3 '${e.wan}': ${ctx.dryRun ? "would move" : "moved"} ${e.moved} to ${e.to.join(", ") || "-"}, ` +
      `kept ${e.kept}${e.unclear ? `, unclear ${e.unclear}` : ""}${e.notes.length ? ` (${e.notes.join("; ")})` : ""}`);
  }
  return out;
}
