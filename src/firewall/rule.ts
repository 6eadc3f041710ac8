/**
 * A NAT rule in words, and its identity: what it matches and does, without
 * its label (a rename changes no flow) and with its zone as the devices the
 * zone matches (so a rule read from the live ruleset and the same rule
 * modelled from UCI are one rule).
 */

import { type AddrMatch, addrMatchText as addrs, type PortMatch, portMatchText as ports, portRangeText } from "../net/match.ts";
import type { NatRule, ZoneModel } from "../model/nat.ts";

/** A rule in words: `dstnat ipv4 udp from wan dport 5060 dnat 198.18.1.20:5060`. */
export function describeRule(r: NatRule): string {
  const parts: string[] = [r.local ? `${r.hook} local` : r.hook];
  if (r.family) parts.push(`ipv${r.family}`);
  if (r.proto !== null) parts.push(r.proto);
  if (r.zone !== null) parts.push(`${r.hook === "dstnat" ? "from" : "to"} ${r.zone}`);
  const field = (name: string, text: string) => {
    if (text) parts.push(`${name} ${text}`);
  };
  field("src", addrs(r.src));
  field("dst", addrs(r.dst));
  field("sport", ports(r.sport));
  field("dport", ports(r.dport));
  if (r.dnatStatus !== undefined) parts.push(r.dnatStatus ? "ct-dnat" : "ct-!dnat");
  let to = r.toAddr ?? "";
  if (r.toPort) {
    to = `${to.indexOf(":") >= 0 ? `[${to}]` : to}:${portRangeText(r.toPort)}`;
  }
  parts.push(to ? `${r.action} ${to}` : r.action);
  if (r.unbounded) parts.push(`(${r.unbounded})`);
  return parts.join(" ");
}

/** What a zone matches, for identities: its devices, or its name when it has none. */
function zoneKey(z: ZoneModel | undefined, name: string): string {
  if (!z) return `zone ${name}`;
  if (z.notDevices) return `!${[...z.notDevices].sort().join(",")}`;
  return z.devices.length ? [...new Set(z.devices)].sort().join(",") : `zone ${name}`;
}

const sorted = (m: AddrMatch): AddrMatch => ({ pos: [...m.pos].sort(), neg: [...m.neg].sort() });
const sortedPorts = (m: PortMatch): PortMatch => {
  const cmp = (a: { min: number; max: number }, b: { min: number; max: number }) => a.min - b.min || a.max - b.max;
  return { pos: [...m.pos].sort(cmp), neg: [...m.neg].sort(cmp) };
};

/** A rule's identity: everything but its label, its zone as devices, lists in order. */
export function ruleIdentity(r: NatRule, zones: readonly ZoneModel[]): string {
  const zone = r.zone === null ? null : zoneKey(zones.find((z) => z.name === r.zone), r.zone);
  return JSON.stringify([
    r.hook, r.action, r.family, r.proto, zone, sorted(r.src), sorted(r.dst), sortedPorts(r.sport),
    sortedPorts(r.dport), r.toAddr, r.toPort, r.unbounded, r.opaque ?? null, r.dnatStatus ?? null, r.local ?? false,
  ]);
}
