/**
 * Which mwan3 interfaces the policies use now. mwan3 builds each policy
 * from its interfaces' hotplug state (/var/run/mwan3/iface_state/NAME:
 * `online` after ifup and connected, `offline` after disconnected and
 * ifdown); `ubus call mwan3 status` (its rpcd ucode) tells mwan3track's
 * view: `status` (online, offline, disconnecting, connecting, disabled,
 * unknown), `up` (netifd), `online` (seconds since it came online). The
 * hotplug state wins where it was read; mwan3track's view stands in for it
 * otherwise (disconnecting is still online for the policies, connecting
 * not yet).
 */

/** One interface's state as far as the policies go. */
export interface IfaceState {
  online: boolean;
  /** Seconds it has been online (mwan3track's count), null when unknown. */
  onlineFor: number | null;
}

/** The interfaces' states by name, or why `ubus call mwan3 status` could not be read. */
export type StatusRead = { ok: Map<string, IfaceState> } | { error: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads `ubus call mwan3 status` (any section holding `interfaces`), with the hotplug states read from files (name → text). */
export function readMwan3Status(text: string | null, hotplug: ReadonlyMap<string, string> = new Map()): StatusRead {
  const out = new Map<string, IfaceState>();
  if (text !== null) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return { error: "ubus call mwan3 status: not JSON" };
    }
    if (!isObj(v) || !isObj(v.interfaces)) return { error: "ubus call mwan3 status: no 'interfaces' object" };
    for (const [name, i] of Object.entries(v.interfaces)) {
      if (!isObj(i)) continue;
      const status = typeof i.status === "string" ? i.status : "unknown";
      const up = i.up === true;
      const enabled = i.enabled !== false;
      // tracking off: mwan3 sets the interface online on ifup (initial_state online)
      const online = enabled && up && (status === "online" || status === "disconnecting" || status === "disabled");
      const secs = typeof i.online === "number" && i.online >= 0 ? i.online : null;
      out.set(name, { online, onlineFor: online ? secs : null });
    }
  } else if (!hotplug.size) {
    return { error: "neither ubus call mwan3 status nor mwan3's hotplug states could be read" };
  }
  for (const [name, state] of hotplug) {
    const s = state.trim();
    if (s !== "online" && s !== "offline") continue;
    const had = out.get(name);
    out.set(name, { online: s === "online", onlineFor: s === "online" ? had?.onlineFor ?? null : null });
  }
  return { ok: out };
}
