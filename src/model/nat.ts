/** The NAT model: what a firewall4 configuration (firewall/) or the kernel's ruleset (ruleset/) says NAT does, resolved against runtime facts. */

import type { AddrMatch, PortMatch, PortRange } from "../net/match.ts";

/** What a NAT rule does: fw4's redirect/nat targets and zone masquerading. */
export type NatAction = "dnat" | "redirect" | "snat" | "masquerade" | "accept";

/** Which nat hook the rule lives in. */
export type NatHook = "dstnat" | "srcnat";

/** One rule fw4 emits into a nat chain (one family, one protocol, one address group). */
export interface NatRule {
  /** fw4's comment for it, e.g. `SIP (reflection)`. */
  label: string;
  hook: NatHook;
  action: NatAction;
  /** 0 = both families (an address-less rule with `family any`). */
  family: 0 | 4 | 6;
  /** nft protocol name; null = any protocol. */
  proto: string | null;
  /** dstnat: the zone packets come in from; srcnat: the zone they leave through (null = all). */
  zone: string | null;
  /** Source addresses (before NAT). */
  src: AddrMatch;
  /** Destination addresses as the chain sees them (srcnat: after DNAT). */
  dst: AddrMatch;
  sport: PortMatch;
  dport: PortMatch;
  /** The address translated to (null: the router's own, for `redirect`/`masquerade`). */
  toAddr: string | null;
  toPort: PortRange | null;
  /** Why conntrack fields cannot describe the rule's flows exactly, if so. */
  unbounded: string | null;
  /** What natnow cannot match an unbounded rule by (a live rule's expressions, a section's MAC or mark): a change there is still a change. */
  opaque?: string;
  /** A live srcnat rule's `ct status dnat` (true) or `ct status & dnat == 0` (false). */
  dnatStatus?: boolean;
  /** A rule of nat output: it translates flows the router itself starts (their source is one of its addresses). */
  local?: true;
}

/** A zone's NAT-relevant facts. */
export interface ZoneModel {
  name: string;
  family: 0 | 4 | 6;
  masq: boolean;
  masq6: boolean;
  /** The zone's subnets (networks' prefixes and `subnet` option), canonical prefixes. */
  subnets: string[];
  /** The router's own addresses in the zone (host prefixes). */
  addresses: string[];
  /** Devices matching the zone. */
  devices: string[];
  /** A zone of the live ruleset matching every device but these (`oifname != "br-lan"`). */
  notDevices?: string[];
  /** Networks of the zone that the runtime facts know. */
  networks: string[];
  /** Networks the zone names that the runtime facts do not know. */
  unresolved: string[];
  /** The zone has no device or subnet to match traffic by. */
  empty: boolean;
  /**
   * Traffic of the zone can come from anywhere (it masquerades, or one of
   * its networks holds a default route), so its scope is "not any other zone".
   */
  upstream: boolean;
}

/** Kinds of configuration that produce NAT rules (`rule`: a live rule from outside fw4). */
export type SectionKind = "redirect" | "nat" | "zone" | "rule";

/** One NAT-producing unit of the config: a redirect, a nat section, or a zone's masquerading. */
export interface SectionModel {
  kind: SectionKind;
  /** fw4's section id: the name, or `@type[N]` for anonymous sections. */
  id: string;
  /** The `name` option (fw4 default: the id), or the zone name. */
  name: string;
  /** The section's raw options, for explaining changes. */
  options: Record<string, string | string[]>;
  /** The zones it depends on (its rules change when they do). */
  zones: string[];
  rules: NatRule[];
}

/** A section fw4 skips, with fw4's warning. */
export interface SkippedSection {
  kind: SectionKind;
  id: string;
  name: string;
  /** fw4's words. */
  reason: string;
  /** Switched off with `enabled '0'` (a clear wish), rather than skipped for an invalid value. */
  disabled: boolean;
}

/** A logical network the runtime facts know, as addresses. */
export interface NetworkModel {
  name: string;
  /** Its subnets (canonical prefixes). */
  subnets: string[];
  /** The router's own addresses on it (host prefixes). */
  addresses: string[];
}

/** The NAT model of one configuration. */
export interface NatModel {
  zones: ZoneModel[];
  /** Every network the facts know, in a zone or not. */
  networks: NetworkModel[];
  sections: SectionModel[];
  skipped: SkippedSection[];
  /** fw4's warnings, in fw4's words (`Section @redirect[0] (SIP) ...`). */
  warnings: string[];
}

/** All of the router's own addresses, on every network and zone it has, each once. */
export function routerAddresses(m: Pick<NatModel, "zones" | "networks">): string[] {
  return [...new Set([...m.networks.flatMap((n) => n.addresses), ...m.zones.flatMap((z) => z.addresses)])];
}
