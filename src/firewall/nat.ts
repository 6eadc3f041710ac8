/** fw4's nat sections (`fw4.uc` parse_nat): SNAT, masquerade and exemptions. */

import type { UciSection } from "../uci/types.ts";
import { bool, DISABLED, type ModelContext, ok, rawOptions, SCHEDULE, str, TARGETS, type Target, type ZoneRef } from "./context.ts";
import { type AddrList, ensureTcpUdp, type Group, groupByMasking, inferFamily, natRule, splitAf, splitFamily } from "./subnets.ts";
import type { NatRule } from "../model/nat.ts";
import {
  type NetworkValue, parseEnum, parseFamily, parseInt10, parseLimit, parsePort, parseProtocol, parseSetMatch, type PortValue,
  type ProtoValue,
} from "./values.ts";

/** fw4 parse_nat: one nat section's rules, into ctx.sections. */
export function parseNat(ctx: ModelContext, s: UciSection): void {
  const raw = rawOptions(s);
  const o = ctx.parseOptions(s, raw, {
    enabled: { parse: bool, def: "1" },
    name: { parse: str, def: ctx.sectionId(s) },
    family: { parse: parseFamily },
    src: { parse: ctx.zoneRef },
    device: { parse: str },
    ipset: { parse: ok(parseSetMatch), unsupported: true },
    proto: { parse: parseProtocol, def: "all", list: true, flatten: true },
    src_ip: { parse: ctx.network },
    src_port: { parse: parsePort },
    snat_ip: { parse: ctx.network, noInvert: true },
    snat_port: { parse: parsePort, noInvert: true },
    dest_ip: { parse: ctx.network },
    dest_port: { parse: parsePort },
    extra: { parse: str, unsupported: true },
    limit: { parse: ok(parseLimit) },
    limit_burst: { parse: parseInt10 },
    connlimit_ports: { parse: bool },
    ...SCHEDULE,
    counter: { parse: bool, def: "1" },
    log: { parse: str },
    target: { parse: (v) => parseEnum(v, TARGETS), def: "masquerade" },
  });
  if (o === false) return ctx.skip("nat", s, raw, "skipped due to invalid options");
  if (!o.enabled) return ctx.skip("nat", s, raw, DISABLED);
  const name = o.name as string;
  let target = o.target as Target;
  if (target !== "accept" && target !== "snat" && target !== "masquerade") {
    ctx.warn(s, raw, "has invalid target specified, defaulting to masquerade");
    target = "masquerade";
  }
  const snatIp = (o.snat_ip as NetworkValue | undefined) ?? null;
  const snatPort = (o.snat_port as PortValue | undefined) ?? null;
  const skip = (msg: string) => ctx.skip("nat", s, raw, msg);
  if (target === "snat" && !snatIp && !snatPort) {
    return skip("needs either 'snat_ip' or 'snat_port' for target snat, ignoring section");
  }
  if (target !== "snat" && snatIp) return skip("must not use 'snat_ip' for non-snat target, ignoring section");
  if (target !== "snat" && snatPort) return skip("must not use 'snat_port' for non-snat target, ignoring section");
  const protos = [...((o.proto as ProtoValue[] | undefined) ?? [])];
  if ((snatPort || o.src_port || o.dest_port) && !ensureTcpUdp(protos)) {
    return skip("specifies ports but no UDP/TCP protocol, ignoring section");
  }
  if (snatIp && snatIp.addrs.some((a) => a.kind === "masked")) {
    return skip("must not use inversion or non-contiguous masks in 'snat_ip', ignoring section");
  }
  const src = (o.src as ZoneRef | undefined) ?? null;
  const zone = src?.zone?.model.name ?? null;
  const unbounded = o.device ? "matches an output device" : o.mark ? "matches a packet mark" : null;
  const rules: NatRule[] = [];
  for (const proto of protos) {
    const sip = splitAf([(o.src_ip as NetworkValue | undefined) ?? null]);
    const dip = splitAf([(o.dest_ip as NetworkValue | undefined) ?? null]);
    const rip = splitAf([snatIp]);
    const tcpudp = proto.name === "tcp" || proto.name === "udp";
    const sport = tcpudp ? (o.src_port as PortValue | undefined) ?? null : null;
    const dport = tcpudp ? (o.dest_port as PortValue | undefined) ?? null : null;
    const rport = tcpudp ? snatPort : null;
    if (rip[4].length > 1 || rip[6].length > 1) {
      ctx.warn(s, raw, "specifies multiple rewrite addresses, using only first one");
    }
    let fam = inferFamily((o.family as 0 | 4 | 6 | undefined) ?? null, [
      [splitFamily(sip), "source IP"],
      [splitFamily(dip), "destination IP"],
      [splitFamily(rip), "rewrite IP"],
      [src?.zone ? { family: src.zone.model.family || null } : null, "source zone"],
    ]);
    if (typeof fam === "string") {
      ctx.warn(s, raw, `${fam}, skipping`);
      continue;
    }
    const has4 = sip[4].length || dip[4].length || rip[4].length;
    const has6 = sip[6].length || dip[6].length || rip[6].length;
    if (fam === null) fam = has4 && !has6 ? 4 : has6 && !has4 ? 6 : 4;
    const push = (f: 0 | 4 | 6, sg: Group | null, dg: Group | null, raddr: AddrList | null) => {
      const r = natRule({
        label: name, hook: "srcnat", action: target === "snat" ? "snat" : target === "accept" ? "accept" : "masquerade",
        family: f, proto, zone, sg, dg, sport, dport, raddr, rport, unbounded,
      });
      // what natnow cannot match by is still part of the rule: another mark is a changed rule
      rules.push(unbounded ? { ...r, opaque: JSON.stringify([o.device ?? null, o.mark ?? null]) } : r);
    };
    if (!fam && !has4 && !has6) push(0, null, null, null);
    else {
      for (const f of [4, 6] as const) {
        if (fam !== 0 && fam !== f) continue;
        for (const sg of groupByMasking(sip[f])) {
          for (const dg of groupByMasking(dip[f])) push(f, sg, dg, rip[f]);
        }
      }
    }
  }
  ctx.sections.push({ kind: "nat", id: ctx.sectionId(s), name, options: raw, zones: zone ? [zone] : [], rules });
}
