/**
 * A revoke in one walk of the table. conntrack-tools walks the whole table
 * in userspace for every `-L` and every `-D`, and the dump path
 * (conntrack.ts) takes two: a dump to choose the flows and name their
 * clients, whose holds must be in place before the delete (the revoke race,
 * docs/kernel-facts.md), then the delete. Where every selector's flows can
 * be named by one `-D` filter exactly (exact.ts), the dump is not needed to
 * choose, and the holds need not name the clients for the moment of the
 * delete:
 *
 * 1. a wide hold on the old peer (widehold.ts) stops new entries from it
 *    towards the clients' side, which is what re-creating a reversed entry
 *    takes;
 * 2. one `conntrack -D -o extended,id` per exact filter, side by side,
 *    deletes the flows and lists them;
 * 3. the exact holds for the clients it listed (holds.ts) go in, and the
 *    wide hold goes out, in one nft transaction.
 *
 * Counts come from what `-D` listed: chosen by the planner's own matcher,
 * as the dump path counts them (anything no selector takes is collateral).
 * A walk cannot tell what was gone already, so `gone` stays 0. A `-D` that
 * failed stops at that entry (an offloaded one the kernel refuses, say): the
 * dump path then finishes the run, and the counts are added up. A dry run,
 * a selector without an exact filter, or a wide hold nft cannot install,
 * take the dump path.
 */

import { choose, type Flow, flowKey } from "../conntrack/flow.ts";
import { parseTable } from "../conntrack/parse.ts";
import type { Host } from "../host/host.ts";
import type { Selector } from "../plan/selector.ts";
import { applyConntrack, type ConntrackOptions, deleteFailed } from "./conntrack.ts";
import { exactArgs, exactFilters } from "./exact.ts";
import { installHolds, needsTombstone } from "./holds.ts";
import { type BackendResult, changeEntry, countChange, emptyResult } from "./result.ts";
import { wideHoldDrop, wideHolds, wideHoldScript } from "./widehold.ts";

/** How long (ms) a wide hold lasts when the run never drops it (it dies): past any `-D` walk. */
export const WIDE_HOLD_MS = 60_000;


/** The entries `-D` runs listed, once each. */
export function listedEntries(outputs: readonly string[]): Flow[] {
  const out = new Map<string, Flow>();
  for (const text of outputs) for (const f of parseTable(text).flows) out.set(flowKey(f), f); // a `-D` may list one twice
  return [...out.values()];
}

/**
 * Counts the deleted entries into `result` as the dump path counts chosen
 * flows; returns the revoked ones, with whether their hold refreshes (a
 * forward that is gone: holds.ts).
 */
export function countDeleted(
  result: BackendResult, deleted: readonly Flow[], selectors: readonly Selector[], tombstoneMs: number,
): { flow: Flow; refresh: boolean }[] {
  const chosen = choose(deleted, selectors);
  result.matched += chosen.length;
  result.collateral += deleted.length - chosen.length;
  const revoked: { flow: Flow; refresh: boolean }[] = [];
  for (const c of chosen) {
    const what = c.selector.action === "renew" ? "renewed" : "revoked";
    result[what]++;
    countChange(result, c.selector.reason, what);
    if (what === "revoked") revoked.push({ flow: c.flow, refresh: tombstoneMs > 0 && c.flow.dnat && needsTombstone(c.flow, selectors) });
  }
  return revoked;
}

/** Two results of one run added up: the one walk's, then the dump path's for what it left. */
export function addResults(a: BackendResult, b: BackendResult): BackendResult {
  const sum: BackendResult = {
    ...a, byChange: a.byChange.map((c) => ({ ...c })), commands: [...a.commands, ...b.commands], errors: [...a.errors, ...b.errors],
  };
  for (const k of ["matched", "renewed", "revoked", "gone", "failed", "collateral", "armed"] as const) sum[k] += b[k];
  for (const c of b.byChange) {
    const e = changeEntry(sum, c.change);
    e.renewed += c.renewed;
    e.armed += c.armed;
    e.revoked = e.revoked === null || c.revoked === null ? null : e.revoked + c.revoked;
  }
  return sum;
}

/** Runs the selectors with conntrack-tools: in one walk where `-D` filters name them exactly, else by the dump. */
export function applyConntrackOneWalk(host: Host, selectors: readonly Selector[], opts: ConntrackOptions): BackendResult {
  const filters = opts.dryRun ? null : exactFilters(selectors);
  if (filters === null || "why" in filters || !host.findProgram("conntrack")) return applyConntrack(host, selectors, opts);
  const wide = opts.holdMs > 0 ? wideHolds(filters.ok) : [];
  if (wide.length) {
    // without the wide hold the delete would open the revoke race: the dump path holds first
    if (!host.findProgram("nft")) return applyConntrack(host, selectors, opts);
    const r = host.exec(["nft", "-f", "-"], { input: wideHoldScript(wide, WIDE_HOLD_MS) ?? "" });
    if (r.status !== 0) return applyConntrack(host, selectors, opts);
  }
  const runs = host.execAll(filters.ok.map(exactArgs));
  const result = emptyResult("conntrack");
  const revoked = countDeleted(result, listedEntries(runs.map((r) => r.stdout)), selectors, opts.tombstoneMs);
  const held = installHolds(host, revoked, opts.holdMs, opts.tombstoneMs, opts.holds, wideHoldDrop(wide));
  if (held) {
    result.errors.push(held);
    // the exact holds failed: the wide one must not outlast the run either
    if (wide.length) host.exec(["nft", "-f", "-"], { input: wideHoldDrop(wide) });
  }
  if (!runs.some(deleteFailed)) return result;
  // the snapshot's hold sets no longer tell what is there: the dump path lists them
  return addResults(result, applyConntrack(host, selectors, { ...opts, holds: null }));
}
