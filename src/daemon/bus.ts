/**
 * The daemon's ear on the bus: `ubus listen` for the events natnow acts on,
 * kept honest by an echo. ubusd can restart under a running daemon, and the
 * real `ubus listen` does not exit then (its connection is gone, its uloop
 * keeps running): it just never prints again. So every `everyMs` the
 * daemon sends itself an event (`ubus send natnow.alive`) and expects to
 * hear it within `echoMs`. A send that fails means ubusd is gone; a send
 * that works but is never heard means the listener is deaf, and it is
 * started again. `onListening` says whether the bus is heard right now, so
 * fw4's include runs natnow itself while it is not.
 */

import type { Host, LineStream } from "../host/host.ts";
import { failure } from "../apply/snapshot.ts";
import { type BusEvent, EVENT_TYPES, parseListenLine } from "./events.ts";

/** The event the daemon sends itself to know it is heard. */
export const ALIVE_EVENT = "natnow.alive";

/** How the ear behaves; the defaults are the router's. */
export interface BusOptions {
  /** Milliseconds between two echo checks while the bus is heard. */
  everyMs: number;
  /** Milliseconds an echo may take before the listener counts as deaf. */
  echoMs: number;
  /** Called for each event natnow acts on (not the echoes). */
  onEvent: (e: BusEvent) => void;
  /** Called when the bus starts or stops being heard. */
  onListening: (heard: boolean) => void;
}

/** The router's echo timing: a check every 5 s, 2 s for the echo. */
export const BUS_TIMING = { everyMs: 5000, echoMs: 2000 } as const;

/** Listens on the bus until the process ends; returns nothing to stop (procd stops the daemon). */
export function listenOnBus(host: Host, opts: BusOptions): void {
  const pid = host.pid();
  let stream: LineStream | null = null;
  let generation = 0;
  let heard = false;
  let lost = "";
  let sent = 0;
  let echoTimer: number | null = null;
  let nextTimer: number | null = null;

  const setHeard = (now: boolean, why: string) => {
    if (now === heard) return;
    heard = now;
    if (now) host.log(lost ? `ubus: heard again (after: ${lost})` : "ubus: listening");
    else {
      lost = why;
      host.log(`ubus: not heard: ${why}`);
    }
    opts.onListening(now);
  };
  const schedule = (ms: number) => {
    if (nextTimer !== null) host.clearTimeout(nextTimer);
    nextTimer = host.setTimeout(() => {
      nextTimer = null;
      ping();
    }, ms);
  };
  const start = () => {
    const mine = ++generation;
    stream?.stop();
    stream = host.spawnLines(["ubus", "listen", ...EVENT_TYPES, ALIVE_EVENT], (line) => {
      if (mine !== generation) return;
      const e = parseListenLine(line);
      if (!e) return;
      if (e.type !== ALIVE_EVENT) return opts.onEvent(e);
      if (e.data.pid !== pid || e.data.n !== sent || echoTimer === null) return;
      host.clearTimeout(echoTimer);
      echoTimer = null;
      setHeard(true, "");
      schedule(opts.everyMs);
    }, (status) => {
      if (mine !== generation) return;
      stream = null;
      setHeard(false, `ubus listen ended (status ${status})`);
      schedule(Math.min(opts.everyMs, 2000));
    });
  };
  const ping = () => {
    if (stream === null) start();
    const argv = ["ubus", "send", ALIVE_EVENT, JSON.stringify({ pid, n: ++sent })];
    const r = host.exec(argv);
    if (r.status !== 0) {
      setHeard(false, failure(argv, r));
      schedule(Math.min(opts.everyMs, 2000));
      return;
    }
    if (echoTimer !== null) host.clearTimeout(echoTimer);
    echoTimer = host.setTimeout(() => {
      echoTimer = null;
      // ubusd is up but this listener hears nothing: a ubusd restart. Subscribe again.
      setHeard(false, `no echo within ${opts.echoMs} ms (ubusd restarted?); listening again`);
      start();
      schedule(300);
    }, opts.echoMs);
  };
  start();
  // the listener needs a moment to subscribe before the first echo can be heard
  schedule(300);
}
