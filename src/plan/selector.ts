/** Selectors: sets of conntrack entries named by the fields the kernel keeps (docs/architecture.md, "Selectors"). */

import { type AddrMatch, addrMatchText, type PortMatch, portMatchText } from "../net/match.ts";
import { protoName } from "../net/proto.ts";

/** What to do with the selected flows. */
export type Action = "renew" | "revoke";

/** Conditions on a conntrack entry's tuples and status. */
export interface FlowMatch {
  family: 4 | 6;
  /** IP protocol number; null = any. */
  proto: number | null;
  origSrc: AddrMatch;
  origDst: AddrMatch;
  origSport: PortMatch;
  origDport: PortMatch;
  replySrc: AddrMatch;
  replyDst: AddrMatch;
  replySport: PortMatch;
  replyDport: PortMatch;
  /** Entry has (true) / has not (false) a destination NAT; null = either. */
  dnat: boolean | null;
  /** Entry has (true) / has not (false) a source NAT; null = either. */
  snat: boolean | null;
  /** Entry has (true) / has not (false) seen a reply; null = either. */
  replied: boolean | null;
  /** The entry's conntrack mark, masked, equals `value` (mwan3's interface marks); absent = any mark. */
  mark?: MarkMatch;
}

/** A conntrack mark condition: `mark & mask == value`, as conntrack-tools' `--mark VALUE/MASK`. */
export interface MarkMatch {
  value: number;
  mask: number;
}

/** A mark condition as conntrack-tools writes it: `0x100/0x3f00`. */
export function markText(m: MarkMatch): string {
  return `0x${(m.value >>> 0).toString(16)}/0x${(m.mask >>> 0).toString(16)}`;
}

/** A set of conntrack entries, with what to do with them and why. */
export interface Selector extends FlowMatch {
  action: Action;
  /** The change it comes from, e.g. `redirect 'SIP' added`. */
  reason: string;
  /**
   * Entries to leave alone although they match: those a rule of the new
   * config translates exactly as the removed rule did.
   */
  keep: FlowMatch[];
}

/** An address match that matches everything. */
export const ANY_ADDR: AddrMatch = { pos: [], neg: [] };

/** A port match that matches everything. */
export const ANY_PORT: PortMatch = { pos: [], neg: [] };

/** The conditions of a match, one word group each. */
function matchParts(s: FlowMatch): string[] {
  const parts = [`ipv${s.family}`, s.proto === null ? "any" : protoName(s.proto)];
  const field = (name: string, text: string) => {
    if (text) parts.push(`${name} ${text}`);
  };
  field("src", addrMatchText(s.origSrc));
  field("dst", addrMatchText(s.origDst));
  field("sport", portMatchText(s.origSport));
  field("dport", portMatchText(s.origDport));
  field("reply-src", addrMatchText(s.replySrc));
  field("reply-dst", addrMatchText(s.replyDst));
  field("reply-sport", portMatchText(s.replySport));
  field("reply-dport", portMatchText(s.replyDport));
  if (s.dnat !== null) parts.push(s.dnat ? "dnat" : "!dnat");
  if (s.snat !== null) parts.push(s.snat ? "snat" : "!snat");
  if (s.replied !== null) parts.push(s.replied ? "replied" : "unreplied");
  if (s.mark) parts.push(`mark ${markText(s.mark)}`);
  return parts;
}

/**
 * One line of text for a selector: `ipv4 udp src !198.18.1.0/24 dport 5060
 * unreplied`; what it keeps follows with only the conditions it adds
 * (`except [reply-src 198.18.1.20 reply-sport 5060 dnat]`).
 */
export function describeSelector(s: Selector): string {
  const own = matchParts(s);
  const keeps = s.keep.map((k) => ` except [${matchParts(k).filter((p) => own.indexOf(p) < 0).join(" ") || "all of it"}]`);
  return own.join(" ") + keeps.join("");
}

/** A stable key for de-duplicating selectors (the reason is not part of it). */
export function selectorKey(s: Selector): string {
  const { reason: _reason, ...rest } = s;
  return JSON.stringify(rest);
}
