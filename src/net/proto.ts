/** IP protocols by name and number, and which of them carry ports in conntrack. */

/** IP protocol numbers of the names fw4 and nft use. */
const PROTO_NUMBERS: Record<string, number> = {
  icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, "ipv6-icmp": 58, sctp: 132,
  dccp: 33, udplite: 136, ipip: 4, ipv6: 41, ospf: 89, pim: 103, vrrp: 112, l2tp: 115,
};

/** Protocols whose conntrack entries carry ports. */
export const PORT_PROTOS: readonly number[] = [6, 17, 33, 132, 136];

/** A protocol name or number as a number, or null when natnow does not know it. */
export function protoNumber(name: string): number | null {
  if (/^[0-9]{1,3}$/.test(name) && Number(name) <= 255) return Number(name);
  return PROTO_NUMBERS[name] ?? null;
}

/** The name of a protocol number, for humans. */
export function protoName(n: number): string {
  for (const [k, v] of Object.entries(PROTO_NUMBERS)) if (v === n) return k;
  return String(n);
}
