/**
 * The kernel as the oracle of natnow's rule evaluator: random NAT rulesets
 * (fw4-shaped and hand-written, test/helpers/rulegen.ts) are loaded into the
 * namespace router, random UDP flows are sent through it, and what
 * conntrack did to each (its reply tuple) must be exactly what natnow's
 * evaluator predicts from the ruleset as `nft -j` printed it. A flow DNATed
 * back to its own sender is routed nowhere on the bridge (measured: the
 * packet passes the nat prerouting chain and never reaches forward), so
 * it has no entry to compare; those are counted apart.
 */
import { describe, expect, it } from "vitest";
import type { Flow } from "../../src/conntrack/flow.ts";
import { formatIp } from "../../src/net/ip.ts";
import { evaluate, type Packet } from "../../src/ruleset/evaluate.ts";
import { parseNftJson } from "../../src/ruleset/nft.ts";
import { LAN_HOSTS, PORTS, randomRuleset, rng, WAN_ADDRS, WAN_ADDRS6 } from "../helpers/rulegen.ts";
import { canRunNetns, Router, sleep, v6of } from "./harness.ts";

const RULESETS = 12;
const FLOWS = 40;
const FLOWS6 = 20;

/** Sends one datagram per flow from a host: [src, sport, dst, dport] each. */
const SENDER = "import json,socket,sys\nfor s,sp,d,dp in json.loads(sys.argv[1]):\n" +
  " k=socket.socket(socket.AF_INET6 if ':' in s else socket.AF_INET,socket.SOCK_DGRAM); k.bind((s,sp)); k.sendto(b'x',(d,dp)); k.close()\n";

interface Sent {
  host: string;
  p: Packet;
}

function flowsFor(seed: number): Sent[] {
  const r = rng(seed * 7919);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const lanDst = ["198.19.100.2", "198.18.1.1", "198.19.100.1", "198.19.100.5", "198.19.200.9", "198.19.60.7"];
  const wanDst = ["198.19.100.2", "198.19.100.2", ...Object.values(LAN_HOSTS)];
  const lanDst6 = ["2001:db8:100::2", "2001:db8:1::1", "2001:db8:100::1", "2001:db8:100::5", "2001:db8:200::9", "2001:db8:60::7"];
  const wanDst6 = ["2001:db8:100::2", "2001:db8:100::2", ...Object.values(LAN_HOSTS).map(v6of)];
  const v4 = Array.from({ length: FLOWS }, (_, i): Sent => {
    const fromLan = r() < 0.6;
    const host = fromLan ? pick(Object.keys(LAN_HOSTS)) : "w";
    const src = fromLan ? LAN_HOSTS[host as keyof typeof LAN_HOSTS] : pick(WAN_ADDRS);
    const dst = pick(fromLan ? lanDst : wanDst);
    return { host, p: { family: 4, proto: 17, src, dst, sport: 20000 + i, dport: pick(PORTS), iif: fromLan ? "br-lan" : "eth1" } };
  });
  const v6 = Array.from({ length: FLOWS6 }, (_, i): Sent => {
    const fromLan = r() < 0.6;
    const host = fromLan ? pick(Object.keys(LAN_HOSTS)) : "w";
    const src = fromLan ? v6of(LAN_HOSTS[host as keyof typeof LAN_HOSTS]) : pick(WAN_ADDRS6);
    const dst = pick(fromLan ? lanDst6 : wanDst6);
    return { host, p: { family: 6, proto: 17, src, dst, sport: 21000 + i, dport: pick(PORTS), iif: fromLan ? "br-lan" : "eth1" } };
  });
  return [...v4, ...v6];
}

/** The router's routing, as the namespace router has it. */
function route(dst: string): string {
  if (["198.18.1.1", "198.19.100.2", "2001:db8:1::1", "2001:db8:100::2"].indexOf(dst) >= 0) return "local";
  return dst.startsWith("198.18.1.") || dst.startsWith("2001:db8:1::") ? "br-lan" : "eth1";
}
const OWN: Record<string, [string, string]> = { "br-lan": ["198.18.1.1", "2001:db8:1::1"], eth1: ["198.19.100.2", "2001:db8:100::2"] };
const own = (dev: string, family: 4 | 6) => OWN[dev]?.[family === 4 ? 0 : 1] ?? null;

describe.skipIf(!canRunNetns)("the kernel as the oracle of the rule evaluator", () => {
  it(`predicts every translation: ${FLOWS} IPv4 and ${FLOWS6} IPv6 flows through each of ${RULESETS} random rulesets`, async () => {
    const r = new Router(LAN_HOSTS);
    const wrong: string[] = [];
    let checked = 0;
    let translated = 0;
    let toSender = 0;
    let translated6 = 0;
    try {
      for (const a of ["198.19.100.5/24", "198.19.60.7/24"]) r.in("w", "ip", "addr", "add", a, "dev", "eth0");
      for (const a of ["2001:db8:100::5/64", "2001:db8:60::7/64"]) r.in("w", "ip", "addr", "add", a, "dev", "eth0", "nodad");
      r.waitAddressesUsable(); // the addresses just added are tentative until DAD's work has run
      r.in("w", "ip", "route", "add", "198.18.1.0/24", "via", "198.19.100.2");
      r.in("w", "ip", "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:100::2");
      r.in("r", "ip", "route", "add", "default", "via", "198.19.100.1");
      r.in("r", "ip", "-6", "route", "add", "default", "via", "2001:db8:100::1");
      for (let seed = 1; seed <= RULESETS; seed++) {
        r.in("r", "nft", "flush", "ruleset");
        r.loadText(randomRuleset(seed));
        r.in("r", "conntrack", "-F");
        const rs = parseNftJson(r.rulesetJson());
        const sent = flowsFor(seed);
        const byHost = new Map<string, Sent[]>();
        for (const s of sent) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
        await Promise.all([...byHost].map(([h, list]) =>
          r.spawnIn(h, ["python3", "-c", SENDER, JSON.stringify(list.map((s) => [s.p.src, s.p.sport, s.p.dst, s.p.dport]))])
        ));
        // a first datagram to a neighbour not yet resolved waits in the neighbour queue (IPv6
        // NDP, ARP): wait until every flow the evaluator says gets an entry has one (at most 3 s)
        const expected = sent.filter((s) => {
          const v = evaluate(rs, s.p, route, own);
          return !v.dropped && v.dnat?.addr !== s.p.src;
        });
        const has = (t: Flow[], s: Sent) => t.some((f) => f.proto === 17 && f.family === s.p.family && formatIp(f.orig.src) === s.p.src &&
          f.orig.sport === s.p.sport && formatIp(f.orig.dst) === s.p.dst && f.orig.dport === s.p.dport);
        let table = r.table();
        for (const until = Date.now() + 3000; Date.now() < until && !expected.every((s) => has(table, s));) {
          await sleep(50);
          table = r.table();
        }
        for (const s of sent) {
          const p = s.p;
          const v = evaluate(rs, p, route, own);
          if (v.dnat?.addr === p.src) {
            toSender++;
            continue;
          }
          const e = table.find((f: Flow) => f.proto === 17 && f.family === p.family && formatIp(f.orig.src) === p.src && f.orig.sport === p.sport &&
            formatIp(f.orig.dst) === p.dst && f.orig.dport === p.dport);
          const want = v.dropped ? "no entry" : `${v.dnat?.addr ?? p.dst}:${v.dnat?.port?.min ?? p.dport} > ` +
            `${v.snat?.addr ?? p.src}:${v.snat?.port?.min ?? p.sport}`;
          const got = e ? `${formatIp(e.reply.src)}:${e.reply.sport} > ${formatIp(e.reply.dst)}:${e.reply.dport}` : "no entry";
          checked++;
          if (v.dnat || v.snat) translated++;
          if ((v.dnat || v.snat) && p.family === 6) translated6++;
          if (want !== got) wrong.push(`seed ${seed}: ${p.src}:${p.sport} > ${p.dst}:${p.dport} via ${p.iif}: predicted ${want}, kernel ${got}`);
        }
      }
    } finally {
      r.close();
    }
    console.log(`oracle: ${checked} flows over ${RULESETS} rulesets checked (${translated} translated, ${translated6} of them IPv6; ${toSender} DNATed to their sender left out), ` +
      `${wrong.length} mispredicted`);
    expect(wrong).toEqual([]);
    expect(checked + toSender).toBe((FLOWS + FLOWS6) * RULESETS);
    expect(translated).toBeGreaterThan(checked / 4);
    expect(translated6).toBeGreaterThan(FLOWS6 * RULESETS / 5);
  }, 120_000);
});
