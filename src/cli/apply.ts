/** `natnow apply`: plan, then reset the flows with a backend, and remember the run. */

import { applyWith } from "../backend/apply.ts";
import { availability, type Detection, pickBackend } from "../backend/detect.ts";
import type { BackendResult } from "../backend/result.ts";
import { addRun, formatRuns, parseRuns, type RunRecord, STATE_DIR, STATE_FILES } from "../daemon/state.ts";
import type { Host } from "../host/host.ts";
import { computePlan } from "../plan/compute.ts";
import type { BackendChoice } from "../plan/policy.ts";
import { utf8Decode, utf8Encode } from "../uci/bytes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { err, out } from "./output.ts";
import { EXIT_INVALID, PLAN_OPTIONS, readPlanInput } from "./plan.ts";

/** Usage of the `apply` command. */
export const APPLY_USAGE = "natnow apply --config NEW [--previous OLD] [--fw4-state F] [--interfaces F] [--policy F]\n" +
  "               [--boot] [--backend auto|kmod|conntrack|procfs] [--dry-run] [--state-dir D] [--json]";

/** Exit status when the backend reported errors or failed deletes. */
export const EXIT_PARTIAL = 1;

/** Exit status when no backend can run (sysexits EX_UNAVAILABLE). */
export const EXIT_UNAVAILABLE = 69;

const APPLY_OPTIONS = {
  ...PLAN_OPTIONS,
  "--backend": { value: true },
  "--dry-run": { value: false },
  "--state-dir": { value: true },
} as const;

const CHOICES: readonly BackendChoice[] = ["auto", "kmod", "conntrack", "procfs"];

/** The counts of a result, in words. */
export function formatCounts(r: BackendResult): string {
  const parts = [`matched ${r.matched}`, `renewed ${r.renewed}`, `revoked ${r.revoked}`, `gone ${r.gone}`, `failed ${r.failed}`];
  if (r.backend === "kmod") parts.push(`armed ${r.armed}`);
  if (r.collateral || r.backend === "procfs") parts.push(`collateral ${r.collateral}`);
  return parts.join(", ");
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

/** Runs `natnow apply`; returns the exit status. */
export function applyCommand(host: Host, argv: string[]): number {
  const { options, positional } = parseArgs(argv, APPLY_OPTIONS);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const choiceOpt = options["--backend"];
  if (choiceOpt !== undefined && CHOICES.indexOf(choiceOpt as BackendChoice) < 0) {
    throw new UsageError(`--backend must be one of ${CHOICES.join(", ")}, not '${String(choiceOpt)}'`);
  }
  const dir = typeof options["--state-dir"] === "string" ? options["--state-dir"] : STATE_DIR;
  const dryRun = options["--dry-run"] === true;
  const boot = options["--boot"] === true;
  const started = host.now();
  const run: RunRecord = {
    time: host.time(), trigger: boot ? "boot" : "apply", ok: false, dryRun, backend: null, reason: "",
    changes: [], selectors: 0, result: null, durationMs: 0, errors: [],
  };
  const finish = (code: number, result: BackendResult | null): number => {
    run.durationMs = Math.round(host.now() - started);
    run.ok = code === 0;
    if (result) {
      const { commands: _c, errors: _e, ...counts } = result;
      run.result = counts;
    }
    if (!dryRun) {
      const e = saveRun(host, dir, run);
      if (e) err(host, `natnow: ${e}\n`);
    }
    if (options["--json"]) out(host, JSON.stringify({ ...run, commands: result?.commands ?? [] }, null, 2) + "\n");
    return code;
  };

  // the previous config: given, or the one natnow applied last
  if (options["--previous"] === undefined && !boot) {
    const last = `${dir}/${STATE_FILES.applied}`;
    if (host.readFile(last) !== null) options["--previous"] = last;
  }
  const input = readPlanInput(host, options);
  if (typeof input === "string") {
    if (input.endsWith("is required")) throw new UsageError(input);
    err(host, `natnow: ${input}\n`);
    run.errors.push(input);
    return finish(EXIT_INVALID, null);
  }
  const outcome = computePlan(input);
  if (!outcome.ok) {
    err(host, `natnow: invalid input, nothing reset: ${outcome.error}\n`);
    run.errors.push(`invalid input: ${outcome.error}`);
    return finish(EXIT_INVALID, null);
  }
  const { plan, policy, model } = outcome.result;
  run.changes = plan.changes.map((c) => c.change.text);
  run.selectors = plan.selectors.length;
  run.errors.push(...plan.errors);
  const choice = (choiceOpt as BackendChoice | undefined) ?? policy.backend;
  const detection: Detection = pickBackend(availability(host, policy.procfsCollateral), choice);
  run.backend = detection.backend;
  run.reason = detection.reason;
  const lines: string[] = [];
  const head = `natnow apply${dryRun ? " (dry run)" : ""}${boot ? " (boot)" : ""}: ` +
    `${plan.changes.length} change(s), ${plan.selectors.length} selector(s)`;
  lines.push(detection.backend ? `${head}, backend ${detection.backend} (${detection.reason})` : head);
  for (const c of plan.changes) lines.push(`  ${c.change.text}${c.note ? ` (${c.note})` : ""}`);

  let result: BackendResult | null = null;
  let code = 0;
  if (!plan.selectors.length) {
    lines.push("nothing to reset");
  } else if (!detection.backend) {
    run.errors.push(detection.reason);
    code = EXIT_UNAVAILABLE;
  } else {
    const routerAddresses = [...model.networks.flatMap((n) => n.addresses), ...model.zones.flatMap((z) => z.addresses)];
    result = applyWith(host, detection.backend, plan.selectors, { policy, routerAddresses, dryRun });
    lines.push(`${dryRun ? "would reset: " : ""}${formatCounts(result)} in ${Math.round(host.now() - started)} ms`);
    for (const c of dryRun ? result.commands : []) lines.push(`  ${c}`);
    run.errors.push(...result.errors);
    if (result.errors.length || result.failed) code = EXIT_PARTIAL;
  }
  if (!options["--json"]) out(host, lines.join("\n") + "\n");
  if (run.errors.length) err(host, `natnow: ${run.errors.join("\nnatnow: ")}\n`);
  // the new config becomes the next run's "previous" once it is carried out
  if (!dryRun && code === 0) {
    try {
      host.makeDirs(dir);
      host.writeFileAtomic(`${dir}/${STATE_FILES.applied}`, input.config);
    } catch (e) {
      err(host, `natnow: cannot keep the applied config in ${dir}: ${(e as Error).message}\n`);
    }
  }
  return finish(code, result);
}
