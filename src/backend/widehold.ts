/**
 * The wide hold: what stands in for the exact holds (holds.ts) while a
 * one-walk revoke (onewalk.ts) deletes flows it has not listed. An exact
 * hold names each revoked client, which only a listing can tell; the wide
 * hold names the old peer (the revoked flows' reply source address and
 * port) and, where the `-D` filter names it, the clients' side, and drops
 * the packets that would create a new entry from it there. That is the old
 * peer re-creating a reversed entry: its packets to a client whose entry
 * is gone come as new. Its packets of entries that stay are established
 * and pass, and so do its new flows from other ports or to other places.
 *
 * It lives in base chains of its own in `table inet natnow_hold`, beside
 * the exact holds' chains, and keys its rules on a set whose element times
 * out: a run that dies between the install and the drop leaves a rule that
 * matches nothing once the element is gone. The drop goes in the same nft
 * transaction as the exact holds, so the old peer is never unheld between.
 */

import type { FilterField } from "./conntrack.ts";
import type { ExactFilter } from "./exact.ts";
import { protoName } from "../net/proto.ts";

const T = "inet natnow_hold";

/** The wide hold's base chains (prerouting: the old peer behind the router; output: the router itself). */
const CHAINS = ["wide_pre", "wide_out"] as const;

/** One old peer held off, with the clients' side where the filter names it. */
export interface WideHold {
  family: 4 | 6;
  proto: number;
  /** The old peer: the reply source address and port. */
  addr: string;
  port: number;
  /** Where its re-creating packets go: the clients' address (a host or prefix) and port; null: anywhere. */
  daddr: string | null;
  dport: number | null;
}

/**
 * The clients' side of the reply tuple as a filter names it: the reply
 * destination; where the filter leaves that open and the entries have no
 * source NAT, the original source (an entry without source NAT replies to
 * it). A source-NATed entry replies to its NAT address, the router's own,
 * where a reversed entry would pin no client, so it needs no hold there.
 */
function clientSide(f: ExactFilter): { daddr: string | null; dport: number | null } {
  const v = f.values;
  const num = (k: FilterField) => (v[k] === undefined ? null : Number(v[k]));
  if (v["reply-dst"] !== undefined || v["reply-dport"] !== undefined) return { daddr: v["reply-dst"] ?? null, dport: num("reply-dport") };
  if (f.snat === true) return { daddr: null, dport: null };
  return { daddr: v.src ?? null, dport: num("sport") };
}

/** The wide holds a one walk's filters need (protocols without ports have no holds, as in holds.ts). */
export function wideHolds(filters: readonly ExactFilter[]): WideHold[] {
  const out = new Map<string, WideHold>();
  for (const f of filters) {
    const addr = f.values["reply-src"];
    const port = f.values["reply-sport"];
    if (addr === undefined || port === undefined) continue;
    const h: WideHold = { family: f.family, proto: f.proto, addr, port: Number(port), ...clientSide(f) };
    out.set(JSON.stringify(h), h);
  }
  return [...out.values()];
}

/** The wide hold's set of one family. */
const setName = (family: 4 | 6) => `wide${family}`;

/** The families the holds are of. */
const families = (holds: readonly WideHold[]) => [...new Set(holds.map((h) => h.family))].sort();

/** The nft rule of one wide hold (in each chain). */
function holdRule(h: WideHold): string {
  const ip = h.family === 4 ? "ip" : "ip6";
  const to = [h.daddr === null ? "" : ` ${ip} daddr ${h.daddr}`, h.dport === null ? "" : ` th dport ${h.dport}`].join("");
  return `ct state new meta l4proto ${h.proto} ${ip} saddr ${h.addr} th sport ${h.port}${to} ` +
    `meta l4proto . ${ip} saddr . th sport @${setName(h.family)} counter drop`;
}

/** The nft script that installs the wide holds, each element timing out after `ms` (null: no holds). */
export function wideHoldScript(holds: readonly WideHold[], ms: number): string | null {
  if (!holds.length) return null;
  const fams = families(holds);
  const lines = [
    `table ${T} {`,
    ...fams.map((f) => `  set ${setName(f)} { type inet_proto . ipv${f}_addr . inet_service; flags timeout; }`),
    "  chain wide_pre { type filter hook prerouting priority -150; policy accept; }",
    "  chain wide_out { type filter hook output priority -150; policy accept; }",
    "}",
    ...CHAINS.map((c) => `flush chain ${T} ${c}`),
    ...fams.map((f) => `flush set ${T} ${setName(f)}`),
  ];
  for (const f of fams) {
    const mine = holds.filter((h) => h.family === f);
    const el = [...new Set(mine.map((h) => `${protoName(h.proto)} . ${h.addr} . ${h.port} timeout ${ms}ms`))];
    lines.push(`add element ${T} ${setName(f)} { ${el.join(", ")} }`);
  }
  for (const h of holds) for (const c of CHAINS) lines.push(`add rule ${T} ${c} ${holdRule(h)}`);
  return lines.join("\n") + "\n";
}

/** The nft lines that drop the wide holds `wideHoldScript` installed. */
export function wideHoldDrop(holds: readonly WideHold[]): string {
  if (!holds.length) return "";
  const lines = CHAINS.flatMap((c) => [`flush chain ${T} ${c}`, `delete chain ${T} ${c}`]);
  for (const f of families(holds)) lines.push(`delete set ${T} ${setName(f)}`);
  return lines.join("\n") + "\n";
}
