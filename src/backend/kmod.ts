/**
 * The kernel-module backend: the plan's renew scopes become `arm` commands
 * (the module renews each stale flow on its next packet, and deletes at
 * once the stale flows a flowtable has offloaded) and its revoke
 * selectors `kill` commands (a walk of the table in the kernel, with holds),
 * written to `/proc/net/natnow` one command per write (docs/kmod-protocol.md).
 */

import type { Host } from "../host/host.ts";
import type { Selector } from "../plan/selector.ts";
import { utf8Decode } from "../base/utf8.ts";
import { KmodEncodeError, type KmodStatus, parseStatus, planWrites } from "./kmod-protocol.ts";
import { type BackendResult, changeEntry, countChange, emptyResult } from "./result.ts";
import { KMOD_PATH } from "../base/paths.ts";

/** How the kmod backend runs. */
export interface KmodOptions {
  /** Seconds an arm lasts (0: the module's default, the longest unreplied timeout). */
  ttl: number;
  dryRun?: boolean;
  /** The control file (tests point it elsewhere). */
  path?: string;
}

/** Reads the module's status; null when it is not loaded (or not natnow's). */
export function readKmodStatus(host: Host, path = KMOD_PATH): KmodStatus | null {
  const b = host.readFile(path);
  return b === null ? null : parseStatus(utf8Decode(b));
}

/** Writes the plan to the module and reports what the module counted. */
export function applyKmod(host: Host, selectors: readonly Selector[], opts: KmodOptions): BackendResult {
  const result = emptyResult("kmod");
  if (!selectors.length) return result;
  const path = opts.path ?? KMOD_PATH;
  const before = readKmodStatus(host, path);
  if (!before) {
    result.errors.push(`natnow.ko is not loaded (${path} is missing or unreadable)`);
    return result;
  }
  let writes: string[];
  try {
    writes = planWrites(selectors, { ttl: opts.ttl || undefined });
  } catch (e) {
    if (!(e instanceof KmodEncodeError)) throw e;
    result.errors.push(`the plan does not fit the module's limits: ${e.message}`);
    return result;
  }
  result.commands = writes.map((w) => w.trimEnd());
  if (opts.dryRun) return result;
  const err = host.writeControl(path, writes);
  const after = readKmodStatus(host, path);
  const delta = (k: string) => (after?.counters[k] ?? 0) - (before.counters[k] ?? 0);
  result.revoked = Math.max(0, delta("killed"));
  // offloaded stale flows never reach the hooks: the arm deleted them at once
  // (their next packet takes the slow path); a module without the counter renews none
  result.renewed = Math.max(0, delta("offload_renewed"));
  result.matched = result.revoked + result.renewed;
  result.armed = selectors.filter((s) => s.action === "renew").length;
  for (const s of selectors) {
    // the module counts kills per write, not per change
    if (s.action === "renew") countChange(result, s.reason, "armed");
    else changeEntry(result, s.reason).revoked = null;
  }
  // with one change that kills (or arms), the run's kills (offloaded renews) are that change's
  const unknown = result.byChange.filter((c) => c.revoked === null);
  if (unknown.length === 1) unknown[0].revoked = result.revoked;
  const arming = result.byChange.filter((c) => c.armed > 0);
  if (arming.length === 1) arming[0].renewed = result.renewed;
  if (err !== null) {
    result.errors.push(`writing ${path} failed: ${err}`);
    result.failed = 1;
    result.byChange = [];
    result.armed = after ? Math.max(0, after.armed - before.armed) : 0;
  }
  return result;
}
