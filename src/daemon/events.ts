/**
 * The events the daemon listens to, as `ubus listen` prints them
 * (openwrt/ubus cli.c receive_event: `{ "TYPE": JSON }`, the JSON compact
 * as libubox's blobmsg_format_json writes it), and a debouncer.
 */

import type { Host } from "../host/host.ts";

/** The event types the daemon listens to. */
export const EVENT_TYPES = ["natnow.reload", "network.interface"] as const;

/** One event: its type and data. */
export interface BusEvent {
  type: string;
  data: Record<string, unknown>;
}

/** Reads one `ubus listen` line; null for anything else. */
export function parseListenLine(line: string): BusEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const keys = Object.keys(v);
  if (keys.length !== 1) return null;
  const data = (v as Record<string, unknown>)[keys[0]];
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  return { type: keys[0], data: data as Record<string, unknown> };
}

/** What an event means in the run record: `fw4 reload`, `interface wan ifup`. */
export function describeEvent(e: BusEvent): string {
  if (e.type === "natnow.reload") {
    const what = typeof e.data.action === "string" ? e.data.action : "reload";
    return `fw4 ${what}`;
  }
  if (e.type === "network.interface") {
    const word = (v: unknown, d: string) => (typeof v === "string" ? v : d);
    return `interface ${word(e.data.interface, "?")} ${word(e.data.action, "event")}`;
  }
  return e.type;
}

/**
 * Whether an `nft monitor` line is a ruleset change natnow must look at:
 * an object added, deleted or replaced, except in natnow's own hold table
 * (its holds would wake it up again) and the monitor's generation comments.
 */
export function nftChange(line: string): boolean {
  if (!/^(add|delete|replace|flush|destroy|insert) /.test(line)) return false;
  return !/ natnow_hold( |$)/.test(line);
}

/** When the debouncer fires: `settleMs` after the first event of a quiet spell, `quietMs` of quiet within a burst, `maxMs` at most. */
export interface DebounceTiming {
  settleMs: number;
  quietMs: number;
  maxMs: number;
}

/** The settle time of a first event: fw4's ruleset and its include's announcement come within it. */
export const SETTLE_MS = 100;

/**
 * Fires on the leading edge and once more when a burst is over. The first
 * event after `quietMs` without a run fires `settleMs` later (a fw4 reload
 * is one atomic nft transaction, so the run sees all of it), with every
 * trigger seen by then. Events during or soon after that run wait until
 * they stop for `quietMs` (at most `maxMs` after the first of them), then
 * fire once: a storm is two runs, the second reading the state as it is
 * when the storm is over.
 */
export class Debouncer {
  private timer: number | null = null;
  private leading = false;
  private first = 0;
  private last = Number.NEGATIVE_INFINITY;
  private triggers: string[] = [];

  constructor(
    private readonly host: Host,
    private readonly timing: DebounceTiming,
    private readonly fire: (triggers: string[]) => void,
  ) {}

  /** Notes an event. */
  poke(trigger: string): void {
    const now = this.host.now();
    const { settleMs, quietMs, maxMs } = this.timing;
    if (this.triggers.indexOf(trigger) < 0) this.triggers.push(trigger);
    if (this.timer === null) {
      this.first = now;
      this.leading = now - this.last >= quietMs;
      this.schedule(this.leading ? settleMs : quietMs);
    } else if (!this.leading) {
      this.host.clearTimeout(this.timer);
      this.schedule(Math.max(0, Math.min(quietMs, this.first + maxMs - now)));
    }
  }

  private schedule(ms: number): void {
    this.timer = this.host.setTimeout(() => {
      this.timer = null;
      const t = this.triggers;
      this.triggers = [];
      this.fire(t);
      this.last = this.host.now();
    }, ms);
  }
}
