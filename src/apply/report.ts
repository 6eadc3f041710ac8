/** A run in words: its counts (apply's report, status's runs) and its syslog line. */

import type { RunOutcome } from "./run.ts";
import type { RunCounts } from "./state.ts";

/** The counts of a result, in words (for apply's report and status's runs alike). */
export function formatCounts(r: RunCounts): string {
  const parts = [`matched ${r.matched}`, `renewed ${r.renewed}`, `revoked ${r.revoked}`, `gone ${r.gone}`, `failed ${r.failed}`];
  if (r.backend === "kmod") parts.push(`armed ${r.armed}`);
  if (r.collateral || r.backend === "procfs") parts.push(`collateral ${r.collateral}`);
  return parts.join(", ");
}

/** The run's syslog line: trigger, changes, flows, backend, duration, errors. */
export function runLogLine(trigger: string, o: RunOutcome): string {
  const r = o.run;
  const counts = r.result ? `renewed ${r.result.renewed}, revoked ${r.result.revoked}` +
      (r.result.armed ? `, armed ${r.result.armed}` : "") : "nothing reset";
  const errors = [...r.errors, ...o.stateErrors];
  const warnings = r.warnings ?? [];
  const unhandled = r.unhandled ?? [];
  return `${trigger}: ${r.changes.length} change(s)${r.changes.length ? ` (${r.changes.join("; ")})` : ""}, ${counts}, ` +
    `backend ${r.backend ?? "none"}, ${r.durationMs} ms` +
    (r.failover?.length ? `, mwan3: ${r.failover.map((f) => `'${f.wan}' moved ${f.moved} kept ${f.kept}`).join(", ")}` : "") +
    (unhandled.length ? `, UNHANDLED (natnow status; natnow dismiss): ${unhandled.join("; ")}` : "") +
    (errors.length ? `, errors: ${errors.join("; ")}` : "") +
    (warnings.length ? `, warnings: ${warnings.join("; ")}` : "");
}
