/**
 * What natnow remembers between runs, under /var/run/natnow/: the config
 * it last applied (the "previous" of the next diff) and its last runs, for
 * `natnow status`, rpcd and LuCI. Pure: reading and writing is the caller's.
 */

import type { BackendResult } from "../backend/result.ts";
import type { FailoverEntry } from "../routing/plan.ts";

/** File names inside the state directory: the nat part of the ruleset last applied, the runs. */
export const STATE_FILES = {
  /** The baseline: the nat part of the ruleset of the last run that left nothing unhandled. */
  applied: "applied.ruleset.json",
  /** While a change is unhandled: the nat part of the newest run's ruleset (what `natnow dismiss` makes the baseline). */
  latest: "latest.ruleset.json",
  /** While a change is unhandled: the keys of the changes since the baseline that runs have acted on. */
  acted: "acted.json",
  runs: "runs.json",
  /** The daemon's pid while it hears the bus (daemon.ts); fw4's include reads it. */
  listening: "listening",
} as const;

/** How many runs are kept. */
export const MAX_RUNS = 10;

/** A backend result's counts, as a run keeps them. */
export type RunCounts = Omit<BackendResult, "commands" | "errors">;

/** One run of `natnow apply` (or of the daemon). */
export interface RunRecord {
  /** Milliseconds since the epoch. */
  time: number;
  /** What started it: `apply`, `boot`, a daemon trigger. */
  trigger: string;
  ok: boolean;
  dryRun: boolean;
  backend: string | null;
  /** Why this backend (or why none). */
  reason: string;
  /** The changes, in words. */
  changes: string[];
  selectors: number;
  result: RunCounts | null;
  durationMs: number;
  errors: string[];
  /** Where fw4's live rules and the fw4 model of /etc/config/firewall differ (runs since the live ruleset). */
  drift?: string[];
  /** Facts the run went on without. */
  warnings?: string[];
  /** The changes (or parts of them) the run could not act on, with the reason: `change: reason`. */
  unhandled?: string[];
  /** What a routing change (mwan3 failover or failback) did, per interface the flows left by. */
  failover?: FailoverEntry[];
}

/** The keys of acted-on changes in acted.json; anything unreadable is none (they are acted on again, which is harmless). */
export function parseActed(text: string | null): string[] {
  if (text === null) return [];
  try {
    const v: unknown = JSON.parse(text);
    const keys = typeof v === "object" && v !== null ? (v as { keys?: unknown }).keys : null;
    return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === "string") : [];
  } catch {
    return [];
  }
}

/** acted.json's text. */
export function formatActed(keys: readonly string[]): string {
  return JSON.stringify({ version: 1, keys: [...new Set(keys)] }) + "\n";
}

/** Parses runs.json; anything unreadable gives no runs (and never a failure). */
export function parseRuns(text: string | null): RunRecord[] {
  if (text === null) return [];
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || !Array.isArray((v as { runs?: unknown }).runs)) return [];
    return ((v as { runs: unknown[] }).runs).filter((r): r is RunRecord =>
      typeof r === "object" && r !== null && typeof (r as RunRecord).time === "number" &&
      typeof (r as RunRecord).trigger === "string" && Array.isArray((r as RunRecord).errors)
    );
  } catch {
    return [];
  }
}

/** The runs with a new one first, at most MAX_RUNS. */
export function addRun(runs: readonly RunRecord[], run: RunRecord): RunRecord[] {
  return [run, ...runs].slice(0, MAX_RUNS);
}

/** runs.json's text. */
export function formatRuns(runs: readonly RunRecord[]): string {
  return JSON.stringify({ version: 1, runs }, null, 1) + "\n";
}
