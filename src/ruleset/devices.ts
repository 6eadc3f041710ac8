/**
 * Devices as addresses: what conntrack can tell an interface's traffic by.
 * netifd's networks (the interface dump, fw4.state) name the devices fw4's
 * zones use; for any other device the kernel's own view counts (`ip -j
 * addr`, `ip -j route`), which is also all there is on plain Linux.
 */

import type { Facts } from "../firewall/facts.ts";
import { formatPrefix, hostPrefix, parseIp, prefix } from "../net/ip.ts";
import { isObject, type Json, RulesetError } from "./nft.ts";

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

/**
 * The kernel's view: `ip -j addr` (global and host-scope addresses) and
 * `ip -j route` for each family (subnets reached through a device, default routes).
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
  routeTexts.forEach((t, i) => {
    const routes = json(t, `ip -j route (${i})`);
    if (!Array.isArray(routes)) throw new RulesetError("ip -j route: not a list");
    for (const r of routes) {
      if (!isObject(r) || typeof r.dev !== "string" || typeof r.dst !== "string") continue;
      if (r.type !== undefined && r.type !== "unicast") continue;
      const d = device(map, r.dev);
      if (r.dst === "default") {
        d.defaultRoute = true;
        continue;
      }
      const [addr, bits] = r.dst.split("/");
      const ip = parseIp(addr);
      if (!ip || ip[0] === 0xfe && (ip[1] & 0xc0) === 0x80) continue; // fe80::/10 is every link's
      add(d.subnets, formatPrefix(prefix(ip, bits === undefined ? ip.length * 8 : Number(bits))));
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
