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
    return `interface ${String(e.data.interface ?? "?")} ${String(e.data.action ?? "event")}`;
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

/**
 * Waits until events stop for `quietMs` (at most `maxMs` after the first),
 * then fires once with every trigger seen: a storm is one run, and it reads
 * the state as it is when the storm is over.
 */
export class Debouncer {
  private timer: number | null = null;
  private first = 0;
  private triggers: string[] = [];

  constructor(
    private readonly host: Host,
    private readonly quietMs: number,
    private readonly maxMs: number,
    private readonly fire: (triggers: string[]) => void,
  ) {}

  /** Notes an event. */
  poke(trigger: string): void {
    const now = this.host.now();
    if (this.timer === null) this.first = now;
    else this.host.clearTimeout(this.timer);
    if (this.triggers.indexOf(trigger) < 0) this.triggers.push(trigger);
    const wait = Math.max(0, Math.min(this.quietMs, this.first + this.maxMs - now));
    this.timer = this.host.setTimeout(() => {
      this.timer = null;
      const t = this.triggers;
      this.triggers = [];
      this.fire(t);
    }, wait);
  }
}
