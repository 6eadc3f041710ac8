/**
 * The /proc/net/natnow protocol (docs/kmod-protocol.md) as
 * pure functions: selectors to command writes, and the status text read back.
 */

import type { AddrMatch, PortMatch } from "../net/match.ts";
import type { FlowMatch, Selector } from "../plan/selector.ts";

/** natnow.ko's limits (natnow.h). */
const KMOD_LIMITS = { items: 64, selectorsPerArm: 64, except: 16, writeBytes: 4095 } as const;

/** Why a selector cannot be written for the kernel module. */
export class KmodEncodeError extends Error {}

function addrList(m: AddrMatch): string {
  return [...m.pos, ...m.neg.map((p) => "!" + p)].join(",");
}

function portList(m: PortMatch): string {
  const r = (x: { min: number; max: number }) => (x.min === x.max ? `${x.min}` : `${x.min}-${x.max}`);
  return [...m.pos.map(r), ...m.neg.map((x) => "!" + r(x))].join(",");
}

/** One selector in the module's syntax: `family=ipv4 proto=17 dport=5060 ...`. */
export function selectorLine(s: FlowMatch): string {
  const parts = [`family=ipv${s.family}`];
  if (s.proto !== null) parts.push(`proto=${s.proto}`);
  const fields: [string, AddrMatch | PortMatch, "a" | "p"][] = [
    ["src", s.origSrc, "a"], ["dst", s.origDst, "a"], ["sport", s.origSport, "p"], ["dport", s.origDport, "p"],
    ["reply-src", s.replySrc, "a"], ["reply-dst", s.replyDst, "a"],
    ["reply-sport", s.replySport, "p"], ["reply-dport", s.replyDport, "p"],
  ];
  for (const [key, m, kind] of fields) {
    const n = m.pos.length + m.neg.length;
    if (!n) continue;
    if (n > KMOD_LIMITS.items) throw new KmodEncodeError(`${key} lists ${n} items; the module takes ${KMOD_LIMITS.items}`);
    parts.push(`${key}=${kind === "a" ? addrList(m as AddrMatch) : portList(m as PortMatch)}`);
  }
  if (s.dnat !== null) parts.push(`dnat=${s.dnat ? 1 : 0}`);
  if (s.snat !== null) parts.push(`snat=${s.snat ? 1 : 0}`);
  if (s.replied !== null) parts.push(`replied=${s.replied ? 1 : 0}`);
  return parts.join(" ");
}

/**
 * The writes that carry out a plan: renew selectors as `arm` commands
 * (grouped, each write within a page), revoke selectors as `kill` commands
 * with their keep matches as `except` clauses.
 */
export function planWrites(selectors: readonly Selector[], opts: { ttl?: number; holdMs?: number } = {}): string[] {
  const writes: string[] = [];
  const armHead = opts.ttl ? `arm ttl=${opts.ttl}` : "arm";
  let group: string[] = [];
  const flush = () => {
    if (group.length) writes.push(`${armHead} ${group.join(" | ")}\n`);
    group = [];
  };
  for (const s of selectors.filter((x) => x.action === "renew")) {
    const line = selectorLine(s);
    const next = `${armHead} ${[...group, line].join(" | ")}\n`;
    if (group.length >= KMOD_LIMITS.selectorsPerArm || next.length > KMOD_LIMITS.writeBytes) flush();
    group.push(line);
  }
  flush();
  for (const s of selectors.filter((x) => x.action === "revoke")) {
    if (s.keep.length > KMOD_LIMITS.except) {
      throw new KmodEncodeError(`a revoke keeps ${s.keep.length} matches; the module takes ${KMOD_LIMITS.except}`);
    }
    const hold = opts.holdMs === undefined ? "" : ` hold=${opts.holdMs}`;
    const line = `kill${hold} ${[selectorLine(s), ...s.keep.map(selectorLine)].join(" except ")}\n`;
    if (line.length > KMOD_LIMITS.writeBytes) throw new KmodEncodeError("a kill command is longer than a page");
    writes.push(line);
  }
  return writes;
}

/** What /proc/net/natnow says. */
export interface KmodStatus {
  version: number;
  armed: number;
  scopes: string[];
  counters: Record<string, number>;
}

/** Reads the status text; null when it is not natnow's format. */
export function parseStatus(text: string): KmodStatus | null {
  const lines = text.split("\n");
  const m = /^natnow ([0-9]+)$/.exec(lines[0] ?? "");
  if (!m) return null;
  const status: KmodStatus = { version: Number(m[1]), armed: 0, scopes: [], counters: {} };
  for (const l of lines.slice(1)) {
    const [key, ...rest] = l.split(" ");
    const v = rest.join(" ");
    if (key === "armed") status.armed = Number(v);
    else if (key === "scope") status.scopes.push(rest.slice(1).join(" "));
    else if (key && /^[0-9]+$/.test(v)) status.counters[key] = Number(v);
  }
  return status;
}
