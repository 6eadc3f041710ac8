/**
 * `natnow run`: what the daemon does for one event, once: the router's
 * snapshot (the live ruleset, fw4.state, the interface dump, uci export)
 * against the ruleset natnow last applied. fw4's include starts it when the
 * daemon is down; the rpcd plugin's `plan` and `apply` are `run --pending
 * --json` (what a reload of the UCI config would reset) and `run --json`.
 */

import { type DaemonOptions, runFromSnapshot } from "../daemon/daemon.ts";
import { withLock } from "../daemon/lock.ts";
import { LOCK_WAIT_MS } from "./apply.ts";
import type { Host } from "../host/host.ts";
import { parseArgs, UsageError } from "./args.ts";
import { SNAPSHOT_OPTIONS, snapshotPaths } from "./daemon.ts";
import { err, out } from "./output.ts";
import { EXIT_UNAVAILABLE } from "../base/exit.ts";
import { runLogLine } from "../apply/report.ts";

/** Usage of the `run` command. */
export const RUN_USAGE = "natnow run [--dry-run|--pending] [--json] [--state-dir D] [--policy F] [--fw4-state F]";

/** Runs `natnow run`; returns the exit status. */
export function runCommand(host: Host, argv: string[]): number {
  const { options, positional } = parseArgs(argv, {
    ...SNAPSHOT_OPTIONS,
    "--dry-run": { value: false },
    "--pending": { value: false },
    "--json": { value: false },
  });
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const opts: DaemonOptions = { ...snapshotPaths(options), debounce: null };
  const pending = options["--pending"] === true;
  const dryRun = options["--dry-run"] === true || pending;
  const go = () => ({ o: runFromSnapshot(host, opts, "run", pending ? "pending" : dryRun ? "dry-run" : "apply") });
  const held = dryRun ? go() : withLock(host, opts.stateDir, LOCK_WAIT_MS, go);
  if (held === null) {
    err(host, `natnow: another run holds ${opts.stateDir}/lock; nothing done\n`);
    return EXIT_UNAVAILABLE;
  }
  const o = held.o;
  if (!o) {
    if (options["--json"]) out(host, JSON.stringify({ off: true, reason: "switched off in /etc/config/firewall" }) + "\n");
    else out(host, "natnow is switched off (firewall.natnow.enabled is '0')\n");
    return 0;
  }
  if (options["--json"]) {
    out(host, JSON.stringify({ ...o.run, planned: o.planned, commands: o.result?.commands ?? [] }, null, 2) + "\n");
  }
  else out(host, o.lines.join("\n") + "\n");
  for (const u of o.run.unhandled ?? []) err(host, `natnow: unhandled: ${u}\n`);
  for (const e of [...o.run.errors, ...o.stateErrors]) err(host, `natnow: ${e}\n`);
  if (!dryRun) host.log(runLogLine("run", o));
  return o.code;
}
