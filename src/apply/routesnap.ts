/**
 * The routing part of the snapshot, read only where mwan3 is configured
 * (`uci export mwan3` answers): mwan3's config, its interfaces' states
 * (`ubus call mwan3 status`, and the hotplug states its policies are
 * built from, /var/run/mwan3/iface_state/NAME), the mark mask in effect
 * (/var/run/mwan3/mmx_mask), and the conntrack table with marks. A read
 * that fails is said; the routing plan then moves nothing.
 */

import type { Host } from "../host/host.ts";
import type { Flow } from "../conntrack/flow.ts";
import { parseTable } from "../conntrack/parse.ts";
import { utf8Decode, utf8Encode } from "../base/utf8.ts";
import { failure } from "./snapshot.ts";

/** mwan3's run-time directory (mwan3.sh MWAN3_STATUS_DIR). */
const MWAN3_RUN = "/var/run/mwan3";

/** What the routing plan reads. */
export interface RoutingInput {
  /** `uci export mwan3`'s text. */
  config: Uint8Array;
  /** `ubus call mwan3 status` (section interfaces), or null with `warnings` saying why. */
  status: string | null;
  /** The hotplug states found, by interface name. */
  hotplug: Map<string, string>;
  /** The mask mwan3 started with, when it wrote it down. */
  mmxMask: number | null;
  /** The conntrack table (both families), or null when it could not be listed. */
  flows: Flow[] | null;
  warnings: string[];
}

const UCI = ["uci", "export", "mwan3"];
const STATUS = ["ubus", "call", "mwan3", "status", '{"section":"interfaces"}'];
const LIST = (f: 4 | 6) => ["conntrack", "-L", "-f", `ipv${f}`, "-o", "extended,id"];

/** The interface section names of an mwan3 export (`config interface 'NAME'`). */
function interfaceNames(text: string): string[] {
  const out: string[] = [];
  const re = /^config interface '([A-Za-z0-9_]+)'/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]);
  return out;
}

/** Reads the routing input; null where mwan3 is not configured (or uci is missing). */
export function readRouting(host: Host): RoutingInput | null {
  const [uci, status, l4, l6] = host.execAll([UCI, STATUS, LIST(4), LIST(6)]);
  if (uci.status !== 0) return null;
  const warnings: string[] = [];
  const text = uci.stdout;
  const hotplug = new Map<string, string>();
  for (const n of interfaceNames(text)) {
    const b = host.readFile(`${MWAN3_RUN}/iface_state/${n}`);
    if (b !== null) hotplug.set(n, utf8Decode(b));
  }
  const maskFile = host.readFile(`${MWAN3_RUN}/mmx_mask`);
  const maskText = maskFile === null ? "" : utf8Decode(maskFile).trim();
  const mmxMask = /^(0x[0-9a-fA-F]{1,8}|[0-9]{1,10})$/.test(maskText) ? Number(maskText) >>> 0 : null;
  if (status.status !== 0) warnings.push(`mwan3's interface states: ${failure(STATUS, status)}`);
  let flows: Flow[] | null = [];
  for (const [argv, r] of [[LIST(4), l4], [LIST(6), l6]] as const) {
    if (r.status !== 0) {
      warnings.push(`cannot list the flows: ${failure(argv, r)}`);
      flows = null;
      break;
    }
    const t = parseTable(r.stdout);
    // not push(...): QuickJS takes at most 65535 arguments
    for (const f of t.flows) flows.push(f);
    if (t.problems.length) warnings.push(`conntrack -L: ${t.problems.length} line(s) unread (${t.problems[0].reason})`);
  }
  return { config: utf8Encode(text), status: status.status === 0 ? status.stdout : null, hotplug, mmxMask, flows, warnings };
}
