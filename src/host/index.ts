/** Picks the Host for the engine the bundle runs in. */

import type { Host } from "./host.ts";
import { createQjsHost, isQjs } from "./qjs.ts";

/** The QuickJS host under `qjs --std`, the Node host otherwise. */
export async function createHost(): Promise<Host> {
  if (isQjs()) return createQjsHost();
  const { createNodeHost } = await import("./node.ts");
  return createNodeHost();
}

/** The host types, for callers of createHost. */
export type { ExecResult, Host, LineStream } from "./host.ts";
