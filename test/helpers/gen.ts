/** fast-check generators of firewall configs shaped like real ones, and of conntrack flows. */
import fc from "fast-check";
import type { Flow } from "../../src/conntrack/flow.ts";

const zoneBlock = `config defaults
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'

config zone
	option name 'lan'
	list network 'lan'
	option input 'ACCEPT'
	option output 'ACCEPT'
	option forward 'ACCEPT'
`;

/** One redirect/nat section's text. */
export const natSectionArb: fc.Arbitrary<string> = fc.oneof(
  fc.record({
    name: fc.constantFrom("SIP", "web", "game", "cam", "ssh"),
    proto: fc.constantFrom("udp", "tcp", "tcp udp", "tcpudp", "all"),
    sport: fc.integer({ min: 1, max: 65535 }),
    range: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    host: fc.integer({ min: 2, max: 254 }),
    dport: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    reflection: fc.boolean(),
    srcIp: fc.option(fc.constantFrom("198.19.50.0/24", "!198.19.60.7", "198.19.70.1-198.19.70.9"), { nil: undefined }),
    v6: fc.boolean(),
    target: fc.constantFrom("DNAT", "DNAT", "SNAT"),
  }).map((r) =>
    r.target === "SNAT"
      ? `config redirect\n\toption name '${r.name}'\n\toption target 'SNAT'\n\toption src 'lan'\n\toption dest 'wan'\n\toption proto '${r.proto}'\n\toption src_ip '198.18.1.${r.host}'\n\toption src_dip '198.19.100.${r.host}'\n`
      : `config redirect\n\toption name '${r.name}'\n\toption src 'wan'\n\toption dest 'lan'\n\toption proto '${r.proto}'\n` +
        `\toption src_dport '${r.sport}${r.range !== undefined ? `-${Math.min(65535, r.sport + r.range)}` : ""}'\n` +
        `\toption dest_ip '${r.v6 ? `2001:db8:1::${r.host.toString(16)}` : `198.18.1.${r.host}`}'\n` +
        (r.dport !== undefined ? `\toption dest_port '${r.dport}'\n` : "") +
        (r.reflection ? "" : "\toption reflection '0'\n") +
        (r.srcIp !== undefined && !r.v6 ? `\toption src_ip '${r.srcIp}'\n` : "")
  ),
  fc.record({
    name: fc.constantFrom("snat-a", "snat-b", "masq-x"),
    host: fc.integer({ min: 2, max: 254 }),
    to: fc.integer({ min: 3, max: 254 }),
    target: fc.constantFrom("SNAT", "MASQUERADE", "ACCEPT"),
    proto: fc.constantFrom("all", "udp", "tcp"),
    zone: fc.constantFrom("wan", "lan"),
  }).map((n) =>
    `config nat\n\toption name '${n.name}'\n\toption src '${n.zone}'\n\toption src_ip '198.18.1.${n.host}'\n\toption proto '${n.proto}'\n\toption target '${n.target}'\n` +
    (n.target === "SNAT" ? `\toption snat_ip '198.19.100.${n.to}'\n` : "")
  ),
);

/** A whole firewall config: zones as on the example router plus random NAT sections. */
export const configArb: fc.Arbitrary<string> = fc.record({
  masq: fc.boolean(),
  masq6: fc.boolean(),
  masqSrc: fc.option(fc.constantFrom("198.18.1.0/25", "!198.18.1.7"), { nil: undefined }),
  sections: fc.array(natSectionArb, { maxLength: 5 }),
}).map((c) =>
  zoneBlock +
  `\nconfig zone\n\toption name 'wan'\n\tlist network 'wan'\n\tlist network 'wan6'\n\toption input 'REJECT'\n\toption forward 'REJECT'\n` +
  (c.masq ? "\toption masq '1'\n" : "") + (c.masq6 ? "\toption masq6 '1'\n" : "") +
  (c.masqSrc ? `\tlist masq_src '${c.masqSrc}'\n` : "") +
  c.sections.map((s) => "\n" + s).join("")
);

const ip4 = fc.oneof(
  fc.tuple(fc.constant(198), fc.constantFrom(18, 19), fc.constantFrom(1, 50, 60, 70, 100), fc.integer({ min: 0, max: 255 })),
  fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
).map((t) => [...t]);
const ip6 = fc.tuple(fc.constantFrom(1, 100, 7), fc.integer({ min: 0, max: 0xffff })).map(([net, host]) =>
  [0x20, 0x01, 0x0d, 0xb8, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, host >> 8, host & 255]
);
const port = fc.oneof(fc.constantFrom(5060, 8080, 80, 443, 22), fc.integer({ min: 1, max: 65535 }));

/** A conntrack entry near the example router's addresses and ports. */
export const flowArb: fc.Arbitrary<Flow> = fc.record({
  v6: fc.boolean(),
  proto: fc.constantFrom(6, 17, 1),
  a: fc.tuple(ip4, ip4, ip4, ip4),
  b: fc.tuple(ip6, ip6, ip6, ip6),
  p: fc.tuple(port, port, port, port),
  replied: fc.boolean(),
  dnat: fc.boolean(),
  snat: fc.boolean(),
}).map((r) => {
  const [s, d, rs, rd] = r.v6 ? r.b : r.a;
  const ports = r.proto !== 1;
  return {
    family: r.v6 ? 6 : 4,
    proto: r.v6 && r.proto === 1 ? 58 : r.proto,
    orig: { src: s, dst: d, sport: ports ? r.p[0] : null, dport: ports ? r.p[1] : null },
    reply: { src: r.dnat ? rs : d, dst: r.snat ? rd : s, sport: ports ? (r.dnat ? r.p[2] : r.p[1]) : null, dport: ports ? (r.snat ? r.p[3] : r.p[0]) : null },
    replied: r.replied,
    dnat: r.dnat,
    snat: r.snat,
    zone: 0,
    id: null,
  };
});
