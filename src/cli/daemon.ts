/** `natnow daemon`: the service procd runs (src/daemon/daemon.ts). */

import { BUS_TIMING } from "../daemon/bus.ts";
import { type DaemonOptions, startDaemon } from "../daemon/daemon.ts";
import type { Host } from "../host/host.ts";
import { optionValue, parseArgs, UsageError } from "./args.ts";
import { FW4_STATE_PATH, POLICY_PATH, STATE_DIR } from "../base/paths.ts";

/** Usage of the `daemon` command. */
export const DAEMON_USAGE =
  "natnow daemon [--state-dir D] [--policy F] [--fw4-state F] [--debounce SECONDS] [--bus-check SECONDS]";

/** The options naming where a snapshot run reads and writes (`daemon` and `run`). */
export const SNAPSHOT_OPTIONS = {
  "--state-dir": { value: true },
  "--policy": { value: true },
  "--fw4-state": { value: true },
} as const;

/** The paths those options name, with the router's defaults. */
export function snapshotPaths(options: Record<string, string | true>): Omit<DaemonOptions, "debounce" | "busTiming"> {
  const str = (k: string, d: string) => optionValue(options, k) ?? d;
  return {
    stateDir: str("--state-dir", STATE_DIR),
    policyPath: str("--policy", POLICY_PATH),
    fw4StatePath: str("--fw4-state", FW4_STATE_PATH),
  };
}

/** Starts the daemon; returns null (it keeps running on its event loop). */
export function daemonCommand(host: Host, argv: string[]): number | null {
  const { options, positional } = parseArgs(argv, {
    ...SNAPSHOT_OPTIONS, "--debounce": { value: true }, "--bus-check": { value: true },
  });
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const seconds = (name: string, min: number): number | null => {
    const v = options[name];
    if (v === undefined) return null;
    if (!/^[0-9]+(\.[0-9]+)?$/.test(String(v)) || Number(v) < min || Number(v) > 60) {
      throw new UsageError(`${name} must be seconds from ${min} to 60, not '${String(v)}'`);
    }
    return Number(v);
  };
  const debounce = seconds("--debounce", 0);
  // how often the daemon checks that the bus still hears it (bus.ts); the echo may take 2/5 of it
  const check = seconds("--bus-check", 0.5);
  const busTiming = check === null ? BUS_TIMING : { everyMs: check * 1000, echoMs: check * 400 };
  startDaemon(host, { ...snapshotPaths(options), debounce, busTiming });
  return null;
}
