/** fw4's redirects (`fw4.uc` parse_redirect, template redirect.uc), reflection included. */

import type { Family } from "../net/ip.ts";
import { maskBytes, prefix, prefixContains } from "../net/ip.ts";
import type { UciSection } from "../uci/types.ts";
import {
  bool, DISABLED, type ModelContext, ok, rawOptions, SCHEDULE, str, TARGETS, type Target, type ZoneRef, type ZoneState,
} from "./context.ts";
import { type Group, groupByMasking, inferFamily, natRule, splitAf, splitFamily } from "./subnets.ts";
import type { NatAction, NatRule } from "../model/nat.ts";
import {
  type AddrItem, type NetworkValue, parseCtHelper, parseEnum, parseFamily, parseInt10, parseInvert, parseLimit, parseMac,
  parsePort, parseProtocol, parseSetMatch, type PortValue, type ProtoValue,
} from "./values.ts";

/** fw4 parse_redirect: one redirect section's rules (with reflection), into ctx.sections. */
export function parseRedirect(ctx: ModelContext, s: UciSection): void {
  const raw = rawOptions(s);
  const o = ctx.parseOptions(s, raw, {
    enabled: { parse: bool, def: "1" },
    name: { parse: str, def: ctx.sectionId(s) },
    _name: { parse: str, deprecated: true },
    family: { parse: parseFamily },
    src: { parse: ctx.zoneRef },
    dest: { parse: ctx.zoneRef },
    ipset: { parse: ok(parseSetMatch) },
    helper: { parse: (v) => (parseCtHelper(v) ? parseInvert(v) : null), noInvert: true },
    proto: { parse: parseProtocol, def: "tcpudp", list: true, flatten: true },
    src_ip: { parse: ctx.network },
    src_mac: { parse: ok(parseMac), list: true },
    src_port: { parse: parsePort },
    src_dip: { parse: ctx.network },
    src_dport: { parse: parsePort },
    dest_ip: { parse: ctx.network },
    dest_port: { parse: parsePort },
    extra: { parse: str, unsupported: true },
    limit: { parse: ok(parseLimit) },
    limit_burst: { parse: parseInt10 },
    ...SCHEDULE,
    reflection: { parse: bool, def: "1" },
    reflection_src: { parse: (v) => parseEnum(v, ["internal", "external"]), def: "internal" },
    reflection_zone: { parse: ctx.zoneRef, list: true },
    counter: { parse: bool, def: "1" },
    log: { parse: str },
    log_limit: { parse: ok(parseLimit) },
    target: { parse: (v) => parseEnum(v, TARGETS), def: "dnat" },
  });
  if (o === false) return ctx.skip("redirect", s, raw, "skipped due to invalid options");
  if (!o.enabled) return ctx.skip("redirect", s, raw, DISABLED);
  const name = o.name as string;
  let target = o.target as Target;
  if (target !== "dnat" && target !== "snat") {
    ctx.warn(s, raw, "has invalid target specified, defaulting to dnat");
    target = "dnat";
  }
  const src = (o.src as ZoneRef | undefined) ?? null;
  let dest = (o.dest as ZoneRef | undefined) ?? null;
  const destIp = (o.dest_ip as NetworkValue | undefined) ?? null;
  const srcDip = (o.src_dip as NetworkValue | undefined) ?? null;
  let destPort = (o.dest_port as PortValue | undefined) ?? null;
  const srcDport = (o.src_dport as PortValue | undefined) ?? null;
  const skip = (msg: string) => ctx.skip("redirect", s, raw, msg);

  if (target === "dnat") {
    if (!src) return skip("has no source specified");
    if (src.any) return skip("must not have source '*' for dnat target");
    if (destIp?.invert) return skip("must not specify a negated 'dest_ip' value");
    if (destIp?.addrs.some((a) => a.kind === "masked")) {
      return skip("must not use non-contiguous masks in 'dest_ip'");
    }
    if (!dest && destIp) {
      const z = resolveDest(ctx, destIp);
      if (z) {
        dest = { any: false, zone: z };
        ctx.warn(s, raw, `does not specify a destination, assuming '${z.model.name}'`);
      }
    }
    if (!destPort) destPort = srcDport;
  } else {
    if (!dest) return skip("has no destination specified");
    if (dest.any) return skip("must not have destination '*' for snat target");
    if (!srcDip) return skip("has no 'src_dip' option specified");
    if (srcDip.invert) return skip("must not specify a negated 'src_dip' value");
    if (srcDip.addrs.some((a) => a.kind === "masked")) {
      return skip("must not use non-contiguous masks in 'src_dip'");
    }
    if (o.src_mac) return skip("must not use 'src_mac' option for snat target");
    if (o.helper) return skip("must not use 'helper' option for snat target");
  }

  const unbounded = o.ipset ? "matches an ipset" : o.src_mac ? "matches MAC addresses" : o.mark
    ? "matches a packet mark"
    : null;
  // fw4's reflection rules carry the mark but not the ipset or src_mac match
  const reflectionUnbounded = o.mark ? "matches a packet mark" : null;
  const rules: NatRule[] = [];
  const add = (
    family: Family | 0, proto: ProtoValue, sg: Group | null, dg: Group | null,
    raddr: (AddrItem & { invert: boolean })[] | null, sport: PortValue | null,
    dport: PortValue | null, rport: PortValue | null, kind: "dnat" | "snat",
    zone: string | null, label: string,
  ) => {
    const action: NatAction = kind === "dnat" && !(raddr && raddr.length) ? "redirect" : kind;
    const u = label === name ? unbounded : reflectionUnbounded;
    const r = natRule({
      label, hook: kind === "dnat" ? "dstnat" : "srcnat", action, family, proto, zone, sg, dg, sport, dport, raddr, rport, unbounded: u,
    });
    // what natnow cannot match by is still part of the rule: a new MAC is a changed rule
    rules.push(u ? { ...r, opaque: JSON.stringify(label === name ? [o.ipset ?? null, o.src_mac ?? null, o.mark ?? null] : [o.mark ?? null]) } : r);
  };

  for (const proto of (o.proto as ProtoValue[] | undefined) ?? []) {
    let family = (o.family as 0 | 4 | 6 | undefined) ?? null;
    if (proto.name === "ipv6-icmp") family = 6;
    const tcpudp = proto.name === "tcp" || proto.name === "udp";
    const srcIp = (o.src_ip as NetworkValue | undefined) ?? null;
    const srcPort = (o.src_port as PortValue | undefined) ?? null;
    const sip = splitAf([srcIp]);
    const dip = splitAf([target === "dnat" ? srcDip : destIp]);
    const rip = splitAf([target === "dnat" ? destIp : srcDip]);
    const sport = tcpudp ? srcPort : null;
    const dport = tcpudp ? (target === "dnat" ? srcDport : destPort) : null;
    const rport = tcpudp ? (target === "dnat" ? destPort : srcDport) : null;

    const fam = inferFamily(family, [
      [splitFamily(sip), "source IP"],
      [splitFamily(dip), "destination IP"],
      [splitFamily(rip), "rewrite IP"],
      [src?.zone ? { family: src.zone.model.family || null } : null, "source zone"],
      [dest?.zone ? { family: dest.zone.model.family || null } : null, "destination zone"],
    ]);
    if (typeof fam === "string") {
      ctx.warn(s, raw, `${fam}, skipping`);
      continue;
    }

    // reflection (NAT loopback) rules for redirects into a masqueraded zone
    if (
      target === "dnat" && o.reflection === true && (rip[4].length || rip[6].length) &&
      src?.zone && dest?.zone
    ) {
      const toHost = (a: AddrItem): AddrItem & { invert: boolean } => ({
        kind: "prefix", family: a.family, addr: a.addr, bits: a.addr.length * 8, invert: false,
      });
      const eaddrs = dip[4].length || dip[6].length ? dip : splitAf([{ invert: false, addrs: src.zone.related.map(toHost) }]);
      const rzones = (o.reflection_zone as ZoneRef[] | undefined) ?? [dest];
      for (const rz of rzones) {
        // fw4 checks is_family() on the zone reference, which has no family: never skips
        if (!rz.zone) continue;
        const iaddrs = splitAf([{ invert: false, addrs: rz.zone.related }]);
        const internal = o.reflection_src === "internal";
        const refaddrs = internal ? iaddrs : eaddrs;
        for (const f of [4, 6] as const) {
          if (!(f === 4 ? src.zone.masq : src.zone.masq6) || !rip[f].length) continue;
          let snat: AddrItem | undefined = refaddrs[f][0];
          if (internal) {
            const r0 = rip[f][0];
            const same = rz.zone.related.find((za) => {
              if (za.family !== r0.family || za.kind !== "prefix") return false;
              return prefixContains(prefix(za.addr, za.bits), r0.addr);
            });
            if (same) snat = same;
          }
          if (!snat) {
            ctx.warn(s, raw, `${internal ? "internal" : "external"} rewrite IP cannot be determined, disabling reflection`);
          } else if (!iaddrs[f].length) {
            ctx.warn(s, raw, "internal address range cannot be determined, disabling reflection");
          } else if (!eaddrs[f].length) {
            ctx.warn(s, raw, "external address range cannot be determined, disabling reflection");
          } else {
            const label = `${name} (reflection)`;
            for (const sg of groupByMasking(iaddrs[f])) {
              for (const dg of groupByMasking(eaddrs[f])) {
                add(f, proto, sg, dg, rip[f], sport, dport, rport, "dnat", rz.zone.model.name, label);
              }
            }
            for (const dg of groupByMasking(rip[f])) {
              for (const sg of groupByMasking(iaddrs[f])) {
                add(f, proto, sg, dg, [toHost(snat)], null, rport, null, "snat", rz.zone.model.name, label);
              }
            }
          }
        }
      }
    }

    if (rip[4].length > 1 || rip[6].length > 1) {
      ctx.warn(s, raw, "specifies multiple rewrite addresses, using only first one");
    }
    const has4 = sip[4].length || dip[4].length || rip[4].length;
    const has6 = sip[6].length || dip[6].length || rip[6].length;
    const zone = target === "dnat" ? src?.zone?.model.name ?? null : dest?.zone?.model.name ?? null;
    if (!fam && !has4 && !has6) {
      add(fam === null ? 4 : 0, proto, null, null, null, sport, dport, rport, target, zone, name);
    } else {
      for (const f of [4, 6] as const) {
        if ((fam && fam !== f) || ((has4 || has6) && !(f === 4 ? has4 : has6))) continue;
        for (const sg of groupByMasking(sip[f])) {
          for (const dg of groupByMasking(dip[f])) {
            add(f, proto, sg, dg, rip[f], sport, dport, rport, target, zone, name);
          }
        }
      }
    }
  }
  const zones = new Set<string>();
  for (const r of [src, dest, ...((o.reflection_zone as ZoneRef[] | undefined) ?? [])]) {
    if (r?.zone) zones.add(r.zone.model.name);
  }
  ctx.sections.push({ kind: "redirect", id: ctx.sectionId(s), name, options: raw, zones: [...zones], rules });
}

/** fw4 parse_redirect resolve_dest: the zone whose subnet holds dest_ip. */
function resolveDest(ctx: ModelContext, destIp: NetworkValue): ZoneState | null {
  for (const z of ctx.zones) {
    for (const za of z.related) {
      if (za.kind !== "prefix") continue;
      for (const d of destIp.addrs) {
        if (d.family !== za.family) continue;
        const m = maskBytes(za.bits, za.family === 6) as number[];
        if (d.addr.every((b, i) => (b & m[i]) === (za.addr[i] & m[i]))) return z;
      }
    }
  }
  return null;
}
