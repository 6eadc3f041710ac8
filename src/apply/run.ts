/**
 * One run: plan the change from the config natnow last applied (or the
 * given previous one) to the new one, carry it out with a backend, and
 * remember it. Shared by `natnow apply` and the daemon.
 */

import { applyWith } from "../backend/apply.ts";
import { availability, pickBackend } from "../backend/detect.ts";
import type { BackendResult } from "../backend/result.ts";
import type { Host } from "../host/host.ts";
import { computeLivePlan } from "../plan/live.ts";
import type { BackendChoice } from "../config/policy.ts";
import { describeSelector } from "../plan/selector.ts";
import { utf8Decode, utf8Encode } from "../base/utf8.ts";
import type { Snapshot } from "./snapshot.ts";
import { addRun, formatActed, formatRuns, parseActed, parseRuns, type RunRecord, STATE_FILES } from "./state.ts";
import { EXIT_INVALID, EXIT_PARTIAL, EXIT_UNAVAILABLE, EXIT_UNHANDLED } from "../base/exit.ts";
import { changeKey } from "../diff/diff.ts";
import { formatCounts } from "./report.ts";
import { routerAddresses } from "../model/nat.ts";
import type { RoutingInput } from "./routesnap.ts";
import { runFailover } from "./failover.ts";

/** What to run. */
export interface RunRequest {
  /** The router as the run sees it. */
  snapshot: Snapshot;
  /** The previous ruleset (`nft -j` text); undefined: the one natnow last applied. */
  previous?: string | null;
  /** A first run: renew never-replied flows under every current rule (also when nothing was applied yet). */
  boot: boolean;
  /** Plan the pending UCI change instead (a preview: never applied). */
  pending?: boolean;
  /** A backend named on the command line (else the policy's). */
  backend?: BackendChoice;
  dryRun: boolean;
  /** What started it, for the record (`apply`, `boot`, `fw4 reload`, ...). */
  trigger: string;
  stateDir: string;
  /** mwan3's config, states and the table's flows (routesnap.ts): the routing part runs only with them. */
  routing?: RoutingInput | null;
}

/** A planned change in words, with its selectors in words (for previews). */
export interface PlannedSummary {
  change: string;
  note: string | null;
  selectors: { action: string; text: string }[];
}

/** What a run did: its record, the backend's result, the exit status and the report lines. */
export interface RunOutcome {
  run: RunRecord;
  /** The plan in words (empty when the input was invalid). */
  planned: PlannedSummary[];
  result: BackendResult | null;
  code: number;
  /** A human report (the first line names the changes and the backend). */
  lines: string[];
  /** Problems with the state directory (the run itself is not affected). */
  stateErrors: string[];
}

/** A state file's text, or null. */
function stateText(host: Host, dir: string, name: string): string | null {
  const b = host.readFile(`${dir}/${name}`);
  return b === null ? null : utf8Decode(b);
}

/**
 * Moves the baseline. A run that left nothing unhandled makes its ruleset
 * the baseline. One that left a change unhandled keeps the baseline, so
 * every later run names that change again until a run handles it or the
 * user dismisses it (`natnow dismiss`); it remembers which changes since
 * the baseline were acted on, so they are not acted on twice.
 */
function keepState(host: Host, dir: string, applied: string, unhandled: boolean, acted: string[]): void {
  host.makeDirs(dir);
  if (!unhandled) {
    host.writeFileAtomic(`${dir}/${STATE_FILES.applied}`, utf8Encode(applied));
    for (const f of [STATE_FILES.latest, STATE_FILES.acted]) if (host.exists(`${dir}/${f}`)) host.removeFile(`${dir}/${f}`);
    return;
  }
  host.writeFileAtomic(`${dir}/${STATE_FILES.latest}`, utf8Encode(applied));
  host.writeFileAtomic(`${dir}/${STATE_FILES.acted}`, utf8Encode(formatActed(acted)));
}

function saveRun(host: Host, dir: string, run: RunRecord): string | null {
  try {
    host.makeDirs(dir);
    const path = `${dir}/${STATE_FILES.runs}`;
    const old = host.readFile(path);
    host.writeFileAtomic(path, utf8Encode(formatRuns(addRun(parseRuns(old === null ? null : utf8Decode(old)), run))));
    return null;
  } catch (e) {
    return `cannot record the run in ${dir}: ${(e as Error).message}`;
  }
}

/**
 * Plans and applies. Invalid input resets nothing. The live ruleset becomes
 * the next run's previous only when the run succeeded, so a failed run is
 * retried by the next one. Dry runs and previews change no state. The
 * caller holds the run lock (lock.ts).
 */
export function runOnce(host: Host, req: RunRequest): RunOutcome {
  const started = host.now();
  const run: RunRecord = {
    time: host.time(), trigger: req.trigger, ok: false, dryRun: req.dryRun || req.pending === true, backend: null, reason: "",
    changes: [], selectors: 0, result: null, durationMs: 0, errors: [],
  };
  if (req.snapshot.warnings.length) run.warnings = [...req.snapshot.warnings];
  const lines: string[] = [];
  const stateErrors: string[] = [];
  let planned: PlannedSummary[] = [];
  const finish = (code: number, result: BackendResult | null): RunOutcome => {
    run.durationMs = Math.round(host.now() - started);
    run.ok = code === 0;
    if (result) {
      const { commands: _c, errors: _e, ...counts } = result;
      run.result = counts;
    }
    if (!req.dryRun && !req.pending) {
      const e = saveRun(host, req.stateDir, run);
      if (e) stateErrors.push(e);
    }
    return { run, planned, result, code, lines, stateErrors };
  };

  const pending = req.pending === true;
  const dryRun = req.dryRun || pending;
  if (req.snapshot.error !== null) {
    run.errors.push(req.snapshot.error);
    return finish(EXIT_UNAVAILABLE, null);
  }
  const previous = req.previous !== undefined ? req.previous : req.boot ? null : stateText(host, req.stateDir, STATE_FILES.applied);
  const boot = !pending && (req.boot || previous === null);
  // the acted-on changes count against the stored baseline only
  const acted = req.previous === undefined && !boot ? parseActed(stateText(host, req.stateDir, STATE_FILES.acted)) : [];
  const outcome = computeLivePlan({ ...req.snapshot.input, previous, boot, pending, acted, now: Math.floor(host.time() / 1000) });
  if (!outcome.ok) {
    run.errors.push(`invalid input: ${outcome.error}`);
    return finish(EXIT_INVALID, null);
  }
  const { plan, policy, model } = outcome.result;
  run.drift = outcome.extra?.drift ?? [];
  run.warnings = [...(run.warnings ?? []), ...(outcome.extra?.warnings ?? [])];
  if (boot && !/boot/.test(run.trigger)) run.trigger = `${run.trigger} (boot)`;
  planned = plan.changes.map((c) => ({
    change: c.change.text, note: c.note,
    selectors: c.selectors.map((x) => ({ action: x.action, text: describeSelector(x) })),
  }));
  run.changes = plan.changes.map((c) => c.change.text);
  run.selectors = plan.selectors.length;
  const unhandled = [...plan.unhandled, ...(outcome.extra?.unhandled ?? [])];
  if (unhandled.length) run.unhandled = unhandled;
  const detection = pickBackend(availability(host, policy.procfsCollateral), req.backend ?? policy.backend);
  run.backend = detection.backend;
  run.reason = detection.reason;
  const head = `natnow apply${pending ? " (pending UCI change)" : req.dryRun ? " (dry run)" : ""}${boot ? " (boot)" : ""}: ` +
    `${plan.changes.length} change(s), ${plan.selectors.length} selector(s)`;
  lines.push(detection.backend ? `${head}, backend ${detection.backend} (${detection.reason})` : head);
  for (const c of plan.changes) lines.push(`  ${c.change.text}${c.note ? ` (${c.note})` : ""}`);
  for (const u of unhandled) lines.push(`UNHANDLED: ${u}`);

  let result: BackendResult | null = null;
  let code = 0;
  if (!plan.selectors.length) {
    lines.push("nothing to reset");
  } else if (!detection.backend) {
    run.errors.push(detection.reason);
    code = EXIT_UNAVAILABLE;
  } else {
    result = applyWith(host, detection.backend, plan.selectors, {
      policy, routerAddresses: routerAddresses(model), dryRun, ruleset: req.snapshot.live ? req.snapshot.input.ruleset : undefined,
    });
    lines.push(`${dryRun ? "would reset: " : ""}${formatCounts(result)} in ${Math.round(host.now() - started)} ms`);
    for (const c of dryRun ? result.commands : []) lines.push(`  ${c}`);
    run.errors.push(...result.errors);
    if (result.errors.length || result.failed) code = EXIT_PARTIAL;
  }
  for (const d of run.drift) lines.push(`drift: ${d}`);
  if (!dryRun && code === 0 && outcome.extra) {
    // the acted-on changes matter only while the baseline waits for an unhandled one
    const done = unhandled.length ? plan.changes.filter((c) => c.unhandled === null).map((c) => changeKey(c.change)) : [];
    try {
      keepState(host, req.stateDir, outcome.extra.applied, unhandled.length > 0, [...acted, ...done]);
    } catch (e) {
      stateErrors.push(`cannot keep the applied ruleset in ${req.stateDir}: ${(e as Error).message}`);
    }
  }
  if (req.routing && policy.failover && !pending) {
    const f = runFailover(host, req.routing, policy, {
      interfaces: req.snapshot.input.interfaces, kernel: req.snapshot.input.kernel, kmod: detection.backend === "kmod", dryRun,
    });
    if (f.entries.length) run.failover = f.entries;
    lines.push(...f.lines);
    run.errors.push(...f.errors);
    run.warnings = [...(run.warnings ?? []), ...f.warnings];
    if (f.unhandled.length) run.unhandled = [...(run.unhandled ?? []), ...f.unhandled];
    for (const u of f.unhandled) lines.push(`UNHANDLED: ${u}`);
    if (f.errors.length || (f.result?.failed ?? 0) > 0) code = code || EXIT_PARTIAL;
    if (code === 0 && f.unhandled.length) code = EXIT_UNHANDLED;
  }
  // a change not acted on is a result of its own (after failures, which say more)
  if (code === 0 && unhandled.length) code = EXIT_UNHANDLED;
  return finish(code, result);
}
