/**
 * Builds the NAT model of a firewall config the way fw4 does (`fw4.uc`
 * parse_zone, parse_redirect, parse_nat and the srcnat/dstnat templates):
 * which rules each redirect, nat section and masquerading zone puts into the
 * nat chains, with fw4's defaults, value parsing, skip rules and warnings.
 */

import { binaryToText } from "../uci/bytes.ts";
import type { UciPackage, UciSection } from "../uci/types.ts";
import {
  type Family, formatIp, formatPrefix, hostPrefix, maskBytes, prefix, prefixContains,
  rangeToPrefixes,
} from "../net/ip.ts";
import type { Facts } from "./facts.ts";
import type {
  AddrMatch, NatAction, NatModel, NatRule, PortMatch, SectionKind, SectionModel, SkippedSection,
  ZoneModel,
} from "./types.ts";
import {
  type AddrItem, type NetworkValue, parseBool, parseCtHelper, parseDate, parseEnum, parseFamily,
  parseIdentifier, parseInt10, parseInvert, parseLimit, parseMac, parseMark, parseNetwork,
  parsePort, parseProtocol, parseSetMatch, parseTime, parseWeekdays, type PortValue,
  type ProtoValue, toArray,
} from "./values.ts";

type Raw = Record<string, string | string[]>;

/** fw4's words for a section switched off with `enabled '0'`. */
const DISABLED = "is disabled, ignoring section";

/** A section's options as text (UCI byte strings decoded as UTF-8). */
function rawOptions(s: UciSection): Raw {
  const out: Raw = {};
  for (const o of s.options) {
    out[o.name] = typeof o.value === "string" ? binaryToText(o.value) : o.value.map(binaryToText);
  }
  return out;
}

interface Spec {
  parse: (v: string) => unknown;
  def?: string;
  list?: boolean;
  flatten?: boolean;
  noInvert?: boolean;
  unsupported?: boolean;
  deprecated?: boolean;
  required?: boolean;
}

const bool = (v: string) => parseBool(v);
const str = (v: string) => v;
const ok = (f: (v: string) => boolean) => (v: string) => (f(v) ? v : null);
const TARGETS = [
  "accept", "reject", "drop", "notrack", "helper", "mark", "dscp", "dnat", "snat", "masquerade",
] as const;
type Target = (typeof TARGETS)[number];

/** The time and mark options redirects and nat sections share, in fw4's order. */
const SCHEDULE: Record<string, Spec> = {
  utc_time: { parse: bool },
  start_date: { parse: ok(parseDate) },
  stop_date: { parse: ok(parseDate) },
  start_time: { parse: ok(parseTime) },
  stop_time: { parse: ok(parseTime) },
  weekdays: { parse: ok(parseWeekdays) },
  monthdays: { parse: str, unsupported: true },
  mark: { parse: ok(parseMark) },
};

interface ZoneRef {
  any: boolean;
  zone: ZoneState | null;
}

interface ZoneState {
  model: ZoneModel;
  masq: boolean;
  masq6: boolean;
  /** related_subnets: networks' addresses (with their prefix length) and `subnet` items. */
  related: AddrItem[];
  masqSrc: NetworkValue[];
  masqDest: NetworkValue[];
}

type Split = { 4: (AddrItem & { invert: boolean })[]; 6: (AddrItem & { invert: boolean })[] };

/** fw4 subnets_split_af. */
function splitAf(values: (NetworkValue | null | undefined)[]): Split {
  const rv: Split = { 4: [], 6: [] };
  for (const v of values) {
    if (!v) continue;
    for (const a of v.addrs) rv[a.family].push({ ...a, invert: v.invert });
  }
  return rv;
}

type Group = { pos: (AddrItem & { invert: boolean })[]; neg: (AddrItem & { invert: boolean })[]; masked: boolean };

/** fw4 subnets_group_by_masking: one rule per non-inverted masked address, plus one for the rest. */
function groupByMasking(list: (AddrItem & { invert: boolean })[]): Group[] {
  const nc = list.filter((a) => a.kind === "masked" && !a.invert);
  const plain = list.filter((a) => a.kind !== "masked" && !a.invert);
  const invMasked = list.filter((a) => a.kind === "masked" && a.invert);
  const invPlain = list.filter((a) => a.kind !== "masked" && a.invert);
  const groups: Group[] = nc.map(() => ({ pos: [], neg: invPlain, masked: true }));
  if (plain.length) groups.push({ pos: plain, neg: invPlain, masked: invMasked.length > 0 });
  else if (!groups.length) groups.push({ pos: [], neg: invPlain, masked: invMasked.length > 0 });
  return groups;
}

/** An address item as canonical prefixes (ranges become exact prefix sets). */
function prefixesOf(a: AddrItem): string[] {
  if (a.kind === "range") return rangeToPrefixes(a.addr, a.addr2).map(formatPrefix);
  if (a.kind === "masked") return [];
  return [formatPrefix(prefix(a.addr, a.bits))];
}

function addrMatch(g: Group | null): AddrMatch {
  if (!g) return { pos: [], neg: [] };
  return { pos: g.pos.flatMap(prefixesOf), neg: g.neg.flatMap(prefixesOf) };
}

function portMatch(p: PortValue | null | undefined): PortMatch {
  if (!p) return { pos: [], neg: [] };
  const r = { min: p.min, max: p.max };
  return p.invert ? { pos: [], neg: [r] } : { pos: [r], neg: [] };
}

type AddrList = (AddrItem & { invert: boolean })[];

/** One rule as fw4's add_rule (parse_redirect, parse_nat) builds it. */
function natRule(r: {
  label: string; hook: NatRule["hook"]; action: NatAction; family: 0 | 4 | 6; proto: ProtoValue;
  zone: string | null; sg: Group | null; dg: Group | null; sport: PortValue | null; dport: PortValue | null;
  raddr: AddrList | null; rport: PortValue | null; unbounded: string | null;
}): NatRule {
  const to = r.raddr && r.raddr.length ? r.raddr[0] : null;
  return {
    label: r.label,
    hook: r.hook,
    action: r.action,
    family: r.family,
    proto: r.proto.any ? null : r.proto.name,
    zone: r.zone,
    src: addrMatch(r.sg),
    dst: addrMatch(r.dg),
    sport: portMatch(r.sport),
    dport: portMatch(r.dport),
    toAddr: to ? formatIp(to.addr) : null,
    toPort: r.rport ? { min: r.rport.min, max: r.rport.max } : null,
    unbounded: r.unbounded ?? (r.sg?.masked || r.dg?.masked ? "uses a non-contiguous mask" : null),
  };
}

/** fw4 infer_family: the family, or fw4's conflict message. */
function inferFamily(
  f: 0 | 4 | 6 | null,
  objects: [{ family: 0 | 4 | 6 | null } | null | undefined, string][],
): 0 | 4 | 6 | null | string {
  let res = f;
  let by: string | null = null;
  for (const [obj, desc] of objects) {
    if (!obj || !obj.family || obj.family === res) continue;
    if (!res) {
      res = obj.family;
      by = desc;
      continue;
    }
    return by
      ? `references IPv${obj.family} only ${desc} but is restricted to IPv${res} by ${by}`
      : `is restricted to IPv${res} but referenced ${desc} is IPv${obj.family} only`;
  }
  return res;
}

/** The family a split address list restricts to (fw4 sets rv.family). */
function splitFamily(s: Split): { family: 0 | 4 | 6 | null } {
  if (!s[4].length && !s[6].length) return { family: null };
  return { family: s[4].length && s[6].length ? 0 : s[4].length ? 4 : 6 };
}

class Builder {
  private readonly zones: ZoneState[] = [];
  private readonly sections: SectionModel[] = [];
  private readonly skipped: SkippedSection[] = [];
  private readonly warnings: string[] = [];

  constructor(private readonly pkg: UciPackage, private readonly facts: Facts) {}

  build(): NatModel {
    const byType = (t: string) => this.pkg.sections.filter((s) => s.type === t);
    for (const s of byType("zone")) this.parseZone(s);
    for (const z of this.zones) this.zoneMasq(z);
    for (const s of byType("redirect")) this.parseRedirect(s);
    for (const s of byType("nat")) this.parseNat(s);
    const networks = Object.entries(this.facts.networks).map(([name, f]) => ({
      name,
      subnets: [...new Set(f.addrs.flatMap(prefixesOf))],
      addresses: [...new Set(f.addrs.map((a) => formatPrefix(hostPrefix(a.addr))))],
    }));
    return {
      zones: this.zones.map((z) => z.model),
      networks,
      sections: this.sections,
      skipped: this.skipped,
      warnings: this.warnings,
    };
  }

  private networkAddrs = (name: string): AddrItem[] | undefined => this.facts.networks[name]?.addrs;

  /** fw4 section_id. */
  private sectionId(s: UciSection): string {
    if (!s.anonymous) return s.name;
    const same = this.pkg.sections.filter((x) => x.type === s.type);
    return `@${s.type}[${same.indexOf(s)}]`;
  }

  /** fw4 warn_section. */
  private warn(s: UciSection, raw: Raw, msg: string): void {
    const name = raw.name;
    const id = this.sectionId(s);
    this.warnings.push(
      name !== undefined && name !== "" ? `Section ${id} (${String(name)}) ${msg}` : `Section ${id} ${msg}`,
    );
  }

  private skip(kind: SectionKind, s: UciSection, raw: Raw, msg: string): void {
    this.warn(s, raw, msg);
    const name = typeof raw.name === "string" ? raw.name : this.sectionId(s);
    this.skipped.push({ kind, id: this.sectionId(s), name, reason: msg, disabled: msg === DISABLED });
  }

  /** fw4 parse_options: false when any option is invalid. */
  private parseOptions(s: UciSection, raw: Raw, spec: Record<string, Spec>): Record<string, unknown> | false {
    const rv: Record<string, unknown> = {};
    for (const [key, sp] of Object.entries(spec)) {
      let res: unknown;
      // parse_opt and parse_list alike: a missing option is mandatory or defaulted
      let val: string | string[] | undefined = raw[key];
      if (val === undefined) {
        if (sp.required) {
          this.warn(s, raw, `option '${key}' is mandatory but not set`);
          return false;
        }
        val = sp.def;
      }
      if (sp.list) {
        const out: unknown[] = [];
        for (const item of toArray(val)) {
          const r = sp.parse(item);
          if (r === null) {
            this.warn(s, raw, `option '${key}' specifies invalid value '${item}'`);
            return false;
          }
          if (sp.flatten && Array.isArray(r)) out.push(...r);
          else out.push(r);
        }
        res = out.length ? out : null;
      } else {
        if (Array.isArray(val)) {
          this.warn(s, raw, `option '${key}' must not be a list`);
          return false;
        }
        if (val === undefined) res = null;
        else {
          res = sp.parse(val);
          if (res === null) {
            this.warn(s, raw, `option '${key}' specifies invalid value '${val}'`);
            return false;
          }
        }
      }
      if (
        sp.noInvert && typeof res === "object" && res !== null && !Array.isArray(res) &&
        (res as { invert?: boolean }).invert
      ) {
        this.warn(s, raw, `option '${key}' must not be negated`);
        return false;
      }
      if (res !== null && res !== undefined) {
        if (sp.deprecated) this.warn(s, raw, `option '${key}' is deprecated by fw4`);
        else if (sp.unsupported) this.warn(s, raw, `option '${key}' is not supported by fw4`);
        else rv[key] = res;
      }
    }
    for (const opt of Object.keys(raw)) {
      if (opt !== "type" && !(opt in spec)) this.warn(s, raw, `specifies unknown option '${opt}'`);
    }
    return rv;
  }

  private zoneRef = (v: string): ZoneRef | null => {
    if (v === "*") return { any: true, zone: null };
    const z = this.zones.find((x) => x.model.name === v);
    return z ? { any: false, zone: z } : null;
  };

  private network = (v: string) => parseNetwork(v, this.networkAddrs);

  private parseZone(s: UciSection): void {
    const raw = rawOptions(s);
    const o = this.parseOptions(s, raw, {
      enabled: { parse: bool, def: "1" },
      name: { parse: parseIdentifier, required: true },
      family: { parse: parseFamily },
      network: { parse: parseInvert, list: true },
      device: { parse: parseInvert, list: true },
      subnet: { parse: this.network, list: true },
      input: { parse: (v) => parseEnum(v, ["accept", "reject", "drop"]) },
      output: { parse: (v) => parseEnum(v, ["accept", "reject", "drop"]) },
      forward: { parse: (v) => parseEnum(v, ["accept", "reject", "drop"]) },
      masq: { parse: bool },
      masq_allow_invalid: { parse: bool },
      masq_src: { parse: this.network, list: true },
      masq_dest: { parse: this.network, list: true },
      masq6: { parse: bool },
      extra: { parse: str, unsupported: true },
      extra_src: { parse: str, unsupported: true },
      extra_dest: { parse: str, unsupported: true },
      mtu_fix: { parse: bool },
      custom_chains: { parse: bool, unsupported: true },
      log: { parse: parseInt10 },
      log_limit: { parse: ok(parseLimit) },
      auto_helper: { parse: bool, def: "1" },
      helper: { parse: ok(parseCtHelper), list: true },
      counter: { parse: bool, def: "1" },
    });
    if (o === false) return this.skip("zone", s, raw, "skipped due to invalid options");
    if (!o.enabled) return this.skip("zone", s, raw, DISABLED);
    const name = o.name as string;

    // networks named in the zone, plus those whose interface asks for the zone
    const nets = [...((o.network as { invert: boolean; val: string }[] | undefined) ?? [])];
    for (const [n, f] of Object.entries(this.facts.networks)) {
      if (f.zone === name) nets.push({ invert: false, val: n });
    }
    const related: AddrItem[] = [];
    const devices: string[] = [];
    const unresolved: string[] = [];
    const known: string[] = [];
    for (const n of nets) {
      const f = this.facts.networks[n.val];
      if (!f) {
        if (!n.invert) unresolved.push(n.val);
        continue;
      }
      if (!n.invert) known.push(n.val);
      if (f.device && !n.invert) devices.push(f.device);
      related.push(...f.addrs);
    }
    for (const d of (o.device as { invert: boolean; val: string }[] | undefined) ?? []) {
      if (!d.invert && d.val !== "*") devices.push(d.val);
    }
    const subnet = (o.subnet as NetworkValue[] | undefined) ?? [];
    const matchSubnets = splitAf(subnet);
    for (const v of subnet) if (!v.invert) related.push(...v.addrs);

    const family = inferFamily((o.family as 0 | 4 | 6 | undefined) ?? null, [
      [splitFamily(matchSubnets), "subnet list"],
    ]);
    if (typeof family === "string") return this.skip("zone", s, raw, `${family}, skipping`);

    const subnets = new Set<string>();
    const addresses = new Set<string>();
    for (const a of related) {
      for (const p of prefixesOf(a)) subnets.add(p);
      if (a.kind === "prefix" && nets.some((n) => this.facts.networks[n.val]?.addrs.includes(a))) {
        addresses.add(formatPrefix(hostPrefix(a.addr)));
      }
    }
    const model: ZoneModel = {
      name,
      family: family ?? 0,
      masq: o.masq === true,
      masq6: o.masq6 === true,
      subnets: [...subnets],
      addresses: [...addresses],
      devices,
      networks: known,
      unresolved,
      empty: devices.length === 0 && subnet.length === 0 && unresolved.length === 0,
      upstream: o.masq === true || o.masq6 === true ||
        nets.some((n) => !n.invert && this.facts.networks[n.val]?.defaultRoute === true),
    };
    this.zones.push({
      model,
      masq: model.masq,
      masq6: model.masq6,
      related,
      masqSrc: (o.masq_src as NetworkValue[] | undefined) ?? [],
      masqDest: (o.masq_dest as NetworkValue[] | undefined) ?? [],
    });
  }

  /** The zone's masquerade rules (template zone-masq.uc via ruleset.uc srcnat_ZONE). */
  private zoneMasq(z: ZoneState): void {
    if (!z.masq && !z.masq6) return;
    const src = splitAf(z.masqSrc);
    const dst = splitAf(z.masqDest);
    const rules: NatRule[] = [];
    for (const fam of [4, 6] as const) {
      if (fam === 4 ? !z.masq : !z.masq6) continue;
      for (const sg of groupByMasking(src[fam])) {
        for (const dg of groupByMasking(dst[fam])) {
          rules.push({
            label: `Masquerade IPv${fam} ${z.model.name} traffic`,
            hook: "srcnat",
            action: "masquerade",
            family: fam,
            proto: null,
            zone: z.model.name,
            src: addrMatch(sg),
            dst: addrMatch(dg),
            sport: portMatch(null),
            dport: portMatch(null),
            toAddr: null,
            toPort: null,
            unbounded: sg.masked || dg.masked ? "uses a non-contiguous mask" : null,
          });
        }
      }
    }
    const options: Raw = {
      masq: z.masq ? "1" : "0",
      masq6: z.masq6 ? "1" : "0",
      masq_src: z.masqSrc.flatMap((v) => v.addrs.flatMap(prefixesOf).map((p) => (v.invert ? "!" : "") + p)),
      masq_dest: z.masqDest.flatMap((v) => v.addrs.flatMap(prefixesOf).map((p) => (v.invert ? "!" : "") + p)),
    };
    this.sections.push({
      kind: "zone",
      id: z.model.name,
      name: z.model.name,
      options,
      zones: [z.model.name],
      rules,
    });
  }

  private parseRedirect(s: UciSection): void {
    const raw = rawOptions(s);
    const o = this.parseOptions(s, raw, {
      enabled: { parse: bool, def: "1" },
      name: { parse: str, def: this.sectionId(s) },
      _name: { parse: str, deprecated: true },
      family: { parse: parseFamily },
      src: { parse: this.zoneRef },
      dest: { parse: this.zoneRef },
      ipset: { parse: ok(parseSetMatch) },
      helper: { parse: (v) => (parseCtHelper(v) ? parseInvert(v) : null), noInvert: true },
      proto: { parse: parseProtocol, def: "tcpudp", list: true, flatten: true },
      src_ip: { parse: this.network },
      src_mac: { parse: ok(parseMac), list: true },
      src_port: { parse: parsePort },
      src_dip: { parse: this.network },
      src_dport: { parse: parsePort },
      dest_ip: { parse: this.network },
      dest_port: { parse: parsePort },
      extra: { parse: str, unsupported: true },
      limit: { parse: ok(parseLimit) },
      limit_burst: { parse: parseInt10 },
      ...SCHEDULE,
      reflection: { parse: bool, def: "1" },
      reflection_src: { parse: (v) => parseEnum(v, ["internal", "external"]), def: "internal" },
      reflection_zone: { parse: this.zoneRef, list: true },
      counter: { parse: bool, def: "1" },
      log: { parse: str },
      log_limit: { parse: ok(parseLimit) },
      target: { parse: (v) => parseEnum(v, TARGETS), def: "dnat" },
    });
    if (o === false) return this.skip("redirect", s, raw, "skipped due to invalid options");
    if (!o.enabled) return this.skip("redirect", s, raw, DISABLED);
    const name = o.name as string;
    let target = o.target as Target;
    if (target !== "dnat" && target !== "snat") {
      this.warn(s, raw, "has invalid target specified, defaulting to dnat");
      target = "dnat";
    }
    const src = (o.src as ZoneRef | undefined) ?? null;
    let dest = (o.dest as ZoneRef | undefined) ?? null;
    const destIp = (o.dest_ip as NetworkValue | undefined) ?? null;
    const srcDip = (o.src_dip as NetworkValue | undefined) ?? null;
    let destPort = (o.dest_port as PortValue | undefined) ?? null;
    const srcDport = (o.src_dport as PortValue | undefined) ?? null;
    const skip = (msg: string) => this.skip("redirect", s, raw, msg);

    if (target === "dnat") {
      if (!src) return skip("has no source specified");
      if (src.any) return skip("must not have source '*' for dnat target");
      if (destIp?.invert) return skip("must not specify a negated 'dest_ip' value");
      if (destIp?.addrs.some((a) => a.kind === "masked")) {
        return skip("must not use non-contiguous masks in 'dest_ip'");
      }
      if (!dest && destIp) {
        const z = this.resolveDest(destIp);
        if (z) {
          dest = { any: false, zone: z };
          this.warn(s, raw, `does not specify a destination, assuming '${z.model.name}'`);
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
      rules.push(natRule({
        label, hook: kind === "dnat" ? "dstnat" : "srcnat", action, family, proto, zone, sg, dg,
        sport, dport, raddr, rport, unbounded: label === name ? unbounded : reflectionUnbounded,
      }));
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
        this.warn(s, raw, `${fam}, skipping`);
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
              this.warn(s, raw, `${o.reflection_src ?? "external"} rewrite IP cannot be determined, disabling reflection`);
            } else if (!iaddrs[f].length) {
              this.warn(s, raw, "internal address range cannot be determined, disabling reflection");
            } else if (!eaddrs[f].length) {
              this.warn(s, raw, "external address range cannot be determined, disabling reflection");
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
        this.warn(s, raw, "specifies multiple rewrite addresses, using only first one");
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
    this.sections.push({ kind: "redirect", id: this.sectionId(s), name, options: raw, zones: [...zones], rules });
  }

  /** fw4 parse_redirect resolve_dest: the zone whose subnet holds dest_ip. */
  private resolveDest(destIp: NetworkValue): ZoneState | null {
    for (const z of this.zones) {
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

  private parseNat(s: UciSection): void {
    const raw = rawOptions(s);
    const o = this.parseOptions(s, raw, {
      enabled: { parse: bool, def: "1" },
      name: { parse: str, def: this.sectionId(s) },
      family: { parse: parseFamily },
      src: { parse: this.zoneRef },
      device: { parse: str },
      ipset: { parse: ok(parseSetMatch), unsupported: true },
      proto: { parse: parseProtocol, def: "all", list: true, flatten: true },
      src_ip: { parse: this.network },
      src_port: { parse: parsePort },
      snat_ip: { parse: this.network, noInvert: true },
      snat_port: { parse: parsePort, noInvert: true },
      dest_ip: { parse: this.network },
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
    if (o === false) return this.skip("nat", s, raw, "skipped due to invalid options");
    if (!o.enabled) return this.skip("nat", s, raw, DISABLED);
    const name = o.name as string;
    let target = o.target as Target;
    if (target !== "accept" && target !== "snat" && target !== "masquerade") {
      this.warn(s, raw, "has invalid target specified, defaulting to masquerade");
      target = "masquerade";
    }
    const snatIp = (o.snat_ip as NetworkValue | undefined) ?? null;
    const snatPort = (o.snat_port as PortValue | undefined) ?? null;
    const skip = (msg: string) => this.skip("nat", s, raw, msg);
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
        this.warn(s, raw, "specifies multiple rewrite addresses, using only first one");
      }
      let fam = inferFamily((o.family as 0 | 4 | 6 | undefined) ?? null, [
        [splitFamily(sip), "source IP"],
        [splitFamily(dip), "destination IP"],
        [splitFamily(rip), "rewrite IP"],
        [src?.zone ? { family: src.zone.model.family || null } : null, "source zone"],
      ]);
      if (typeof fam === "string") {
        this.warn(s, raw, `${fam}, skipping`);
        continue;
      }
      const has4 = sip[4].length || dip[4].length || rip[4].length;
      const has6 = sip[6].length || dip[6].length || rip[6].length;
      if (fam === null) fam = has4 && !has6 ? 4 : has6 && !has4 ? 6 : 4;
      const push = (f: 0 | 4 | 6, sg: Group | null, dg: Group | null, raddr: AddrList | null) => {
        rules.push(natRule({
          label: name, hook: "srcnat", action: target === "snat" ? "snat" : target === "accept" ? "accept" : "masquerade",
          family: f, proto, zone, sg, dg, sport, dport, raddr, rport, unbounded,
        }));
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
    this.sections.push({ kind: "nat", id: this.sectionId(s), name, options: raw, zones: zone ? [zone] : [], rules });
  }
}

/** fw4 ensure_tcpudp: `all` becomes tcp+udp when ports are given. */
function ensureTcpUdp(x: ProtoValue[]): boolean {
  if (x.some((p) => p.name === "tcp" || p.name === "udp")) return true;
  const rest = x.filter((p) => !p.any);
  if (x.some((p) => p.any) && !rest.length) {
    x.splice(0, x.length, { invert: false, any: false, name: "tcp" }, { invert: false, any: false, name: "udp" });
    return true;
  }
  return false;
}

/** Builds the NAT model of a parsed `firewall` package against runtime facts. */
export function buildModel(pkg: UciPackage, facts: Facts): NatModel {
  return new Builder(pkg, facts).build();
}
