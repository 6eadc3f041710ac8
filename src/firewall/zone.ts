/** fw4's zones (`fw4.uc` parse_zone) and their masquerading (zone-masq.uc). */

import { formatPrefix, hostPrefix } from "../net/ip.ts";
import type { UciSection } from "../uci/types.ts";
import { bool, DISABLED, type ModelContext, rawOptions, type Raw, str, ok, type ZoneState } from "./context.ts";
import { addrMatch, groupByMasking, inferFamily, portMatch, prefixesOf, splitAf, splitFamily } from "./subnets.ts";
import type { NatRule, ZoneModel } from "../model/nat.ts";
import {
  type AddrItem, type NetworkValue, parseCtHelper, parseEnum, parseFamily, parseIdentifier, parseInt10, parseInvert, parseLimit,
} from "./values.ts";

/** fw4 parse_zone: one zone section, into ctx.zones. */
export function parseZone(ctx: ModelContext, s: UciSection): void {
  const raw = rawOptions(s);
  const o = ctx.parseOptions(s, raw, {
    enabled: { parse: bool, def: "1" },
    name: { parse: parseIdentifier, required: true },
    family: { parse: parseFamily },
    network: { parse: parseInvert, list: true },
    device: { parse: parseInvert, list: true },
    subnet: { parse: ctx.network, list: true },
    input: { parse: (v) => parseEnum(v, ["accept", "reject", "drop"]) },
    output: { parse: (v) => parseEnum(v, ["accept", "reject", "drop"]) },
    forward: { parse: (v) => parseEnum(v, ["accept", "reject", "drop"]) },
    masq: { parse: bool },
    masq_allow_invalid: { parse: bool },
    masq_src: { parse: ctx.network, list: true },
    masq_dest: { parse: ctx.network, list: true },
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
  if (o === false) return ctx.skip("zone", s, raw, "skipped due to invalid options");
  if (!o.enabled) return ctx.skip("zone", s, raw, DISABLED);
  const name = o.name as string;

  // networks named in the zone, plus those whose interface asks for the zone
  const nets = [...((o.network as { invert: boolean; val: string }[] | undefined) ?? [])];
  for (const [n, f] of Object.entries(ctx.facts.networks)) {
    if (f.zone === name) nets.push({ invert: false, val: n });
  }
  const related: AddrItem[] = [];
  const devices: string[] = [];
  const unresolved: string[] = [];
  const known: string[] = [];
  for (const n of nets) {
    const f = ctx.facts.networks[n.val];
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
  if (typeof family === "string") return ctx.skip("zone", s, raw, `${family}, skipping`);

  const subnets = new Set<string>();
  const addresses = new Set<string>();
  for (const a of related) {
    for (const p of prefixesOf(a)) subnets.add(p);
    if (a.kind === "prefix" && nets.some((n) => ctx.facts.networks[n.val]?.addrs.includes(a))) {
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
      nets.some((n) => !n.invert && ctx.facts.networks[n.val]?.defaultRoute === true),
  };
  ctx.zones.push({
    model,
    masq: model.masq,
    masq6: model.masq6,
    related,
    masqSrc: (o.masq_src as NetworkValue[] | undefined) ?? [],
    masqDest: (o.masq_dest as NetworkValue[] | undefined) ?? [],
  });
}

/** The zone's masquerade rules (template zone-masq.uc via ruleset.uc srcnat_ZONE). */
export function zoneMasq(ctx: ModelContext, z: ZoneState): void {
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
  ctx.sections.push({
    kind: "zone",
    id: z.model.name,
    name: z.model.name,
    options,
    zones: [z.model.name],
    rules,
  });
}
