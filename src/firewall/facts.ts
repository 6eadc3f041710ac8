/**
 * Runtime facts fw4 resolves zones with: logical networks, their devices and
 * addresses. Read from `/var/run/fw4.state` (what fw4 wrote) or from
 * `ubus call network.interface dump` (what netifd reports now), the way fw4
 * `read_state`/`read_ubus` do.
 */

import { type Family, parseIp } from "../net/ip.ts";
import type { AddrItem } from "./values.ts";

/** One logical network (fw4 state.networks[name]). */
export interface NetworkFacts {
  device: string | null;
  /** A zone the interface asks to be in (ubus `data.zone`). */
  zone: string | null;
  addrs: AddrItem[];
  /** The network has a default route (only the interface dump tells). */
  defaultRoute: boolean;
}

/** A zone as fw4 loaded it (fw4.state `zones[]`): which devices its chains match. */
export interface ZoneFacts {
  name: string;
  /** fw4's `match_devices`, without repeats. */
  devices: string[];
  masq: boolean;
}

/** The runtime facts: networks by name, and the zones fw4 loaded (only its state file tells). */
export interface Facts {
  networks: Record<string, NetworkFacts>;
  zones: ZoneFacts[];
  /** Where the facts came from, for messages. */
  source: string;
}

/** Facts with no networks at all (nothing given). */
export const NO_FACTS: Facts = { networks: {}, zones: [], source: "none" };

/** Why facts could not be read. */
export class FactsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FactsError";
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObj(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: Json | undefined): string | null {
  return typeof v === "string" ? v : null;
}

function parseJson(text: string, what: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    // the engine's own message differs between QuickJS and Node: keep ours
    throw new FactsError(`${what}: not valid JSON`);
  }
}

function addr(family: Family, address: Json | undefined, mask: Json | undefined, what: string): AddrItem {
  const a = typeof address === "string" ? parseIp(address) : null;
  const width = family === 6 ? 128 : 32;
  if (!a || (a.length === 16) !== (family === 6)) {
    throw new FactsError(`${what}: ${JSON.stringify(address)} is not an IPv${family} address`);
  }
  if (typeof mask !== "number" || !Number.isInteger(mask) || mask < 0 || mask > width) {
    throw new FactsError(`${what}: mask ${JSON.stringify(mask)} is not a prefix length`);
  }
  return { kind: "prefix", family, addr: a, bits: mask };
}

/** Parses fw4's state file (`/var/run/fw4.state`). */
export function parseFw4State(text: string): Facts {
  const j = parseJson(text, "fw4 state");
  if (!isObj(j)) throw new FactsError("fw4 state: not a JSON object");
  const nets = j.networks;
  if (nets !== undefined && nets !== null && !isObj(nets)) {
    throw new FactsError("fw4 state: 'networks' is not an object");
  }
  const networks: Record<string, NetworkFacts> = {};
  for (const [name, n] of Object.entries(isObj(nets) ? nets : {})) {
    if (!isObj(n)) throw new FactsError(`fw4 state: network '${name}' is not an object`);
    const list = n.ipaddrs;
    if (list !== undefined && list !== null && !Array.isArray(list)) {
      throw new FactsError(`fw4 state: network '${name}': 'ipaddrs' is not a list`);
    }
    const addrs = (Array.isArray(list) ? list : []).map((x, i) => {
      const what = `fw4 state: network '${name}' address ${i}`;
      if (!isObj(x) || (x.family !== 4 && x.family !== 6)) throw new FactsError(`${what}: bad entry`);
      return addr(x.family, x.addr, x.bits, what);
    });
    networks[name] = {
      device: str(n.device),
      zone: str(n.zone),
      addrs,
      defaultRoute: false,
    };
  }
  const zones: ZoneFacts[] = [];
  for (const z of Array.isArray(j.zones) ? j.zones : []) {
    if (!isObj(z) || typeof z.name !== "string") throw new FactsError("fw4 state: a zone has no name");
    const devs = Array.isArray(z.match_devices) ? z.match_devices.filter((d): d is string => typeof d === "string") : [];
    zones.push({ name: z.name, devices: [...new Set(devs)], masq: z.masq === true || z.masq6 === true });
  }
  return { networks, zones, source: "fw4 state" };
}

/** Parses `ubus call network.interface dump` output (fw4 read_ubus). */
export function parseInterfaceDump(text: string): Facts {
  const j = parseJson(text, "interface dump");
  if (!isObj(j) || !Array.isArray(j.interface)) {
    throw new FactsError("interface dump: no 'interface' list");
  }
  const networks: Record<string, NetworkFacts> = {};
  j.interface.forEach((ifc, i) => {
    if (!isObj(ifc) || typeof ifc.interface !== "string") {
      throw new FactsError(`interface dump: entry ${i} has no 'interface' name`);
    }
    const name = ifc.interface;
    const what = `interface dump: '${name}'`;
    const addrs: AddrItem[] = [];
    const take = (key: string, family: Family, local: boolean) => {
      const list = ifc[key];
      if (list === undefined || list === null) return;
      if (!Array.isArray(list)) throw new FactsError(`${what}: '${key}' is not a list`);
      for (const a of list) {
        if (!isObj(a)) throw new FactsError(`${what}: '${key}' has a bad entry`);
        if (local) {
          const la = a["local-address"];
          if (isObj(la)) addrs.push(addr(family, la.address, la.mask, `${what} ${key}`));
        } else {
          addrs.push(addr(family, a.address, a.mask, `${what} ${key}`));
        }
      }
    };
    take("ipv4-address", 4, false);
    take("ipv6-address", 6, false);
    take("ipv6-prefix-assignment", 6, true);
    const data = ifc.data;
    const routes = Array.isArray(ifc.route) ? ifc.route : [];
    const defaultRoute = routes.some((r) => isObj(r) && r.mask === 0 && (r.target === "0.0.0.0" || r.target === "::"));
    networks[name] = {
      device: str(ifc.l3_device) ?? str(ifc.device),
      zone: isObj(data) ? str(data.zone) : null,
      addrs,
      defaultRoute,
    };
  });
  return { networks, zones: [], source: "interface dump" };
}

/**
 * Combines facts: networks from `fresh` (the interface dump, what netifd
 * says now) win over the same networks in `stale` (the state fw4 wrote).
 */
export function mergeFacts(stale: Facts, fresh: Facts): Facts {
  return {
    networks: { ...stale.networks, ...fresh.networks },
    zones: fresh.zones.length ? fresh.zones : stale.zones,
    source: `${fresh.source} + ${stale.source}`,
  };
}
