/**
 * miniupnpd's mappings across a fw4 reload. OpenWrt's miniupnpd writes its
 * DNAT rules into fw4's own table (`inet fw4`, chain `upnp_prerouting`),
 * and every fw4 load begins with `flush table inet fw4`: the mappings are
 * gone from the kernel, while miniupnpd still holds them (its lease file)
 * and puts them back only when it restarts (reload_from_lease_file;
 * docs/corpus-notes.md). Without natnow their flows keep working until
 * they end. natnow must not make that worse: a mapping the kernel lost
 * while miniupnpd still leases it is held in the ruleset natnow plans
 * from, so its flows are not revoked, and the run names it. When
 * miniupnpd re-adds it, it is the same rule; when the lease ends (or
 * miniupnpd stops), the hold ends and the flows are revoked.
 */

import type { NftRule, NftRuleset } from "./nft.ts";
import { canonicalExpr } from "./identity.ts";
import { ruleTerms } from "./rule.ts";

/** The chains OpenWrt's miniupnpd writes its DNAT rules to (miniupnpd.init: upnp_nat_chain). */
const UPNP_CHAINS = ["upnp_prerouting"];

/** One line of miniupnpd's lease file (upnpredirect.c lease_file_add: `PROTO:EPORT:IADDR:IPORT:TIMESTAMP:DESC`). */
export interface Lease {
  proto: number;
  eport: number;
  iaddr: string;
  iport: number;
  /** Unix time the lease ends; 0: never. */
  expires: number;
  desc: string;
}

/** What the snapshot read of miniupnpd: its lease file, and whether it runs. */
export interface UpnpState {
  leases: string;
  running: boolean;
}

/** Reads miniupnpd's lease file; lines that are not leases are skipped (miniupnpd's own reader does the same). */
export function parseLeases(text: string): Lease[] {
  const out: Lease[] = [];
  for (const line of text.split("\n")) {
    const m = /^(TCP|UDP|UDPLITE|SCTP|DCCP):([0-9]{1,5}):([0-9.]+):([0-9]{1,5}):([0-9]+):(.*)$/i.exec(line);
    if (!m) continue;
    const proto = { tcp: 6, udp: 17, udplite: 136, sctp: 132, dccp: 33 }[m[1].toLowerCase()] as number;
    out.push({ proto, eport: Number(m[2]), iaddr: m[3], iport: Number(m[4]), expires: Number(m[5]), desc: m[6] });
  }
  return out;
}

/** The mapping a miniupnpd rule makes: protocol, external port, internal address and port; null if it is none. */
function mappingOf(r: NftRule): Omit<Lease, "expires" | "desc"> | null {
  const [alt] = ruleTerms(r.expr, 0, () => undefined);
  if (!alt || alt.verdict.kind !== "nat" || alt.verdict.nat.action !== "dnat") return null;
  const { terms: t, verdict: { nat } } = alt;
  if (t.protos === null || t.protos.length !== 1 || t.dport.pos.length !== 1 || nat.toAddr === null || nat.toPort === null) return null;
  const d = t.dport.pos[0];
  if (d.min !== d.max || nat.toPort.min !== nat.toPort.max) return null;
  return { proto: t.protos[0], eport: d.min, iaddr: nat.toAddr, iport: nat.toPort.min };
}

/** A held mapping, in words: `udp 5000 → 198.18.1.10:5001 ("game")`. */
function words(l: Lease): string {
  const proto = { 6: "tcp", 17: "udp", 136: "udplite", 132: "sctp", 33: "dccp" }[l.proto] ?? String(l.proto);
  return `${proto} ${l.eport} → ${l.iaddr}:${l.iport}${l.desc ? ` ("${l.desc}")` : ""}`;
}

const inFw4 = (o: { family: string; table: string }) => o.family === "inet" && o.table === "fw4";

/**
 * `current` with the miniupnpd rules of `previous` that the kernel lost
 * but miniupnpd still leases (running, lease not ended at `now`, unix
 * seconds), and the held mappings in words.
 */
export function holdUpnp(current: NftRuleset, previous: NftRuleset, upnp: UpnpState | null, now: number): { ruleset: NftRuleset; held: string[] } {
  if (upnp === null || !upnp.running) return { ruleset: current, held: [] };
  const chains = new Set(current.chains.filter((c) => inFw4(c) && UPNP_CHAINS.indexOf(c.name) >= 0).map((c) => c.name));
  if (!chains.size) return { ruleset: current, held: [] };
  const leases = parseLeases(upnp.leases).filter((l) => l.expires === 0 || l.expires > now);
  const present = new Set(current.rules.filter((r) => inFw4(r) && chains.has(r.chain)).map((r) => canonicalExpr(r.expr, () => undefined)));
  const held: string[] = [];
  const back: NftRule[] = [];
  for (const r of previous.rules) {
    if (!inFw4(r) || !chains.has(r.chain) || present.has(canonicalExpr(r.expr, () => undefined))) continue;
    const m = mappingOf(r);
    const lease = m && leases.find((l) => l.proto === m.proto && l.eport === m.eport && l.iaddr === m.iaddr && l.iport === m.iport);
    if (!lease) continue;
    back.push(r);
    held.push(words(lease));
  }
  // miniupnpd appends its rules: back at the end of their chain
  return { ruleset: back.length ? { ...current, rules: [...current.rules, ...back] } : current, held };
}
