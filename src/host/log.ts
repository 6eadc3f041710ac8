/** The system log line both hosts write: `logger -t natnow`, or standard error. */

import { utf8Encode } from "../base/utf8.ts";
import type { Host } from "./host.ts";

/** Sends one line to syslog through `logger -t natnow`; to standard error when that fails. */
export function syslogLine(host: Pick<Host, "findProgram" | "exec" | "writeStderr">, message: string): void {
  const line = message.replace(/[\r\n]+/g, " ");
  if (host.findProgram("logger") && host.exec(["logger", "-t", "natnow", "--", line]).status === 0) return;
  host.writeStderr(utf8Encode(`natnow: ${line}\n`));
}
