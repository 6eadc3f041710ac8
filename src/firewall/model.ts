/**
 * Builds the NAT model of a firewall config the way fw4 does (`fw4.uc`
 * parse_zone, parse_redirect, parse_nat and the srcnat/dstnat templates):
 * which rules each redirect, nat section and masquerading zone puts into the
 * nat chains, with fw4's defaults, value parsing, skip rules and warnings.
 * One module per fw4 parse function: zone.ts, redirect.ts, nat.ts; their
 * shared state and option handling in context.ts.
 */

import { formatPrefix, hostPrefix } from "../net/ip.ts";
import type { UciPackage } from "../uci/types.ts";
import { ModelContext } from "./context.ts";
import type { Facts } from "./facts.ts";
import { parseNat } from "./nat.ts";
import { parseRedirect } from "./redirect.ts";
import { prefixesOf } from "./subnets.ts";
import type { NatModel } from "../model/nat.ts";
import { parseZone, zoneMasq } from "./zone.ts";

/** Builds the NAT model of a parsed `firewall` package against runtime facts. */
export function buildModel(pkg: UciPackage, facts: Facts): NatModel {
  const ctx = new ModelContext(pkg, facts);
  const byType = (t: string) => pkg.sections.filter((s) => s.type === t);
  for (const s of byType("zone")) parseZone(ctx, s);
  for (const z of ctx.zones) zoneMasq(ctx, z);
  for (const s of byType("redirect")) parseRedirect(ctx, s);
  for (const s of byType("nat")) parseNat(ctx, s);
  const networks = Object.entries(facts.networks).map(([name, f]) => ({
    name,
    subnets: [...new Set(f.addrs.flatMap(prefixesOf))],
    addresses: [...new Set(f.addrs.map((a) => formatPrefix(hostPrefix(a.addr))))],
  }));
  return {
    zones: ctx.zones.map((z) => z.model),
    networks,
    sections: ctx.sections,
    skipped: ctx.skipped,
    warnings: ctx.warnings,
  };
}
