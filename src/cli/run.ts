/** natnow's command dispatcher. */

import type { Host } from "../host/host.ts";
import { utf8Decode } from "../base/utf8.ts";
import { UsageError } from "./args.ts";
import { err, out } from "./output.ts";
import { APPLY_USAGE, applyCommand } from "./apply.ts";
import { DISMISS_USAGE, dismissCommand } from "./dismiss.ts";
import { DAEMON_USAGE, daemonCommand } from "./daemon.ts";
import { RUN_USAGE, runCommand } from "./runcmd.ts";
import { PLAN_USAGE, planCommand } from "./plan.ts";
import { STATUS_USAGE, statusCommand } from "./status.ts";
import { UCI_USAGE, uciCommand } from "./uci.ts";
import { EXIT_SOFTWARE, EXIT_USAGE } from "../base/exit.ts";

/** natnow's version. */
const VERSION = "0.1.0";

const USAGE = `usage:
  ${PLAN_USAGE}
  ${APPLY_USAGE}
  ${STATUS_USAGE}
  ${DISMISS_USAGE}
  ${RUN_USAGE}
  ${DAEMON_USAGE}
  ${UCI_USAGE}
  natnow version
`;

/**
 * Runs one natnow command and returns its exit status (null: it goes on
 * running, as the daemon does). With `--json` standard output always gets a
 * JSON answer, errors included (jsonAnswer): rpcd turns an empty stdout into
 * UBUS_STATUS_NO_DATA, which tells LuCI nothing.
 */
export function run(host: Host, argv: string[]): number | null {
  return argv.indexOf("--json") >= 0 ? jsonAnswer(host, argv) : dispatch(host, argv);
}

/** The error lines a command wrote to stderr, without the `natnow: ` prefix and usage text. */
function errorLines(stderr: string): string[] {
  const lines = stderr.split("\n").filter((l) => l.startsWith("natnow: ")).map((l) => l.slice(8));
  return lines.length ? lines : stderr.split("\n").filter((l) => l.trim() !== "").slice(0, 1);
}

/**
 * Runs a `--json` command so that stdout gets JSON whatever happens: when the
 * command failed without printing its answer (a usage error, a held lock,
 * unreadable input, an internal error), `{"ok": false, "error", "exit"}`.
 * stderr keeps its text (and an internal error's stack) for the log.
 */
function jsonAnswer(host: Host, argv: string[]): number | null {
  let printed = false;
  let stderr = "";
  const watched: Host = {
    ...host,
    writeStdout: (d) => {
      printed = true;
      host.writeStdout(d);
    },
    writeStderr: (d) => {
      stderr += utf8Decode(d);
      host.writeStderr(d);
    },
  };
  let code: number | null;
  try {
    code = dispatch(watched, argv);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    err(host, `natnow: internal error: ${msg}\n${e instanceof Error ? e.stack ?? "" : ""}\n`);
    stderr += `natnow: internal error: ${msg}\n`;
    code = EXIT_SOFTWARE;
  }
  if (code !== null && code !== 0 && !printed) {
    const errors = errorLines(stderr);
    out(host, JSON.stringify({ ok: false, error: errors.join("; ") || `exit status ${code}`, errors, exit: code }) + "\n");
  }
  return code;
}

function dispatch(host: Host, argv: string[]): number | null {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "plan":
        return planCommand(host, rest);
      case "apply":
        return applyCommand(host, rest);
      case "status":
        return statusCommand(host, rest);
      case "dismiss":
        return dismissCommand(host, rest);
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
