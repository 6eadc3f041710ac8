/** `natnow plan`: the reset plan for a config change, for humans or as JSON. */

import type { Host } from "../host/host.ts";
import { computePlan, type PlanInput } from "../plan/compute.ts";
import type { PlanResult } from "../plan/input.ts";
import { describeSelector } from "../plan/selector.ts";
import { utf8Decode } from "../base/utf8.ts";
import { optionValue, parseArgs, UsageError } from "./args.ts";
import { err, out } from "./output.ts";
import { EXIT_INVALID } from "../base/exit.ts";

/** Usage of the `plan` command. */
export const PLAN_USAGE =
  "natnow plan --config NEW [--previous OLD] [--fw4-state F] [--interfaces F] [--policy F] [--boot] [--json]";

/** The options `plan` (and `apply`) read their inputs from. */
const PLAN_OPTIONS = {
  "--config": { value: true },
  "--previous": { value: true },
  "--fw4-state": { value: true },
  "--interfaces": { value: true },
  "--policy": { value: true },
  "--boot": { value: false },
  "--json": { value: false },
} as const;

/** Why the plan inputs could not be read: a usage error, or a file that cannot be read. */
export interface InputProblem {
  kind: "usage" | "unreadable";
  message: string;
}

/** Reads the plan inputs named by the options; a missing file is an error with its name. */
function readPlanInput(host: Host, options: Record<string, string | true>): PlanInput | InputProblem {
  const path = (k: string) => optionValue(options, k);
  if (path("--config") === null) return { kind: "usage", message: "--config NEW is required" };
  const parts: Record<string, Uint8Array | null> = {};
  for (const k of ["--config", "--previous", "--fw4-state", "--interfaces", "--policy"]) {
    const p = path(k);
    const b = p === null ? null : host.readFile(p);
    if (p !== null && b === null) return { kind: "unreadable", message: `${k.slice(2)}: cannot read '${p}'` };
    parts[k] = b;
  }
  const text = (b: Uint8Array | null) => (b === null ? null : utf8Decode(b));
  return {
    config: parts["--config"] as Uint8Array,
    previous: parts["--previous"],
    fw4State: text(parts["--fw4-state"]),
    interfaces: text(parts["--interfaces"]),
    policy: parts["--policy"],
    boot: options["--boot"] === true,
  };
}

/** The plan as readable text. */
function formatPlan(r: PlanResult): string {
  const p = r.plan;
  const lines: string[] = [];
  lines.push(`natnow plan${p.boot ? " (boot)" : ""}: ${p.changes.length} change(s), ${p.selectors.length} selector(s)`);
  for (const pc of p.changes) {
    lines.push(`  ${pc.change.text}`);
    for (const s of pc.selectors) lines.push(`    ${s.action.padEnd(6)} ${describeSelector(s)}`);
    if (pc.note) lines.push(`    (${pc.note})`);
  }
  if (!p.changes.length) lines.push("  no NAT change");
  if (p.unhandled.length) {
    lines.push("unhandled:");
    for (const e of p.unhandled) lines.push(`  ${e}`);
  }
  const warnings = [...r.fw4Warnings, ...r.policyWarnings];
  if (warnings.length) {
    lines.push("warnings:");
    for (const w of warnings) lines.push(`  ${w}`);
  }
  return lines.join("\n") + "\n";
}

/** The plan as JSON (stable field names, for scripts and LuCI). */
function planJson(r: PlanResult): unknown {
  return {
    boot: r.plan.boot,
    changes: r.plan.changes.map((pc) => ({
      kind: pc.change.kind,
      subject: pc.change.subject,
      name: pc.change.name,
      text: pc.change.text,
      note: pc.note,
      unhandled: pc.unhandled,
      selectors: pc.selectors.length,
    })),
    selectors: r.plan.selectors,
    unhandled: r.plan.unhandled,
    warnings: { fw4: r.fw4Warnings, policy: r.policyWarnings },
    policy: r.policy,
  };
}

/** Runs `natnow plan`; returns the exit status. */
export function planCommand(host: Host, argv: string[]): number {
  const { options, positional } = parseArgs(argv, PLAN_OPTIONS);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const input = readPlanInput(host, options);
  if ("kind" in input) {
    if (input.kind === "usage") throw new UsageError(input.message);
    err(host, `natnow: ${input.message}\n`);
    return EXIT_INVALID;
  }
  const outcome = computePlan(input);
  if (!outcome.ok) {
    err(host, `natnow: invalid input: ${outcome.error}\n`);
    return EXIT_INVALID;
  }
  out(host, options["--json"] ? JSON.stringify(planJson(outcome.result), null, 2) + "\n" : formatPlan(outcome.result));
  return 0;
}
