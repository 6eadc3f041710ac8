/** `natnow apply`: plan the live ruleset against the last applied one, reset the flows, remember the run. */

import { withLock } from "../daemon/lock.ts";
import { runOnce } from "../apply/run.ts";
import { takeSnapshot } from "../apply/snapshot.ts";
import type { Host } from "../host/host.ts";
import type { BackendChoice } from "../config/policy.ts";
import { utf8Decode } from "../base/utf8.ts";
import { optionValue, parseArgs, UsageError } from "./args.ts";
import { err, out } from "./output.ts";
import { EXIT_INVALID, EXIT_UNAVAILABLE } from "../base/exit.ts";
import { STATE_DIR } from "../base/paths.ts";

/** Usage of the `apply` command. */
export const APPLY_USAGE = "natnow apply [--ruleset F] [--previous-ruleset F] [--config F] [--fw4-state F] [--interfaces F]\n" +
  "               [--policy F] [--boot] [--backend auto|kmod|conntrack|procfs] [--dry-run] [--state-dir D] [--json]";

const APPLY_OPTIONS = {
  "--ruleset": { value: true },
  "--previous-ruleset": { value: true },
  "--config": { value: true },
  "--fw4-state": { value: true },
  "--interfaces": { value: true },
  "--policy": { value: true },
  "--boot": { value: false },
  "--json": { value: false },
  "--backend": { value: true },
  "--dry-run": { value: false },
  "--state-dir": { value: true },
} as const;

const CHOICES: readonly BackendChoice[] = ["auto", "kmod", "conntrack", "procfs"];

/** How long a run waits for another one to finish. */
export const LOCK_WAIT_MS = 30_000;

/** Runs `natnow apply`; returns the exit status. */
export function applyCommand(host: Host, argv: string[]): number {
  const { options, positional } = parseArgs(argv, APPLY_OPTIONS);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const choiceOpt = options["--backend"];
  if (choiceOpt !== undefined && CHOICES.indexOf(choiceOpt as BackendChoice) < 0) {
    throw new UsageError(`--backend must be one of ${CHOICES.join(", ")}, not '${String(choiceOpt)}'`);
  }
  const str = (k: string) => optionValue(options, k);
  const stateDir = str("--state-dir") ?? STATE_DIR;
  const dryRun = options["--dry-run"] === true;
  // every named file must be there: a typo is not "no such input"
  for (const k of ["--ruleset", "--previous-ruleset", "--config", "--fw4-state", "--interfaces", "--policy"]) {
    const p = str(k);
    if (p !== null && !host.exists(p)) {
      err(host, `natnow: ${k.slice(2)}: cannot read '${p}'\n`);
      return EXIT_INVALID;
    }
  }
  const prevPath = str("--previous-ruleset");
  const run = () => runOnce(host, {
    snapshot: takeSnapshot(host, {
      rulesetFile: str("--ruleset"), fw4StatePath: str("--fw4-state") ?? "", interfacesFile: str("--interfaces"),
      policyPath: str("--policy") ?? "", configFile: str("--config"), router: false,
    }),
    previous: prevPath === null ? undefined : utf8Decode(host.readFile(prevPath) ?? new Uint8Array()),
    boot: options["--boot"] === true,
    backend: choiceOpt as BackendChoice | undefined,
    dryRun,
    trigger: options["--boot"] === true ? "boot" : "apply",
    stateDir,
  });
  const o = dryRun ? run() : withLock(host, stateDir, LOCK_WAIT_MS, run);
  if (o === null) {
    err(host, `natnow: another run holds ${stateDir}/lock; nothing done\n`);
    return EXIT_UNAVAILABLE;
  }
  if (options["--json"]) {
    out(host, JSON.stringify({ ...o.run, commands: o.result?.commands ?? [] }, null, 2) + "\n");
  } else if (o.code !== EXIT_INVALID) {
    out(host, o.lines.join("\n") + "\n");
  }
  const errors = o.code === EXIT_INVALID ? [o.run.errors[0].replace(/^invalid input: /, "invalid input, nothing reset: ")] : o.run.errors;
  for (const u of o.run.unhandled ?? []) err(host, `natnow: unhandled: ${u}\n`);
  for (const e of [...errors, ...o.stateErrors]) err(host, `natnow: ${e}\n`);
  return o.code;
}
