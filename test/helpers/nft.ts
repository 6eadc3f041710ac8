/**
 * Test-only: renders modelled NAT rules the way fw4's templates
 * (redirect.uc, zone-masq.uc) write them, and reads the nat chains out of a
 * ruleset fw4 printed, so the model can be checked against real fw4 output.
 */
import type { NatRule } from "../../src/model/nat.ts";
import type { AddrMatch, PortMatch } from "../../src/net/match.ts";

function set(v: string[]): string {
  return v.length === 1 ? v[0] : `{ ${v.join(", ")} }`;
}

function host(p: string): string {
  return p.endsWith("/32") || p.endsWith("/128") ? p.slice(0, p.lastIndexOf("/")) : p;
}

function addrs(dir: "saddr" | "daddr", m: AddrMatch, fam: 4 | 6): string {
  const ipp = fam === 6 ? "ip6" : "ip";
  let out = "";
  if (m.pos.length) out += `${ipp} ${dir} ${set(m.pos.map(host))} `;
  if (m.neg.length) out += `${ipp} ${dir} != ${set(m.neg.map(host))} `;
  return out;
}

function ports(proto: string, dir: string, m: PortMatch): string {
  const one = (r: { min: number; max: number }) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`);
  let out = "";
  if (m.pos.length) out += `${proto} ${dir} ${set(m.pos.map(one))} `;
  if (m.neg.length) out += `${proto} ${dir} != ${set(m.neg.map(one))} `;
  return out;
}

/** One rule as fw4 prints it (without `counter`). */
export function renderRule(r: NatRule): string {
  if (r.action === "masquerade" && r.label.startsWith("Masquerade ")) {
    const fam = r.family as 4 | 6;
    return `meta nfproto ipv${fam} ${addrs("saddr", r.src, fam)}${addrs("daddr", r.dst, fam)}masquerade comment "!fw4: ${r.label}"`;
  }
  const fam = r.family === 0 ? 4 : r.family;
  const hasAddrs = r.src.pos.length + r.src.neg.length + r.dst.pos.length + r.dst.neg.length > 0;
  const hasPorts = r.sport.pos.length + r.sport.neg.length + r.dport.pos.length + r.dport.neg.length > 0 ||
    r.toPort !== null;
  let out = "";
  if (r.family && !hasAddrs) out += `meta nfproto ipv${r.family} `;
  if (r.proto !== null && !hasPorts) out += `meta l4proto ${r.proto} `;
  out += addrs("saddr", r.src, fam) + addrs("daddr", r.dst, fam);
  if (r.proto !== null) out += ports(r.proto, "sport", r.sport) + ports(r.proto, "dport", r.dport);
  const rport = r.toPort ? (r.toPort.min === r.toPort.max ? `${r.toPort.min}` : `${r.toPort.min}-${r.toPort.max}`) : null;
  if (r.action === "redirect") out += `redirect${rport ? ` to ${rport}` : ""}`;
  else if (r.action === "accept" || r.action === "masquerade") out += r.action;
  else {
    const a = r.toAddr ?? "";
    out += `${r.action} ${rport && fam === 6 ? `[${a}]` : a}${rport ? `:${rport}` : ""}`;
  }
  return `${out} comment "!fw4: ${r.label}"`;
}

/** The rules of each nat chain in an fw4 ruleset (without `counter`). */
export function natChains(ruleset: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let chain: string | null = null;
  for (const line of ruleset.split("\n")) {
    const m = /^\tchain ((dstnat|srcnat)_\S+) \{$/.exec(line);
    if (m) {
      chain = m[1];
      out[chain] = [];
      continue;
    }
    if (chain && /^\t\}$/.test(line)) chain = null;
    else if (chain && line.trim()) out[chain].push(line.trim().replace(/ counter /, " "));
  }
  return out;
}
