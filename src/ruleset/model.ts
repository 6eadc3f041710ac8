/**
 * The NAT model of the live ruleset: the same `NatModel` the fw4 model
 * builds from UCI, so the diff and the planner do not know where a rule came
 * from. A rule's device match becomes a zone (the fw4 zone with exactly
 * those devices, else one named by the match), fw4's comments give the UCI
 * names (`!fw4: SIP`, `!fw4: SIP (reflection)`, `!fw4: Masquerade IPv4 wan
 * traffic`), and a rule from anywhere else is named by its table, chain
 * and own comment or handle.
 */

import type { NatAction, NatModel, NatRule, NetworkModel, SectionKind, SectionModel, ZoneModel } from "../model/nat.ts";
import { describeRule } from "../firewall/rule.ts";
import { PORT_PROTOS, protoName } from "../net/proto.ts";
import type { DeviceFacts, Topology } from "./devices.ts";
import { type AddrMatch, intersectAddrs } from "../net/match.ts";
import { type DeviceMatch, joinReasons, type Terms } from "./terms.ts";
import type { LiveRule } from "./walk.ts";

const FW4 = "!fw4: ";

/** Where a live rule belongs: a section kind and name, and the rule's label. */
export function sectionOf(r: LiveRule): { kind: SectionKind; name: string; label: string } {
  if (r.comment !== null && r.comment.startsWith(FW4) && r.table === "fw4" && r.family === "inet") {
    const label = r.comment.slice(FW4.length);
    const masq = /^Masquerade IPv[46] (\S+) traffic$/.exec(label);
    if (masq && r.nat?.action === "masquerade") return { kind: "zone", name: masq[1], label };
    const refl = /^(.*) \(reflection\)$/.exec(label);
    if (refl) return { kind: "redirect", name: refl[1], label };
    return { kind: r.hook === "dstnat" ? "redirect" : "nat", name: label, label };
  }
  const own = r.comment !== null ? `"${r.comment}"` : `handle ${r.handle}`;
  const name = `${r.family} ${r.table} ${r.chain} ${own}`;
  return { kind: "rule", name, label: name };
}

/** Builds zones for device matches, and networks for devices. */
class Zones {
  readonly zones = new Map<string, ZoneModel>();
  readonly networks: NetworkModel[];
  private readonly devices: Map<string, DeviceFacts>;

  constructor(private readonly topo: Topology, private readonly masqOut: DeviceMatch[]) {
    this.devices = new Map(topo.devices.map((d) => [d.name, d]));
    this.networks = topo.devices.map((d) => ({ name: d.name, subnets: d.subnets, addresses: d.addresses }));
  }

  /** The zone of a device match (null: no device condition). */
  zoneFor(dir: "iifname" | "oifname", m: DeviceMatch): string | null {
    if (m.pos === null && !m.neg.length) return null;
    const pos = m.pos === null ? null : [...new Set(m.pos)].sort();
    const group = pos && this.topo.groups.find((g) => [...new Set(g.devices)].sort().join(",") === pos.join(","));
    const name = group ? group.name : pos ? `${dir} ${pos.join(",")}` : `${dir} != ${[...m.neg].sort().join(",")}`;
    if (this.zones.has(name)) return name;
    const names = pos ?? this.topo.devices.map((d) => d.name).filter((d) => m.neg.indexOf(d) < 0);
    const facts = names.map((n) => this.devices.get(n)).filter((d): d is DeviceFacts => d !== undefined);
    const masq = pos !== null && this.masqOut.some((o) => o.pos === null ? o.neg.every((d) => pos.indexOf(d) < 0) : o.pos.some((d) => pos.indexOf(d) >= 0));
    this.zones.set(name, {
      name,
      family: 0,
      masq: false,
      masq6: false,
      subnets: [...new Set(facts.flatMap((d) => d.subnets))],
      addresses: [...new Set(facts.flatMap((d) => d.addresses))],
      devices: pos ?? [],
      notDevices: pos === null ? [...m.neg].sort() : undefined,
      networks: facts.map((d) => d.name),
      unresolved: pos ? pos.filter((n) => !this.devices.has(n)) : [],
      empty: false,
      // traffic of a device match can come from anywhere when it excludes
      // devices, masquerades, or holds a default route
      upstream: pos === null || masq || (group?.upstream ?? false) || facts.some((d) => d.defaultRoute),
    });
    return name;
  }
}

/**
 * `fib daddr type local` as addresses: the destination is (not) one of the
 * router's own addresses, every device's; unknown addresses leave it wider.
 */
function localDst(t: Terms, own: readonly string[]): { dst: AddrMatch | null; unbounded: string | null } {
  if (t.local === null) return { dst: t.dst, unbounded: null };
  if (!own.length) return { dst: t.dst, unbounded: "matches fib daddr type local, and the router's addresses are unknown" };
  const dst = intersectAddrs(t.dst, t.local ? { pos: [...own], neg: [] } : { pos: [], neg: [...own] });
  return { dst, unbounded: null };
}

/** A live rule's identity beyond its fields: its expressions when unbounded, and its context (walk.ts). */
function opaqueOf(r: LiveRule, unbounded: string | null): string | undefined {
  if (unbounded) return JSON.stringify([r.canon, ...r.context]);
  return r.context.length ? JSON.stringify(r.context) : undefined;
}

/** The NatRules of one live rule: one per protocol it matches (none when it matches none of the router's addresses it asks for). */
function natRules(r: LiveRule, zones: Zones, label: string, own: readonly string[]): NatRule[] {
  const t = r.terms;
  const local = localDst(t, own);
  const dst = local.dst;
  if (dst === null) return [];
  let unbounded = joinReasons(t.unbounded, local.unbounded);
  // nat output: flows the router itself starts, whose source is one of its addresses (scope.ts)
  const out = r.nftHook === "output";
  const devices = (m: DeviceMatch) => m.pos !== null || m.neg.length > 0;
  // no input device in nat output: its name is "" (nft_meta_store_ifname), so `iifname != X` holds and `iifname X` does not
  if (out && t.iif.pos !== null && t.iif.pos.indexOf("") < 0) return [];
  if (out && devices(t.oif)) unbounded ??= "matches an output device in nat output";
  if (r.nftHook === "input") unbounded ??= "applies to traffic to the router itself (nat input)";
  if (!out && r.hook === "dstnat" && devices(t.oif)) unbounded ??= "matches an output device before routing";
  if (r.hook === "srcnat" && devices(t.iif)) unbounded ??= "matches the input device in srcnat";
  const zone = out ? null : zones.zoneFor(r.hook === "dstnat" ? "iifname" : "oifname", r.hook === "dstnat" ? t.iif : t.oif);
  const action: NatAction = r.nat === null ? "accept" : r.nat.action;
  const protos = t.protos === null ? [null] : t.protos;
  const opaque = opaqueOf(r, unbounded);
  return protos.map((p) => {
    const ports = p !== null && PORT_PROTOS.indexOf(p) >= 0;
    return {
      label,
      hook: r.hook,
      action,
      family: t.family,
      proto: p === null ? null : protoName(p),
      zone,
      src: t.src,
      dst,
      sport: ports ? t.sport : { pos: [], neg: [] },
      dport: ports ? t.dport : { pos: [], neg: [] },
      toAddr: r.nat?.toAddr ?? null,
      toPort: r.nat?.toPort ?? null,
      unbounded,
      // what natnow cannot read, and what decides before the rule, still tell one rule from another
      ...(opaque !== undefined ? { opaque } : {}),
      ...(t.dnat !== null ? { dnatStatus: t.dnat } : {}),
      ...(out ? { local: true as const } : {}),
    };
  });
}

/** The NAT model of the live rules, against the devices' addresses. */
export function rulesetModel(rules: readonly LiveRule[], topo: Topology): NatModel {
  const masqOut = rules.filter((r) => r.hook === "srcnat" && r.nat?.action === "masquerade").map((r) => r.terms.oif);
  const zones = new Zones(topo, masqOut);
  const own = [...new Set(topo.devices.flatMap((d) => d.addresses))];
  const sections = new Map<string, SectionModel>();
  for (const r of rules) {
    const s = sectionOf(r);
    const key = `${s.kind} ${s.name}`;
    let sec = sections.get(key);
    if (!sec) {
      sec = { kind: s.kind, id: s.name, name: s.name, options: {}, zones: [], rules: [] };
      sections.set(key, sec);
    }
    for (const nr of natRules(r, zones, s.label, own)) {
      sec.rules.push(nr);
      if (nr.zone !== null && sec.zones.indexOf(nr.zone) < 0) sec.zones.push(nr.zone);
    }
  }
  for (const sec of sections.values()) sec.options = { rule: sec.rules.map((x) => describeRule(x)) };
  return {
    zones: [...zones.zones.values()],
    networks: zones.networks,
    sections: [...sections.values()],
    skipped: [],
    warnings: [],
  };
}

/**
 * The model without the order context of its bounded rules (what decides
 * before them), for comparing the live rules with a model that has no
 * order (the fw4 model of UCI: drift, previews).
 */
export function withoutOrder(m: NatModel): NatModel {
  const strip = (r: NatRule): NatRule => {
    if (r.unbounded !== null || r.opaque === undefined) return r;
    const { opaque: _opaque, ...rest } = r;
    return rest;
  };
  return { ...m, sections: m.sections.map((s) => ({ ...s, rules: s.rules.map(strip) })) };
}
