/** `natnow apply`: plan, then reset the flows with a backend, and remember the run. */

import { EXIT_INVALID, runOnce } from "../daemon/run.ts";
import { STATE_DIR } from "../daemon/state.ts";
import type { Host } from "../host/host.ts";
import type { BackendChoice } from "../plan/policy.ts";
import { parseArgs, UsageError } from "./args.ts";
import { err, out } from "./output.ts";
import { PLAN_OPTIONS, readPlanInput } from "./plan.ts";

/** Usage of the `apply` command. */
export const APPLY_USAGE = "natnow apply --config NEW [--previous OLD] [--fw4-state F] [--interfaces F] [--policy F]\n" +
  "               [--boot] [--backend auto|kmod|conntrack|procfs] [--dry-run] [--state-dir D] [--json]";

const APPLY_OPTIONS = {
  ...PLAN_OPTIONS,
  "--backend": { value: true },
  "--dry-run": { value: false },
  "--state-dir": { value: true },
} as const;

const CHOICES: readonly BackendChoice[] = ["auto", "kmod", "conntrack", "procfs"];

/** Runs `natnow apply`; returns the exit status. */
export function applyCommand(host: Host, argv: string[]): number {
  const { options, positional } = parseArgs(argv, APPLY_OPTIONS);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const choiceOpt = options["--backend"];
  if (choiceOpt !== undefined && CHOICES.indexOf(choiceOpt as BackendChoice) < 0) {
    throw new UsageError(`--backend must be one of ${CHOICES.join(", ")}, not '${String(choiceOpt)}'`);
  }
  const stateDir = typeof options["--state-dir"] === "string" ? options["--state-dir"] : STATE_DIR;
  const dryRun = options["--dry-run"] === true;
  const input = readPlanInput(host, options);
  if (typeof input === "string") {
    if (input.endsWith("is required")) throw new UsageError(input);
    err(host, `natnow: ${input}\n`);
    return EXIT_INVALID;
  }
  const o = runOnce(host, {
    input, backend: choiceOpt as BackendChoice | undefined, dryRun, trigger: input.boot ? "boot" : "apply", stateDir,
  });
  if (options["--json"]) {
    out(host, JSON.stringify({ ...o.run, commands: o.result?.commands ?? [] }, null, 2) + "\n");
  } else if (o.code !== EXIT_INVALID) {
    out(host, o.lines.join("\n") + "\n");
  }
  const errors = o.code === EXIT_INVALID ? [o.run.errors[0].replace(/^invalid input: /, "invalid input, nothing reset: ")] : o.run.errors;
  for (const e of [...errors, ...o.stateErrors]) err(host, `natnow: ${e}\n`);
  return o.code;
}
