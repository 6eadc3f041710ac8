/** Carries out a plan with one backend. */

import type { Host } from "../host/host.ts";
import type { Policy } from "../config/policy.ts";
import type { Selector } from "../plan/selector.ts";
import { applyConntrackOneWalk } from "./onewalk.ts";
import { holdSetsInRuleset } from "./holds.ts";
import { applyKmod } from "./kmod.ts";
import { applyProcfs } from "./procfs.ts";
import { type BackendName, type BackendResult } from "./result.ts";

/** How long (ms) the conntrack backend holds a revoked flow's old peer off. */
const HOLD_MS = 2000;

/** How long (ms) a gone forward's hold outlasts its client's last packet. */
const TOMBSTONE_MS = 30_000;

/** What a backend needs besides the selectors. */
export interface ApplyContext {
  policy: Policy;
  /** The router's own addresses (procfs never deletes by them). */
  routerAddresses: readonly string[];
  dryRun: boolean;
  /** The live ruleset (`nft -j` text) the plan was made from: the conntrack backend reads its holds there. */
  ruleset?: string;
  /** Kernel file paths, for tests. */
  paths?: { kmod?: string; procfs?: string };
}

/** Runs the selectors with the named backend. */
export function applyWith(host: Host, backend: BackendName, selectors: readonly Selector[], ctx: ApplyContext): BackendResult {
  switch (backend) {
    case "kmod":
      return applyKmod(host, selectors, { ttl: ctx.policy.kmodTtl, dryRun: ctx.dryRun, path: ctx.paths?.kmod });
    case "conntrack":
      return applyConntrackOneWalk(host, selectors, {
        holdMs: HOLD_MS, tombstoneMs: TOMBSTONE_MS, dryRun: ctx.dryRun,
        holds: ctx.ruleset === undefined ? undefined : holdSetsInRuleset(ctx.ruleset),
      });
    case "procfs":
      return applyProcfs(host, selectors, {
        collateral: ctx.policy.procfsCollateral, routerAddresses: ctx.routerAddresses, dryRun: ctx.dryRun,
        path: ctx.paths?.procfs,
      });
  }
}
