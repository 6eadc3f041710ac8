/**
 * Holds: after natnow revokes a flow, its old peer must not re-create a
 * reversed entry that pins the client again. One nft set per old peer
 * (address, port) in the table `inet natnow_hold` refuses new entries from
 * it to the places its packets went. A hold of a forward that is gone
 * lasts as long as the client keeps sending (a tombstone).
 */

import { type Flow, flowMatches } from "../conntrack/flow.ts";
import type { Host } from "../host/host.ts";
import { formatIp } from "../net/ip.ts";
import { PORT_PROTOS, protoName } from "../net/proto.ts";
import { ANY_ADDR, ANY_PORT, type Selector } from "../plan/selector.ts";

/** The nft table that holds revoked flows' old peers off. */
const HOLD_TABLE = "natnow_hold";

/**
 * Revoked flows' holds, one nft set per old peer (address, port): the
 * places its packets went (the reply tuple's destination). A new entry from
 * the old peer to one of them is refused, so its next packet cannot create
 * a reversed entry that pins the client again. A `refresh` set is for a
 * forward that is gone: the client's own packets keep its element alive,
 * so the hold lasts as long as the client sends, and then the set's
 * timeout more (what a tombstone entry in conntrack would do, in one nft
 * command instead of a process per flow).
 */
export interface HoldSet {
  name: string;
  family: 4 | 6;
  proto: number;
  addr: string;
  port: number;
  refresh: boolean;
  /** Address and port the old peer sent to, with how long (ms) to hold it. */
  elements: { addr: string; port: number; ms: number }[];
}

/** A hold set's name: everything its rules need, so a later run can rebuild them from the name alone. */
export function holdSetName(refresh: boolean, family: 4 | 6, proto: number, addr: string, port: number): string {
  return `${refresh ? "t" : "h"}${family}_${proto}_${addr.replace(/[.:]/g, "_")}_${port}`;
}

/** Reads a hold set's name back; null when it is not one of natnow's. */
export function parseHoldSetName(name: string): Omit<HoldSet, "elements"> | null {
  const m = /^([th])([46])_([0-9]{1,3})_([0-9a-f_]+)_([0-9]{1,5})$/.exec(name);
  if (!m) return null;
  const family = m[2] === "4" ? 4 : 6;
  return {
    name, family, refresh: m[1] === "t", proto: Number(m[3]), port: Number(m[5]),
    addr: m[4].replace(/_/g, family === 4 ? "." : ":"),
  };
}

/** Groups revoked flows into hold sets; `refreshMs` for flows whose forward is gone, `holdMs` for the others. */
export function holdSets(
  flows: readonly { flow: Flow; refresh: boolean }[], holdMs: number, refreshMs: number,
): HoldSet[] {
  const sets = new Map<string, HoldSet>();
  for (const { flow: f, refresh } of flows) {
    if (f.reply.sport === null || f.reply.dport === null || PORT_PROTOS.indexOf(f.proto) < 0) continue;
    const addr = formatIp(f.reply.src);
    const name = holdSetName(refresh, f.family, f.proto, addr, f.reply.sport);
    let set = sets.get(name);
    if (!set) {
      set = { name, family: f.family, proto: f.proto, addr, port: f.reply.sport, refresh, elements: [] };
      sets.set(name, set);
    }
    set.elements.push({ addr: formatIp(f.reply.dst), port: f.reply.dport, ms: refresh ? refreshMs : holdMs });
  }
  return [...sets.values()];
}

/** The names of natnow's hold sets in an `nft list table inet natnow_hold` listing, and which are empty. */
export function listedHoldSets(listing: string): { name: string; empty: boolean }[] {
  const out: { name: string; empty: boolean }[] = [];
  const re = /\bset ([A-Za-z0-9_]+) \{([^}]*)\}/g;
  for (let m = re.exec(listing); m; m = re.exec(listing)) {
    if (parseHoldSetName(m[1])) out.push({ name: m[1], empty: m[2].indexOf("elements") < 0 });
  }
  return out;
}

/**
 * The nft script that adds the new holds. The base chains are rebuilt for
 * every set (those of earlier runs keep their elements and their rules);
 * earlier sets that have emptied are deleted.
 */
export function holdScript(sets: readonly HoldSet[], existing: readonly { name: string; empty: boolean }[], refreshMs: number): string | null {
  if (!sets.length) return null;
  const T = `inet ${HOLD_TABLE}`;
  const fresh = new Set(sets.map((s) => s.name));
  const keep = existing.filter((e) => !e.empty || fresh.has(e.name)).map((e) => e.name);
  const all = [...new Set([...keep, ...fresh])].map(parseHoldSetName).filter((x) => x !== null);
  const lines = [
    `table ${T} {`,
    "  chain pre { type filter hook prerouting priority -150; policy accept; }",
    "  chain out { type filter hook output priority -150; policy accept; }",
    "}",
    `flush chain ${T} pre`,
    `flush chain ${T} out`,
  ];
  for (const e of existing) if (e.empty && !fresh.has(e.name)) lines.push(`delete set ${T} ${e.name}`);
  for (const s of sets) {
    lines.push(`add set ${T} ${s.name} { type inet_proto . ipv${s.family}_addr . inet_service; flags dynamic,timeout; size 65535; }`);
  }
  for (const s of all) {
    const ip = s.family === 4 ? "ip" : "ip6";
    const block = `ct state new meta l4proto ${s.proto} ${ip} saddr ${s.addr} th sport ${s.port} ` +
      `meta l4proto . ${ip} daddr . th dport @${s.name} counter drop`;
    lines.push(`add rule ${T} pre ${block}`, `add rule ${T} out ${block}`);
    if (s.refresh) {
      lines.push(`add rule ${T} pre meta l4proto . ${ip} saddr . th sport @${s.name} ` +
        `update @${s.name} { meta l4proto . ${ip} saddr . th sport timeout ${refreshMs}ms }`);
    }
  }
  for (const s of sets) {
    const el = s.elements.map((e) => `${protoName(s.proto)} . ${e.addr} . ${e.port} timeout ${e.ms}ms`);
    lines.push(`add element ${T} ${s.name} { ${el.join(", ")} }`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Whether a revoked flow's forward is gone for its client: no added rule
 * (a renew selector's original-direction fields) translates the client's
 * tuple again. Then its hold lasts as long as the client keeps sending:
 * behind fw4's rejecting input the client's own new entries never get
 * confirmed, so nothing else would keep the old peer from pinning it.
 */
export function needsTombstone(f: Flow, selectors: readonly Selector[]): boolean {
  const asNew = { ...f, replied: false, dnat: false, snat: false };
  return !selectors.some((s) =>
    s.action === "renew" &&
    flowMatches({
      ...s, replySrc: ANY_ADDR, replyDst: ANY_ADDR, replySport: ANY_PORT, replyDport: ANY_PORT,
      dnat: null, snat: null, replied: null,
    }, asNew)
  );
}

/**
 * natnow's hold sets in a ruleset as `nft -j list ruleset` prints it (the
 * run's snapshot), and which are empty; null when the text is no ruleset.
 */
export function holdSetsInRuleset(json: string): { name: string; empty: boolean }[] | null {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return null;
  }
  const list = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(list)) return null;
  const out: { name: string; empty: boolean }[] = [];
  for (const x of list as { set?: { family?: string; table?: string; name?: string; elem?: unknown[] } }[]) {
    const set = x.set;
    if (!set || set.family !== "inet" || set.table !== HOLD_TABLE || !set.name || !parseHoldSetName(set.name)) continue;
    out.push({ name: set.name, empty: !set.elem || !set.elem.length });
  }
  return out;
}

/**
 * Installs holds for revoked flows (`refreshMs` for flows whose forward is
 * gone, `holdMs` for the others); `existing`: the hold sets there are
 * (from the run's snapshot), else listed with nft; `also`: nft lines for
 * the same transaction (a wide hold's drop: widehold.ts). Returns what
 * failed, or null.
 */
export function installHolds(
  host: Host, flows: readonly { flow: Flow; refresh: boolean }[], holdMs: number, refreshMs: number,
  existing?: readonly { name: string; empty: boolean }[] | null, also = "",
): string | null {
  const sets = holdMs > 0 ? holdSets(flows, holdMs, refreshMs) : [];
  if (!sets.length && !also) return null;
  if (!host.findProgram("nft")) return "nft is missing: revoked flows are not held against their old peer";
  let known = existing ?? null;
  if (known === null && sets.length) {
    const listing = host.exec(["nft", "list", "table", "inet", HOLD_TABLE]);
    known = listing.status === 0 ? listedHoldSets(listing.stdout) : [];
  }
  const script = (holdScript(sets, known ?? [], refreshMs) ?? "") + also;
  const r = host.exec(["nft", "-f", "-"], { input: script });
  return r.status === 0 ? null : `nft hold failed: ${r.stderr.trim()}`;
}
