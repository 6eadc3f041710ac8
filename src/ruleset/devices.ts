/**
 * Devices as addresses: what conntrack can tell an interface's traffic by.
 * netifd's networks (the interface dump, fw4.state) name the devices fw4's
 * zones use; for any other device the kernel's own view counts (`ip -j
 * addr`, `ip -j route show table all`), which is also all there is on plain Linux.
 */

import type { Facts } from "../firewall/facts.ts";
import { formatPrefix, hostPrefix, parseIp, prefix } from "../net/ip.ts";
import { isObject, type Json, type JsonObject, RulesetError } from "./nft.ts";

/** One device: the subnets reached through it, the router's addresses on it, a default route. */
export interface DeviceFacts {
  name: string;
  subnets: string[];
  addresses: string[];
  defaultRoute: boolean;
}

/** A named group of devices (an fw4 zone), used to name scopes in UCI words. */
export interface DeviceGroup {
  name: string;
  devices: string[];
  /** The zone masquerades: its traffic can come from anywhere. */
  upstream: boolean;
}

/** Where the addresses of devices come from. */
export interface Topology {
  devices: DeviceFacts[];
  groups: DeviceGroup[];
}

function json(text: string, what: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new RulesetError(`${what}: not valid JSON`);
  }
}

function device(map: Map<string, DeviceFacts>, name: string): DeviceFacts {
  let d = map.get(name);
  if (!d) {
    d = { name, subnets: [], addresses: [], defaultRoute: false };
    map.set(name, d);
  }
  return d;
}

const add = (list: string[], v: string) => {
  if (list.indexOf(v) < 0) list.push(v);
};

/** The halves OpenVPN's `redirect-gateway def1` routes instead of a default route, per family. */
const SPLIT_DEFAULT: Record<string, 4 | 6> = { "0.0.0.0/1": 4, "128.0.0.0/1": 4, "::/1": 6, "8000::/1": 6 };

/** The devices a route goes out of: its `dev`, or each of an ECMP route's `nexthops`. */
function routeDevices(r: JsonObject): string[] {
  if (typeof r.dev === "string") return [r.dev];
  const hops = Array.isArray(r.nexthops) ? r.nexthops : [];
  return hops.flatMap((h) => (isObject(h) && typeof h.dev === "string" ? [h.dev] : []));
}

/**
 * The kernel's view: `ip -j addr` (global and host-scope addresses) and
 * `ip -j route show table all` for each family (subnets reached through a
 * device, default routes). A device holds a default route when a unicast
 * route of any table (main, wg-quick's, pbr's) to `default` goes out of it,
 * directly or as one of an ECMP route's nexthops, or when both of
 * OpenVPN's halves of a family (0.0.0.0/1 and 128.0.0.0/1, ::/1 and
 * 8000::/1) do. local, broadcast, unreachable and other types are not routes out.
 */
export function parseKernelView(addrText: string, routeTexts: readonly string[]): DeviceFacts[] {
  const map = new Map<string, DeviceFacts>();
  const links = json(addrText, "ip -j addr");
  if (!Array.isArray(links)) throw new RulesetError("ip -j addr: not a list");
  for (const l of links) {
    if (!isObject(l) || typeof l.ifname !== "string") continue;
    for (const a of Array.isArray(l.addr_info) ? l.addr_info : []) {
      if (!isObject(a) || a.scope === "link" || typeof a.local !== "string" || typeof a.prefixlen !== "number") continue;
      const ip = parseIp(a.local);
      if (!ip) continue;
      const d = device(map, l.ifname);
      add(d.addresses, formatPrefix(hostPrefix(ip)));
      add(d.subnets, formatPrefix(prefix(ip, a.prefixlen)));
    }
  }
  /** The split-default halves seen per device and family (`tun0 4` → ["0.0.0.0/1"]). */
  const halves = new Map<string, string[]>();
  routeTexts.forEach((t, i) => {
    const routes = json(t, `ip -j route (${i})`);
    if (!Array.isArray(routes)) throw new RulesetError("ip -j route: not a list");
    for (const r of routes) {
      if (!isObject(r) || typeof r.dst !== "string") continue;
      if (r.type !== undefined && r.type !== "unicast") continue;
      const dst = r.dst;
      for (const name of routeDevices(r)) {
        const d = device(map, name);
        if (dst === "default") {
          d.defaultRoute = true;
          continue;
        }
        if (SPLIT_DEFAULT[dst] !== undefined) {
          const k = `${name} ${SPLIT_DEFAULT[dst]}`;
          const seen = [...(halves.get(k) ?? []), dst];
          halves.set(k, seen);
          if (new Set(seen).size === 2) d.defaultRoute = true;
          continue;
        }
        const [addr, bits] = dst.split("/");
        const ip = parseIp(addr);
        if (!ip || ip[0] === 0xfe && (ip[1] & 0xc0) === 0x80) continue; // fe80::/10 is every link's
        add(d.subnets, formatPrefix(prefix(ip, bits === undefined ? ip.length * 8 : Number(bits))));
      }
    }
  });
  return [...map.values()].filter((d) => d.subnets.length || d.addresses.length || d.defaultRoute);
}

/**
 * The devices of netifd's networks (facts), then the kernel's view for any
 * device no network names; fw4's zones (fw4.state), else `zones`, name groups.
 */
export function topology(facts: Facts, kernel: readonly DeviceFacts[], zones: readonly DeviceGroup[] = []): Topology {
  const map = new Map<string, DeviceFacts>();
  for (const n of Object.values(facts.networks)) {
    if (!n.device) continue;
    const d = device(map, n.device);
    for (const a of n.addrs) {
      if (a.kind !== "prefix") continue;
      add(d.subnets, formatPrefix(prefix(a.addr, a.bits)));
      add(d.addresses, formatPrefix(hostPrefix(a.addr)));
    }
    if (n.defaultRoute) d.defaultRoute = true;
  }
  for (const k of kernel) if (!map.has(k.name)) map.set(k.name, k);
  const groups: DeviceGroup[] = facts.zones.length
    ? facts.zones.map((z) => ({ name: z.name, devices: z.devices, upstream: z.masq }))
    : [...zones];
  return { devices: [...map.values()], groups };
}
