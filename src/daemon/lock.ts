/**
 * One run at a time: the daemon, the include's `natnow run` and rpcd's
 * `apply` take the same lock, a file created with O_EXCL under the state
 * directory holding the owner's pid. Only its holder writes the state. A
 * lock whose owner is gone (no /proc/PID) is taken over.
 */

import type { Host } from "../host/host.ts";
import { utf8Decode, utf8Encode } from "../base/utf8.ts";

/** The lock file's name inside the state directory. */
export const LOCK_FILE = "lock";

/** Takes the lock if it is free (or its owner is gone); true when this process holds it. */
export function tryLock(host: Host, dir: string): boolean {
  const path = `${dir}/${LOCK_FILE}`;
  host.makeDirs(dir);
  const me = utf8Encode(`${host.pid()}\n`);
  if (host.createExclusive(path, me)) return true;
  const held = host.readFile(path);
  const pid = held === null ? NaN : Number(utf8Decode(held).trim());
  if (pid === host.pid()) return true;
  // a lock that is empty, garbled, or whose owner died is stale
  if (Number.isInteger(pid) && pid > 0 && host.exists(`/proc/${pid}`)) return false;
  host.removeFile(path);
  return host.createExclusive(path, me);
}

/** Releases the lock if this process holds it. */
export function unlock(host: Host, dir: string): void {
  const path = `${dir}/${LOCK_FILE}`;
  const held = host.readFile(path);
  if (held !== null && Number(utf8Decode(held).trim()) === host.pid()) host.removeFile(path);
}

/** Runs `fn` holding the lock, waiting up to `waitMs` for it; null when it stayed taken. */
export function withLock<T>(host: Host, dir: string, waitMs: number, fn: () => T): T | null {
  const until = host.now() + waitMs;
  while (!tryLock(host, dir)) {
    if (host.now() >= until) return null;
    host.sleep(50);
  }
  try {
    return fn();
  } finally {
    unlock(host, dir);
  }
}
