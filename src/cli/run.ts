/** natnow's command dispatcher. */

import type { Host } from "../host/host.ts";
import { UsageError } from "./args.ts";
import { err, out } from "./output.ts";
import { APPLY_USAGE, applyCommand } from "./apply.ts";
import { DAEMON_USAGE, daemonCommand } from "./daemon.ts";
import { RUN_USAGE, runCommand } from "./runcmd.ts";
import { PLAN_USAGE, planCommand } from "./plan.ts";
import { STATUS_USAGE, statusCommand } from "./status.ts";
import { UCI_USAGE, uciCommand } from "./uci.ts";

/** natnow's version. */
export const VERSION = "0.1.0";

const USAGE = `usage:
  ${PLAN_USAGE}
  ${APPLY_USAGE}
  ${STATUS_USAGE}
  ${RUN_USAGE}
  ${DAEMON_USAGE}
  ${UCI_USAGE}
  natnow version
`;

/** Exit status for usage errors. */
export const EXIT_USAGE = 64;

/** Runs one natnow command and returns its exit status (null: it goes on running, as the daemon does). */
export function run(host: Host, argv: string[]): number | null {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "plan":
        return planCommand(host, rest);
      case "apply":
        return applyCommand(host, rest);
      case "status":
        return statusCommand(host, rest);
      case "run":
        return runCommand(host, rest);
      case "daemon":
        return daemonCommand(host, rest);
      case "uci":
        return uciCommand(host, rest);
      case "version":
      case "--version":
        out(host, `natnow ${VERSION} (${host.kind})\n`);
        return 0;
      case "help":
      case "--help":
      case "-h":
        out(host, USAGE);
        return 0;
      default:
        throw new UsageError(cmd === undefined ? "no command given" : `unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(host, `natnow: ${e.message}\n${USAGE}`);
      return EXIT_USAGE;
    }
    throw e;
  }
}
