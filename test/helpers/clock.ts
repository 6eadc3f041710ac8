/** A FAKE clock for event-loop code: timers fire only when the test advances time. */
import type { Host } from "../../src/host/host.ts";

/** The clock's parts: `now`, `setTimeout`, `clearTimeout` for a Host, a timer list, and `advance`. */
export interface Clock {
  /** The Host parts that tell and keep time. */
  timing: Pick<Host, "now" | "setTimeout" | "clearTimeout">;
  /** Schedules `fn` at `ms` from now (what a fake tool's delayed output uses). */
  later(fn: () => void, ms: number): void;
  /** Moves time on by `ms`, firing every timer due on the way, in time order. */
  advance(ms: number): void;
}

/** A clock at 0 with no timer. */
export function clock(): Clock {
  let now = 0;
  let id = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const set = (fn: () => void, ms: number) => (timers.set(++id, { at: now + ms, fn }), id);
  return {
    timing: { now: () => now, setTimeout: set, clearTimeout: (i: number) => void timers.delete(i) },
    later: (fn, ms) => void set(fn, ms),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
        if (!next || next[1].at > end) break;
        now = next[1].at;
        timers.delete(next[0]);
        next[1].fn();
      }
      now = end;
    },
  };
}
