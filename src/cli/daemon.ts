/** `natnow daemon`: the service procd runs (src/daemon/daemon.ts). */

import { type DaemonOptions, startDaemon } from "../daemon/daemon.ts";
import { STATE_DIR } from "../daemon/state.ts";
import type { Host } from "../host/host.ts";
import { parseArgs, UsageError } from "./args.ts";
import { POLICY_PATH } from "./status.ts";

/** Usage of the `daemon` command. */
export const DAEMON_USAGE = "natnow daemon [--state-dir D] [--policy F] [--fw4-state F] [--debounce SECONDS]";

/** fw4's state file. */
export const FW4_STATE_PATH = "/var/run/fw4.state";

/** The options naming where a snapshot run reads and writes (`daemon` and `run`). */
export const SNAPSHOT_OPTIONS = {
  "--state-dir": { value: true },
  "--policy": { value: true },
  "--fw4-state": { value: true },
} as const;

/** The paths those options name, with the router's defaults. */
export function snapshotPaths(options: Record<string, string | true>): Omit<DaemonOptions, "debounce"> {
  const str = (k: string, d: string) => (typeof options[k] === "string" ? (options[k] as string) : d);
  return {
    stateDir: str("--state-dir", STATE_DIR),
    policyPath: str("--policy", POLICY_PATH),
    fw4StatePath: str("--fw4-state", FW4_STATE_PATH),
  };
}

/** Starts the daemon; returns null (it keeps running on its event loop). */
export function daemonCommand(host: Host, argv: string[]): number | null {
  const { options, positional } = parseArgs(argv, { ...SNAPSHOT_OPTIONS, "--debounce": { value: true } });
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  let debounce: number | null = null;
  if (options["--debounce"] !== undefined) {
    debounce = Number(options["--debounce"]);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(String(options["--debounce"])) || debounce > 60) {
      throw new UsageError(`--debounce must be seconds from 0 to 60, not '${String(options["--debounce"])}'`);
    }
  }
  startDaemon(host, { ...snapshotPaths(options), debounce });
  return null;
}
