/**
 * Random NAT rulesets for the kernel-oracle test, written as nft text: an
 * fw4-shaped `table inet fw4` (dstnat/srcnat jumping to per-zone chains by
 * device, `meta nfproto ipv4` rules with fw4's statements) and a
 * hand-written `table ip hand` (another priority, named sets, ranges,
 * negations, goto/jump with return, th ports, `ct status dnat`). Only IPv4/UDP, which the
 * oracle's flows use. Seeded, so a failure can be replayed.
 */

/** A small seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The oracle router's LAN hosts (IPv4; each has 2001:db8:1::N as well). */
export const LAN_HOSTS = { l1: "198.18.1.50", l2: "198.18.1.20", l3: "198.18.1.30" } as const;
/** The WAN host's addresses, IPv4 and IPv6. */
export const WAN_ADDRS = ["198.19.100.1", "198.19.100.5", "198.19.60.7"] as const;
export const WAN_ADDRS6 = ["2001:db8:100::1", "2001:db8:100::5", "2001:db8:60::7"] as const;
/** Ports the flows go to. */
export const PORTS = [53, 80, 5060, 5061, 6000, 8080, 9999] as const;

const PREFIXES6 = [
  "2001:db8:1::/64", "2001:db8:1::50", "2001:db8:1::20", "2001:db8:1::10/124", "2001:db8:100::/64", "2001:db8:100::1",
  "2001:db8::/32", "2001:db8:60::/48", "2001:db8:100::2", "2001:db8:1::1",
];

const PREFIXES = [
  "198.18.1.0/24", "198.18.1.16/28", "198.18.1.48/29", "198.18.1.50", "198.18.1.20", "198.19.100.0/24", "198.19.100.1",
  "198.19.0.0/16", "198.19.60.0/24", "198.18.0.0/15", "198.19.100.2", "198.18.1.1", "198.19.200.0/24",
];

/** A random ruleset's text. */
export function randomRuleset(seed: number): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const chance = (p: number) => r() < p;
  const addr = (dir: "saddr" | "daddr", named: boolean): string => {
    const k = r();
    if (named && k < 0.15) return `ip ${dir} @hosts`;
    if (k < 0.3) return `ip ${dir} ${pick(PREFIXES)}`;
    if (k < 0.45) return `ip ${dir} != ${pick(PREFIXES)}`;
    if (k < 0.6) return `ip ${dir} { ${pick(PREFIXES)}, ${pick(PREFIXES)} }`;
    if (k < 0.7) return `ip ${dir} 198.18.1.10-198.18.1.40`;
    return "";
  };
  const port = (named: boolean, th: boolean): string => {
    const p = th ? "meta l4proto udp th" : "udp";
    const k = r();
    if (named && k < 0.1) return `${p} dport @ports`;
    if (k < 0.4) return `${p} dport ${pick(PORTS)}`;
    if (k < 0.5) return `${p} dport != ${pick(PORTS)}`;
    if (k < 0.6) return `${p} dport 5000-6100`;
    if (k < 0.7) return `${p} dport { ${pick(PORTS)}, 8000-8100 }`;
    if (k < 0.75) return `udp sport 20000-20019`;
    return "";
  };
  const target = (inet: boolean, hasL4: boolean) => {
    const host = pick(Object.values(LAN_HOSTS));
    const fam = inet ? " ip" : "";
    if (hasL4 && chance(0.4)) return `dnat${fam} to ${host}:${pick(PORTS)}`;
    return `dnat${fam} to ${host}`;
  };
  const dstRule = (inet: boolean, named: boolean): string => {
    const ports = port(named, chance(0.2));
    const hasL4 = ports !== "";
    const l4 = hasL4 ? ports : chance(0.5) ? "meta l4proto udp" : "";
    const m = [inet ? "meta nfproto ipv4" : "", addr("saddr", named), addr("daddr", named), l4].filter(Boolean).join(" ");
    const k = r();
    const act = k < 0.65 ? target(inet, l4 !== "") : k < 0.8 ? (l4 ? `redirect to :${pick(PORTS)}` : "redirect") : "accept";
    return `${m} ${act}`.trim();
  };
  const srcRule = (inet: boolean, named: boolean): string => {
    const k0 = r();
    const ct = k0 < 0.15 ? "ct status dnat" : k0 < 0.25 ? "ct status & dnat == 0" : "";
    const m = [inet ? "meta nfproto ipv4" : "", ct, addr("saddr", named), addr("daddr", named), port(named, false)].filter(Boolean).join(" ");
    const k = r();
    const fam = inet ? " ip" : "";
    const act = k < 0.45 ? "masquerade" : k < 0.8 ? `snat${fam} to ${pick(["198.19.100.2", "198.19.100.9", "198.18.1.1"])}` : "accept";
    return `${m} ${act}`.trim();
  };
  const rules = (n: number, f: () => string) => Array.from({ length: n }, f).map((x) => `\t\t${x}\n`).join("");
  const n = () => Math.floor(r() * 4);
  let t = "table inet fw4 {\n";
  t += "\tchain dstnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" +
    "\t\tiifname \"br-lan\" jump dstnat_lan\n\t\tiifname \"eth1\" jump dstnat_wan\n\t}\n";
  t += "\tchain srcnat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n" +
    "\t\toifname \"br-lan\" jump srcnat_lan\n\t\toifname \"eth1\" jump srcnat_wan\n\t}\n";
  for (const c of ["dstnat_lan", "dstnat_wan"]) t += `\tchain ${c} {\n${rules(n(), () => dstRule(true, false))}\t}\n`;
  t += `\tchain srcnat_lan {\n${rules(n(), () => srcRule(true, false))}\t}\n`;
  t += `\tchain srcnat_wan {\n${rules(n(), () => srcRule(true, false))}${chance(0.7) ? "\t\tmeta nfproto ipv4 masquerade\n" : ""}\t}\n}\n`;
  const prio = chance(0.5) ? "dstnat - 5" : "dstnat + 5";
  t += "table ip hand {\n";
  t += `\tset hosts {\n\t\ttype ipv4_addr; flags interval; auto-merge;\n\t\telements = { ${pick(PREFIXES)}, ${pick(PREFIXES)} }\n\t}\n`;
  t += "\tset ports {\n\t\ttype inet_service; flags interval;\n\t\telements = { 5060, 6000-6010 }\n\t}\n";
  const sub = chance(0.5);
  t += `\tchain pre {\n\t\ttype nat hook prerouting priority ${prio}; policy accept;\n` +
    (sub ? `\t\tiifname "${pick(["br-lan", "eth1"])}" ${pick(["jump", "goto"])} sub\n` : "") + rules(n(), () => dstRule(false, true)) + "\t}\n";
  t += `\tchain sub {\n${chance(0.6) ? `\t\t${addr("saddr", true) || "ip saddr 198.18.1.16/28"} return\n` : ""}${rules(1 + n(), () => dstRule(false, true))}\t}\n`;
  t += `\tchain post {\n\t\ttype nat hook postrouting priority ${pick(["srcnat - 5", "srcnat + 5"])}; policy accept;\n${rules(n(), () => srcRule(false, true))}\t}\n}\n`;
  // IPv6: its own table, fw4-style statements
  const a6 = (dir: "saddr" | "daddr") => {
    const k = r();
    if (k < 0.3) return `ip6 ${dir} ${pick(PREFIXES6)}`;
    if (k < 0.45) return `ip6 ${dir} != ${pick(PREFIXES6)}`;
    if (k < 0.55) return `ip6 ${dir} { ${pick(PREFIXES6)}, ${pick(PREFIXES6)} }`;
    return "";
  };
  const host6 = () => `2001:db8:1::${pick(Object.values(LAN_HOSTS)).split(".")[3]}`;
  const dst6 = () => {
    const ports = port(false, false);
    const m = [a6("saddr"), a6("daddr"), ports || (chance(0.5) ? "meta l4proto udp" : "")].filter(Boolean).join(" ");
    const hasL4 = m.indexOf("udp") >= 0;
    const k = r();
    const act = k < 0.65 ? (hasL4 && chance(0.4) ? `dnat to [${host6()}]:${pick(PORTS)}` : `dnat to ${host6()}`)
      : k < 0.8 ? (hasL4 ? `redirect to :${pick(PORTS)}` : "redirect") : "accept";
    return `${m} ${act}`.trim();
  };
  const src6 = () => {
    const k0 = r();
    const ct = k0 < 0.15 ? "ct status dnat" : "";
    const m = [ct, a6("saddr"), a6("daddr"), port(false, false)].filter(Boolean).join(" ");
    const k = r();
    const act = k < 0.5 ? "masquerade" : k < 0.8 ? `snat to ${pick(["2001:db8:100::2", "2001:db8:100::9", "2001:db8:1::1"])}` : "accept";
    return `${m} ${act}`.trim();
  };
  t += "table ip6 hand6 {\n";
  t += `\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n${rules(1 + n(), dst6)}\t}\n`;
  t += `\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n` +
    `${rules(n(), src6)}${chance(0.6) ? '\t\toifname "eth1" masquerade\n' : ""}\t}\n}\n`;
  return t;
}
