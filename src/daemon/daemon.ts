/**
 * `natnow daemon`, run by procd. It listens to the bus (`ubus listen`: fw4's
 * include announces every reload, netifd its interfaces) and to the
 * kernel's ruleset (`nft monitor`: any NAT change, whoever makes it; only
 * the chains and sets the last run's nat paths reached, events.ts) and to
 * its default routes (`ip -o monitor route`: an upstream that moves), reads
 * them as line streams (never a blocking read), and runs at once on the
 * first event of a burst and once more when the burst is over (events.ts).
 * Each run takes a snapshot of the router and plans the live ruleset
 * against the one it last applied. Its first run after boot (nothing
 * applied yet under /var/run) renews never-replied flows under every NAT
 * rule. One syslog line per run; one run at a time (lock.ts). While the
 * bus is heard (bus.ts) the file `listening` holds the daemon's pid: fw4's
 * include announces reloads only then, and runs natnow itself otherwise.
 */

import type { Host } from "../host/host.ts";
import { readPolicy } from "../config/policy.ts";
import { utf8Encode } from "../base/utf8.ts";
import { BUS_TIMING, listenOnBus } from "./bus.ts";
import { Debouncer, describeEvent, nftChange, routeChange, routeEvent, routingTrigger, SETTLE_MS } from "./events.ts";
import { readRouting } from "../apply/routesnap.ts";
import { tryLock, unlock } from "./lock.ts";
import { type RunOutcome, runOnce } from "../apply/run.ts";
import { type Snapshot, takeSnapshot } from "../apply/snapshot.ts";
import type { NatRefs } from "../ruleset/refs.ts";
import type { BusEvent } from "./events.ts";
import { STATE_FILES } from "../apply/state.ts";
import { runLogLine } from "../apply/report.ts";

/** Where the daemon reads and writes. */
export interface DaemonOptions {
  stateDir: string;
  policyPath: string;
  fw4StatePath: string;
  /** Seconds of quiet that end a burst; null: the policy's `debounce`. */
  debounce: number | null;
  /** The bus echo's timing (bus.ts); the router's by default. */
  busTiming?: { everyMs: number; echoMs: number };
}

/** What a snapshot run is: a real run, a dry run, or a preview of the pending UCI change. */
export type SnapshotMode = "apply" | "dry-run" | "pending";

/**
 * Takes the router's snapshot and runs once; null when natnow is switched
 * off. `seen` gets the snapshot (the daemon keeps what its nat paths
 * reach). The caller holds the run lock (a dry run or preview changes nothing).
 */
export function runFromSnapshot(
  host: Host, opts: DaemonOptions, trigger: string, mode: SnapshotMode = "apply", seen?: (snap: Snapshot) => void,
): RunOutcome | null {
  const snap = takeSnapshot(host, { fw4StatePath: opts.fw4StatePath, policyPath: opts.policyPath, router: true });
  seen?.(snap);
  if (snap.switchOn === false) return null;
  return runOnce(host, {
    snapshot: snap,
    boot: false,
    pending: mode === "pending",
    dryRun: mode !== "apply",
    trigger,
    stateDir: opts.stateDir,
    // mwan3's flows are listed only when routing may have moved (a whole-table walk)
    routing: routingTrigger(trigger) ? readRouting(host) : null,
  });
}

/** The debounce the policy asks for, in seconds (the default when the file does not parse). */
function policyDebounce(host: Host, path: string): number {
  return readPolicy(host.readFile(path)).policy.debounce;
}

/** A monitor that ends this soon after it started, having printed nothing, failed to start. */
const FAST_FAIL_MS = 1000;

/**
 * Follows a monitor (`nft monitor`, `ip -o monitor route`) line by line,
 * starting it again 2 s after it ends; one that keeps failing at once (a
 * BusyBox `ip` without `monitor`) is given up after 5 tries, and said.
 */
function follow(host: Host, argv: string[], onLine: (line: string) => void): void {
  const name = argv.filter((a) => !a.startsWith("-")).join(" ");
  if (host.findProgram(argv[0]) === null) {
    host.log(`${argv[0]} is not installed; not following ${name}`);
    return;
  }
  let fails = 0;
  const start = () => {
    const started = host.now();
    let heard = false;
    host.spawnLines(argv, (line) => {
      heard = true;
      onLine(line);
    }, (status) => {
      fails = !heard && status !== 0 && host.now() - started < FAST_FAIL_MS ? fails + 1 : 0;
      if (fails >= 5) {
        host.log(`${name} failed ${fails} times at once (status ${status}); not following it`);
        return;
      }
      host.log(`${name} ended (status ${status}); starting it again in 2 s`);
      host.setTimeout(start, 2000);
    });
  };
  start();
}

/** Runs the daemon until the process is stopped. */
export function startDaemon(host: Host, opts: DaemonOptions): void {
  host.makeDirs(opts.stateDir);
  const listening = `${opts.stateDir}/${STATE_FILES.listening}`;
  host.removeFile(listening);
  const debounceS = opts.debounce ?? policyDebounce(host, opts.policyPath);
  // what the last run's nat paths reached: ruleset events elsewhere do not wake the daemon (null: all do)
  let nat: NatRefs | null = null;
  const fire = (triggers: string[]): void => {
    const trigger = triggers.join(", ");
    if (!tryLock(host, opts.stateDir)) {
      // another run (the include's, rpcd's) holds the lock: try again when it is done
      host.setTimeout(() => fire(triggers), 200);
      return;
    }
    try {
      const o = runFromSnapshot(host, opts, trigger, "apply", (snap) => {
        nat = snap.nat ?? null;
      });
      if (o) host.log(runLogLine(trigger, o));
    } catch (e) {
      // never die on one run: procd would respawn, but the events of the burst would be lost
      host.log(`${trigger}: internal error: ${(e as Error).message}`);
    } finally {
      unlock(host, opts.stateDir);
    }
  };
  const debouncer = new Debouncer(host,
    { settleMs: SETTLE_MS, quietMs: debounceS * 1000, maxMs: Math.max(10_000, debounceS * 5000) }, fire);
  const setListening = (heard: boolean) => {
    try {
      if (heard) host.writeFileAtomic(listening, utf8Encode(`${host.pid()}\n`));
      else host.removeFile(listening);
    } catch (e) {
      host.log(`cannot write ${listening}: ${(e as Error).message}`);
    }
  };
  if (host.findProgram("ubus") === null) {
    // plain Linux has no ubus: the ruleset's own events are enough there
    host.log("ubus is not installed; not listening to ubus listen");
    setListening(true);
  } else {
    const onEvent = (e: BusEvent) => {
      const what = describeEvent(e);
      debouncer.poke(what);
      // a member back online: the failback waits for the policy's delay, so look again once it has passed
      const r = routeEvent(e);
      const delay = readPolicy(host.readFile(opts.policyPath)).policy.failbackDelay;
      if (r && (r.action === "connected" || r.action === "ifup") && delay > 0) host.setTimeout(() => debouncer.poke(what), delay * 1000 + 500);
    };
    listenOnBus(host, { ...(opts.busTiming ?? BUS_TIMING), onEvent, onListening: setListening });
  }
  follow(host, ["nft", "monitor"], (line) => {
    if (nftChange(line, nat)) debouncer.poke("ruleset changed");
  });
  follow(host, ["ip", "-o", "monitor", "route"], (line) => {
    if (routeChange(line)) debouncer.poke("default route changed");
  });
  debouncer.poke("start");
}
