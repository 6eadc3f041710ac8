/**
 * IPv4/IPv6 addresses and prefixes as byte arrays, with the parsing and
 * printing rules of glibc's inet_pton/inet_ntop (which ucode's
 * iptoarr/arrtoip, and so fw4, use).
 */

/** An address: 4 bytes (IPv4) or 16 bytes (IPv6). */
export type IpBytes = readonly number[];

/** Address family as fw4 numbers it. */
export type Family = 4 | 6;

/** A contiguous prefix (an address and a prefix length). */
export interface Prefix {
  family: Family;
  addr: IpBytes;
  bits: number;
}

/** inet_pton(AF_INET): four decimal octets, no leading zeros. */
function parseIpv4(s: string): number[] | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** inet_pton(AF_INET6), including `::` and a trailing dotted IPv4 part. */
function parseIpv6(s: string): number[] | null {
  if (s.length === 0 || s.length > 45) return null;
  let tail: number[] = [];
  let text = s;
  const lastColon = s.lastIndexOf(":");
  if (lastColon >= 0 && s.indexOf(".", lastColon) >= 0) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (!v4) return null;
    tail = v4;
    // keep a "::" right before the IPv4 part, drop a single ":" separator
    text = s.slice(0, lastColon + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const dbl = text.indexOf("::");
  if (dbl >= 0 && text.indexOf("::", dbl + 1) >= 0) return null;
  const groupsWanted = 8 - tail.length / 2;
  const parseGroups = (t: string): number[] | null => {
    if (t === "") return [];
    const out: number[] = [];
    for (const g of t.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const rest = parseGroups(text.slice(dbl + 2));
    if (!head || !rest || head.length + rest.length >= groupsWanted) return null;
    groups = [...head, ...new Array<number>(groupsWanted - head.length - rest.length).fill(0), ...rest];
  } else {
    const g = parseGroups(text);
    if (!g || g.length !== groupsWanted) return null;
    groups = g;
  }
  const out: number[] = [];
  for (const g of groups) out.push(g >> 8, g & 255);
  return [...out, ...tail];
}

/** ucode iptoarr: an IPv4 or IPv6 address as bytes, or null. */
export function parseIp(s: string): number[] | null {
  return s.indexOf(":") >= 0 ? parseIpv6(s) : parseIpv4(s);
}

/** inet_ntop: canonical text of an address. */
export function formatIp(a: IpBytes): string {
  if (a.length === 4) return a.join(".");
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((a[i] << 8) | a[i + 1]);
  // longest run of two or more zero words, the first on a tie
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) out += ":";
      continue;
    }
    if (i > 0) out += ":";
    // glibc prints an embedded IPv4 for ::a.b.c.d and ::ffff:a.b.c.d
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += a.slice(12).join(".");
      return out;
    }
    out += w[i].toString(16);
  }
  if (best >= 0 && best + bestLen === 8) out += ":";
  return out;
}

/** The family of an address or prefix written as text. */
export function textFamily(p: string): Family {
  return p.indexOf(":") >= 0 ? 6 : 4;
}

/** The family of an address by its length. */
export function familyOf(a: IpBytes): Family {
  return a.length === 16 ? 6 : 4;
}

/** fw4 to_mask: the netmask bytes for a prefix length (null when too long). */
export function maskBytes(bits: number, v6: boolean): number[] | null {
  const n = v6 ? 16 : 4;
  if (bits < 0 || bits > n * 8) return null;
  const m: number[] = [];
  let left = bits;
  for (let i = 0; i < n; i++) {
    const b = Math.min(left, 8);
    m.push((0xff << (8 - b)) & 0xff);
    left -= b;
  }
  return m;
}

/** fw4 to_bits: the prefix length of a contiguous mask, or null. */
export function maskBits(mask: IpBytes): number | null {
  let bits = 0;
  let zero = false;
  for (let b of mask) {
    zero ||= b === 0;
    while (!zero && (b & 0x80)) {
      b = (b << 1) & 0xff;
      bits++;
    }
    if (b) return null;
  }
  return bits;
}

/** Applies a netmask given as bytes. */
function applyMask(a: IpBytes, mask: IpBytes): number[] {
  return a.map((b, i) => b & (mask[i] ?? 0));
}

/** A prefix with its host bits cleared. */
export function prefix(addr: IpBytes, bits: number): Prefix {
  const fam = familyOf(addr);
  const m = maskBytes(bits, fam === 6) as number[];
  return { family: fam, addr: applyMask(addr, m), bits };
}

/** The host prefix (/32 or /128) of an address. */
export function hostPrefix(addr: IpBytes): Prefix {
  return { family: familyOf(addr), addr: [...addr], bits: addr.length * 8 };
}

/** Parses `ADDR` or `ADDR/BITS` into a prefix (no masks, no ranges). */
export function parsePrefix(s: string): Prefix | null {
  const slash = s.indexOf("/");
  const a = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!a) return null;
  if (slash < 0) return hostPrefix(a);
  const t = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(t)) return null;
  const bits = Number(t);
  if (bits > a.length * 8) return null;
  return prefix(a, bits);
}

/** Canonical text of a prefix: `ADDR/BITS`. */
export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.addr)}/${p.bits}`;
}

/** Whether a prefix contains an address. */
export function prefixContains(p: Prefix, a: IpBytes): boolean {
  if (a.length !== p.addr.length) return false;
  let left = p.bits;
  for (let i = 0; i < a.length && left > 0; i++) {
    const b = Math.min(left, 8);
    const m = (0xff << (8 - b)) & 0xff;
    if ((a[i] & m) !== (p.addr[i] & m)) return false;
    left -= b;
  }
  return true;
}

/** Whether prefix `outer` covers all of prefix `inner`. */
export function prefixCovers(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.bits <= inner.bits &&
    prefixContains(outer, inner.addr);
}

/**
 * The smallest set of prefixes that covers exactly the range lo..hi
 * (fw4 accepts `A-B` address ranges; conntrack selectors use prefixes).
 */
export function rangeToPrefixes(lo: IpBytes, hi: IpBytes): Prefix[] {
  const width = lo.length * 8;
  const toBig = (a: IpBytes) => a.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  const fromBig = (v: bigint) => {
    const out: number[] = [];
    for (let i = lo.length - 1; i >= 0; i--) out[i] = Number((v >> BigInt((lo.length - 1 - i) * 8)) & 255n);
    return out;
  };
  let cur = toBig(lo);
  const end = toBig(hi);
  const out: Prefix[] = [];
  while (cur <= end) {
    let size = 0;
    while (size < width) {
      const block = 1n << BigInt(size + 1);
      if (cur % block !== 0n || cur + block - 1n > end) break;
      size++;
    }
    out.push({ family: lo.length === 16 ? 6 : 4, addr: fromBig(cur), bits: width - size });
    cur += 1n << BigInt(size);
  }
  return out;
}
