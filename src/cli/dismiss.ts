/**
 * `natnow dismiss`: the user has seen the unhandled changes and moves on.
 * The newest run's ruleset becomes the baseline, so later runs no longer
 * name what natnow could not act on. Flows are not touched.
 */

import { withLock } from "../daemon/lock.ts";
import { addRun, formatRuns, parseRuns, type RunRecord, STATE_FILES } from "../apply/state.ts";
import type { Host } from "../host/host.ts";
import { utf8Decode, utf8Encode } from "../base/utf8.ts";
import { optionValue, parseArgs, UsageError } from "./args.ts";
import { err, out } from "./output.ts";
import { EXIT_UNAVAILABLE } from "../base/exit.ts";
import { STATE_DIR } from "../base/paths.ts";
import { LOCK_WAIT_MS } from "./apply.ts";

/** Usage of the `dismiss` command. */
export const DISMISS_USAGE = "natnow dismiss [--state-dir D] [--json]";

/** Makes the newest run's ruleset the baseline; the unhandled changes it names, or null when there were none. */
function dismiss(host: Host, dir: string): string[] | null {
  const latest = `${dir}/${STATE_FILES.latest}`;
  const b = host.readFile(latest);
  if (b === null) return null;
  const runsPath = `${dir}/${STATE_FILES.runs}`;
  const old = host.readFile(runsPath);
  const runs = parseRuns(old === null ? null : utf8Decode(old));
  const named = runs.find((r) => !r.dryRun && r.unhandled?.length)?.unhandled ?? [];
  host.writeFileAtomic(`${dir}/${STATE_FILES.applied}`, b);
  host.removeFile(latest);
  if (host.exists(`${dir}/${STATE_FILES.acted}`)) host.removeFile(`${dir}/${STATE_FILES.acted}`);
  const run: RunRecord = {
    time: host.time(), trigger: "dismiss", ok: true, dryRun: false, backend: null,
    reason: "the user dismissed the unhandled changes", changes: named, selectors: 0, result: null, durationMs: 0, errors: [],
  };
  host.writeFileAtomic(runsPath, utf8Encode(formatRuns(addRun(runs, run))));
  return named;
}

/** Runs `natnow dismiss`; returns the exit status. */
export function dismissCommand(host: Host, argv: string[]): number {
  const { options, positional } = parseArgs(argv, { "--state-dir": { value: true }, "--json": { value: false } });
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const dir = optionValue(options, "--state-dir") ?? STATE_DIR;
  const held = withLock(host, dir, LOCK_WAIT_MS, () => ({ named: dismiss(host, dir) }));
  if (held === null) {
    err(host, `natnow: another run holds ${dir}/lock; nothing done\n`);
    return EXIT_UNAVAILABLE;
  }
  const { named } = held;
  if (options["--json"]) {
    out(host, JSON.stringify({ ok: true, dismissed: named ?? [] }) + "\n");
  } else if (named === null) {
    out(host, "nothing to dismiss: no change is unhandled\n");
  } else {
    out(host, `dismissed; the newest ruleset is the baseline now${named.length ? ":" : ""}\n`);
    for (const n of named) out(host, `  ${n}\n`);
  }
  return 0;
}
