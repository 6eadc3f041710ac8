/**
 * The events the daemon listens to, as `ubus listen` prints them
 * (openwrt/ubus cli.c receive_event: `{ "TYPE": JSON }`, the JSON compact
 * as libubox's blobmsg_format_json writes it), which `nft monitor` and
 * `ip -o monitor route` lines matter, and a debouncer.
 */

import type { Host } from "../host/host.ts";
import type { NatRefs } from "../ruleset/refs.ts";

/** The event natnow's hotplug script sends when mwan3 or netifd moves a WAN (`{"interface":"wan","action":"disconnected"}`). */
export const ROUTE_EVENT = "natnow.route";

/** The hotplug actions the route event carries: mwan3track's connected and disconnected, netifd's ifup and ifdown. */
export const ROUTE_ACTIONS = ["connected", "disconnected", "ifup", "ifdown"] as const;

/** The event types the daemon listens to. */
export const EVENT_TYPES = ["natnow.reload", "network.interface", ROUTE_EVENT] as const;

/** One event: its type and data. */
export interface BusEvent {
  type: string;
  data: Record<string, unknown>;
}

/** Reads one `ubus listen` line; null for anything else. */
export function parseListenLine(line: string): BusEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const keys = Object.keys(v);
  if (keys.length !== 1) return null;
  const data = (v as Record<string, unknown>)[keys[0]];
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  return { type: keys[0], data: data as Record<string, unknown> };
}

/** What an event means in the run record: `fw4 reload`, `interface wan ifup`. */
export function describeEvent(e: BusEvent): string {
  if (e.type === "natnow.reload") {
    const what = typeof e.data.action === "string" ? e.data.action : "reload";
    return `fw4 ${what}`;
  }
  if (e.type === "network.interface") {
    const word = (v: unknown, d: string) => (typeof v === "string" ? v : d);
    return `interface ${word(e.data.interface, "?")} ${word(e.data.action, "event")}`;
  }
  if (e.type === ROUTE_EVENT) {
    const r = routeEvent(e);
    return r ? `mwan3 ${r.iface} ${r.action}` : "mwan3 event";
  }
  return e.type;
}

/** A route event's interface and action; null when it carries no known action or no plain interface name. */
export function routeEvent(e: BusEvent): { iface: string; action: (typeof ROUTE_ACTIONS)[number] } | null {
  if (e.type !== ROUTE_EVENT) return null;
  const { interface: iface, action } = e.data;
  if (typeof iface !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(iface)) return null;
  const a = ROUTE_ACTIONS.find((x) => x === action);
  return a ? { iface, action: a } : null;
}

/**
 * Whether a run's triggers include a routing change, the daemon's start or
 * a `natnow run` (the hotplug script's, when the daemon is down): then the
 * run lists the table and looks at mwan3's flows. A ruleset change alone
 * does not.
 */
export function routingTrigger(trigger: string): boolean {
  return /(^|, )(mwan3 |interface |default route changed|(start|run)($|,))/.test(trigger);
}

/** The verbs `nft monitor` starts a change with. */
const NFT_VERBS = new Set(["add", "delete", "replace", "flush", "destroy", "insert", "rename"]);

/**
 * Whether an `nft monitor` line is a ruleset change natnow must look at.
 * `nat`: the chains and sets the nat paths reached at the last run
 * (ruleset/refs.ts); null when unknown (no run yet, or the ruleset could
 * not be read), and then every change counts. With it, a change counts
 * when it is to a reached chain (its rules: iptables-nft's too, which are
 * nft rules of ip/ip6 tables), to a reached set or map (`add element`,
 * `delete element`, as banIP or a script update one), a new nat base chain
 * (a new table of NAT), or the deletion of a table holding either. Never
 * natnow's own hold table (its holds would wake it up again), the
 * monitor's generation comments, or the tables and sets no nat path names
 * (a 300k-element blocklist updated every hour).
 */
export function nftChange(line: string, nat: NatRefs | null = null): boolean {
  // VERB KIND FAMILY TABLE [NAME ...]: add rule inet fw4 dstnat ..., add element ip bltab bl { ... }
  const [verb, kind, family, table, name] = line.split(" ", 5);
  if (!NFT_VERBS.has(verb) || kind === undefined) return false;
  if (table === "natnow_hold") return false;
  if (nat === null) return true;
  const key = `${family} ${table} ${name}`;
  switch (kind) {
    case "table": {
      const prefix = `${family} ${table} `;
      const holds = (keys: Iterable<string>) => [...keys].some((k) => k.startsWith(prefix));
      return verb !== "add" && (holds(nat.chains) || holds(nat.sets));
    }
    case "chain":
      return nat.chains.has(key) || / \{ type nat hook /.test(line);
    case "rule":
      return nat.chains.has(key);
    case "set":
    case "map":
    case "element":
      return nat.sets.has(key);
    case "ruleset":
      return true;
    default:
      // flowtables, counters, quotas, ct helpers and timeouts: nothing NAT reads
      return false;
  }
}

/** The destinations that make a device upstream: a default route, and OpenVPN's halves of one (devices.ts). */
const DEFAULT_DSTS = new Set(["default", "0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"]);

/** Route types that send nothing out of a device (a unicast route has no type word). */
const NOT_OUT = new Set(["local", "broadcast", "multicast", "anycast", "unreachable", "blackhole", "prohibit", "throw", "nat"]);

/**
 * Whether an `ip -o monitor route` line moves an upstream: a default route
 * (of any table, ECMP or not, or a half of OpenVPN's split default) added,
 * replaced or deleted (`Deleted default via ...`). iproute2 prints a
 * replaced route once, as the new one. Other routes and typed ones
 * (`unreachable default table 8`, table local's) do not.
 */
export function routeChange(line: string): boolean {
  const words = line.replace(/^Deleted /, "").split(" ");
  if (words[0] === "unicast") words.shift();
  return !NOT_OUT.has(words[0]) && DEFAULT_DSTS.has(words[0]);
}

/** When the debouncer fires: `settleMs` after the first event of a quiet spell, `quietMs` of quiet within a burst, `maxMs` at most. */
export interface DebounceTiming {
  settleMs: number;
  quietMs: number;
  maxMs: number;
}

/** The settle time of a first event: fw4's ruleset and its include's announcement come within it. */
export const SETTLE_MS = 100;

/**
 * Fires on the leading edge and once more when a burst is over. The first
 * event after `quietMs` without a run fires `settleMs` later (a fw4 reload
 * is one atomic nft transaction, so the run sees all of it), with every
 * trigger seen by then. Events during or soon after that run wait until
 * they stop for `quietMs` (at most `maxMs` after the first of them), then
 * fire once: a storm is two runs, the second reading the state as it is
 * when the storm is over.
 */
export class Debouncer {
  private timer: number | null = null;
  private leading = false;
  private first = 0;
  private last = Number.NEGATIVE_INFINITY;
  private triggers: string[] = [];

  constructor(
    private readonly host: Host,
    private readonly timing: DebounceTiming,
    private readonly fire: (triggers: string[]) => void,
  ) {}

  /** Notes an event. */
  poke(trigger: string): void {
    const now = this.host.now();
    const { settleMs, quietMs, maxMs } = this.timing;
    if (this.triggers.indexOf(trigger) < 0) this.triggers.push(trigger);
    if (this.timer === null) {
      this.first = now;
      this.leading = now - this.last >= quietMs;
      this.schedule(this.leading ? settleMs : quietMs);
    } else if (!this.leading) {
      this.host.clearTimeout(this.timer);
      this.schedule(Math.max(0, Math.min(quietMs, this.first + maxMs - now)));
    }
  }

  private schedule(ms: number): void {
    this.timer = this.host.setTimeout(() => {
      this.timer = null;
      const t = this.triggers;
      this.triggers = [];
      this.fire(t);
      this.last = this.host.now();
    }, ms);
  }
}
