/** `natnow status`: the backend natnow would use and why, the kernel module's counters, the last runs. */

import { availability, pickBackend } from "../backend/detect.ts";
import type { ChangeCounts } from "../backend/result.ts";
import { readSwitch } from "../apply/snapshot.ts";
import { readKmodStatus } from "../backend/kmod.ts";
import { parseRuns, type RunRecord, STATE_FILES } from "../apply/state.ts";
import type { Host } from "../host/host.ts";
import { readPolicy } from "../config/policy.ts";
import { utf8Decode } from "../base/utf8.ts";
import { optionValue, parseArgs, UsageError } from "./args.ts";
import { out } from "./output.ts";
import { POLICY_PATH, STATE_DIR } from "../base/paths.ts";
import { formatCounts } from "../apply/report.ts";

/** Usage of the `status` command. */
export const STATUS_USAGE = "natnow status [--policy F] [--state-dir D] [--json]";

/** What one change's selectors did, in words (`revoked 2`, `armed 1, revoked (counted for the run)`). */
export function changeCounts(c: ChangeCounts): string {
  const parts: string[] = [];
  if (c.armed) parts.push(`armed ${c.armed}`);
  if (c.renewed) parts.push(`renewed ${c.renewed}`);
  if (c.revoked === null) parts.push("revoked (counted for the run)");
  else if (c.revoked) parts.push(`revoked ${c.revoked}`);
  return parts.length ? parts.join(", ") : "no flow";
}

/** One run in a line (and its errors below it). */
export function formatRun(r: RunRecord): string {
  const when = new Date(r.time).toISOString().replace("T", " ").slice(0, 19);
  const counts = r.result ? formatCounts(r.result) : "nothing reset";
  const lines = [
    `  ${when} UTC  ${r.trigger}${r.dryRun ? " (dry run)" : ""}  ${r.ok ? "ok" : r.errors.length || !r.unhandled?.length ? "FAILED" : "UNHANDLED"}  ` +
    `${r.backend ?? "no backend"}  ${r.changes.length} change(s)  ${counts}  ${r.durationMs} ms`,
  ];
  for (const c of r.changes) {
    const n = r.result?.byChange?.find((x) => x.change === c);
    lines.push(`      ${c}${n ? `: ${changeCounts(n)}` : ""}`);
  }
  for (const f of r.failover ?? []) {
    lines.push(`      mwan3 '${f.wan}': moved ${f.moved}${f.to.length ? ` to ${f.to.join(", ")}` : ""}, kept ${f.kept}` +
      `${f.unclear ? `, unclear ${f.unclear}` : ""}${f.notes.length ? ` (${f.notes.join("; ")})` : ""}`);
  }
  for (const u of r.unhandled ?? []) lines.push(`      unhandled: ${u}`);
  for (const e of r.errors) lines.push(`      error: ${e}`);
  for (const d of r.drift ?? []) lines.push(`      drift: ${d}`);
  for (const w of r.warnings ?? []) lines.push(`      warning: ${w}`);
  return lines.join("\n");
}

/** Runs `natnow status`; returns the exit status. */
export function statusCommand(host: Host, argv: string[]): number {
  const { options, positional } = parseArgs(argv, {
    "--policy": { value: true },
    "--state-dir": { value: true },
    "--json": { value: false },
  });
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const dir = optionValue(options, "--state-dir") ?? STATE_DIR;
  const policyPath = optionValue(options, "--policy") ?? POLICY_PATH;
  const pb = host.readFile(policyPath);
  const { policy, warnings, error } = readPolicy(pb);
  const policyNote = error === null ? "" : `${policyPath}: ${error}; using the defaults`;
  const avail = availability(host, policy.procfsCollateral);
  const detection = pickBackend(avail, policy.backend);
  const kmod = readKmodStatus(host);
  const sw = readSwitch(host);
  const enabled = sw.on;
  const runsText = host.readFile(`${dir}/${STATE_FILES.runs}`);
  const runs = parseRuns(runsText === null ? null : utf8Decode(runsText));
  const daemon = listeningDaemon(host, dir);
  // what the newest real run could not act on stays named until handled or dismissed
  const newest = runs.find((r) => !r.dryRun);
  const unhandled = newest?.unhandled ?? [];
  if (options["--json"]) {
    out(host, JSON.stringify({
      enabled, switchWhy: sw.why, platform: sw.platform, daemon, backend: detection.backend, reason: detection.reason, setting: policy.backend, available: avail,
      kmod, unhandled, runs, warnings: policyNote ? [policyNote, ...warnings] : warnings,
    }, null, 2) + "\n");
    return 0;
  }
  const lines = [
    `switch: ${enabled === null ? `unknown (${sw.why})` : enabled ? "on" : "off"}`,
    `daemon: ${daemon.listening ? `listening (pid ${daemon.pid})`
      : sw.platform === "linux" ? "no bus to hear (plain Linux: the daemon follows nft monitor alone)" : "not listening (fw4's include runs natnow itself)"}`,
    `backend: ${detection.backend ?? "none"} (setting '${policy.backend}': ${detection.reason})`,
    ...(["kmod", "conntrack", "procfs"] as const).map((b) => `  ${b.padEnd(9)} ${avail[b].ok ? "yes" : "no "}  ${avail[b].why}`),
  ];
  if (kmod) {
    const c = kmod.counters;
    lines.push(
      `kernel module: ${kmod.armed} generation(s) armed, ${kmod.scopes.length} scope(s), ${c.stale ?? 0} stale flow(s) waiting; ` +
        `renewed ${c.renewed ?? 0}, renew_failed ${c.renew_failed ?? 0}, killed ${c.killed ?? 0}, held_drops ${c.held_drops ?? 0}`,
    );
  }
  for (const w of policyNote ? [policyNote, ...warnings] : warnings) lines.push(`warning: ${w}`);
  if (unhandled.length) {
    lines.push(`UNHANDLED: ${unhandled.length} NAT change(s) natnow could not act on (shown until a run handles them, or 'natnow dismiss'):`);
    for (const u of unhandled) lines.push(`  ${u}`);
  }
  lines.push(runs.length ? `last runs (newest first):` : "no run recorded yet");
  for (const r of runs) lines.push(formatRun(r));
  out(host, lines.join("\n") + "\n");
  return 0;
}

/** Whether a daemon hears the bus: a live pid in the state directory's `listening` file (daemon.ts). */
function listeningDaemon(host: Host, dir: string): { listening: boolean; pid: number | null } {
  const b = host.readFile(`${dir}/${STATE_FILES.listening}`);
  const pid = b === null ? NaN : Number(utf8Decode(b).trim());
  if (!Number.isInteger(pid) || pid <= 0) return { listening: false, pid: null };
  return { listening: host.exists(`/proc/${pid}`), pid };
}
