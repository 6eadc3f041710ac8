/**
 * The router's engine: a native `qjs` (Bellard's QuickJS 2025.04.26, built
 * by scripts/setup.sh from Debian trixie's source package), and the argv
 * that runs the bundle with it exactly as /usr/bin/natnow does.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./fixtures.ts";

/** Where scripts/setup.sh keeps the tools it builds. */
export const toolsDir = join(process.env.NATNOW_CACHE ?? "/var/cache/natnow", "tools");

/** The native qjs; throws when setup.sh has not built it. */
export function qjsPath(): string {
  const p = process.env.NATNOW_QJS ?? join(toolsDir, "qjs");
  if (!existsSync(p)) throw new Error(`${p} is missing: run 'bash scripts/setup.sh' (it builds qjs from Debian's quickjs source)`);
  return p;
}

/** The command line of `natnow ARGS...` on the router (openwrt-feed/natnow/files/natnow.wrapper). */
export function natnowArgv(...args: string[]): string[] {
  return [qjsPath(), "--std", "-m", join(repoRoot, "dist", "natnow.js"), ...args];
}
