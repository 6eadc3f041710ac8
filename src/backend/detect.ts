/** Which backend to use: kmod › conntrack › procfs, or the one asked for. */

import type { Host } from "../host/host.ts";
import type { BackendChoice } from "../config/policy.ts";
import { readKmodStatus } from "./kmod.ts";
import type { BackendName } from "./result.ts";
import { KMOD_PATH, PROCFS_PATH } from "../base/paths.ts";

/** What the machine offers, each backend with why it is (not) usable. */
export interface Availability {
  kmod: { ok: boolean; why: string };
  conntrack: { ok: boolean; why: string };
  procfs: { ok: boolean; why: string };
}

/** The backend picked, or null with the reason none is usable. */
export interface Detection {
  backend: BackendName | null;
  reason: string;
  available: Availability;
}

/** Where the kernel files are (tests point them elsewhere). */
export interface DetectPaths {
  kmod: string;
  procfs: string;
}

/** The real paths. */
const DEFAULT_PATHS: DetectPaths = { kmod: KMOD_PATH, procfs: PROCFS_PATH };

/**
 * Looks at what the machine has. The procfs backend counts only when the
 * policy accepts its collateral (it deletes by address).
 */
export function availability(host: Host, procfsCollateral: boolean, paths: DetectPaths = DEFAULT_PATHS): Availability {
  const st = readKmodStatus(host, paths.kmod);
  const ct = host.findProgram("conntrack");
  const proc = host.exists(paths.procfs);
  return {
    kmod: st
      ? { ok: true, why: `natnow.ko loaded (protocol ${st.version})` }
      : { ok: false, why: `natnow.ko not loaded (no ${paths.kmod}); install kmod-natnow` },
    conntrack: ct
      ? { ok: true, why: `conntrack-tools at ${ct}` }
      : { ok: false, why: "conntrack-tools not installed (no conntrack command); install conntrack" },
    procfs: !proc
      ? { ok: false, why: `${paths.procfs} missing` }
      : procfsCollateral
      ? { ok: true, why: `${paths.procfs} present (deletes by address on OpenWrt's kernels)` }
      : { ok: false, why: `${paths.procfs} deletes by address only; allow it with procfs_collateral '1'` },
  };
}

const ORDER: readonly BackendName[] = ["kmod", "conntrack", "procfs"];

/** Picks the backend: the first usable in kmod › conntrack › procfs order, or exactly the one asked for. */
export function pickBackend(a: Availability, choice: BackendChoice): Detection {
  if (choice !== "auto") {
    const x = a[choice];
    return x.ok
      ? { backend: choice, reason: `asked for; ${x.why}`, available: a }
      : { backend: null, reason: `backend '${choice}' asked for, but ${x.why}`, available: a };
  }
  for (const b of ORDER) if (a[b].ok) return { backend: b, reason: a[b].why, available: a };
  return { backend: null, reason: `no backend usable: ${ORDER.map((b) => a[b].why).join("; ")}`, available: a };
}
