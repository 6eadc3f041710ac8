/** Text output helpers for commands: everything is written through the host. */

import type { Host } from "../host/host.ts";
import { binaryToBytes } from "../uci/bytes.ts";
import { utf8Encode } from "../base/utf8.ts";

/** Writes text (UTF-8) to standard output. */
export function out(host: Host, text: string): void {
  host.writeStdout(utf8Encode(text));
}

/** Writes a byte string (one char per byte) to standard output unchanged. */
export function outBytes(host: Host, bytes: string): void {
  host.writeStdout(binaryToBytes(bytes));
}

/** Writes text (UTF-8) to standard error. */
export function err(host: Host, text: string): void {
  host.writeStderr(utf8Encode(text));
}
