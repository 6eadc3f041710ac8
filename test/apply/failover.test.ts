/** The routing part of a run: what it reads of the router, and that input it cannot use moves nothing and is named unhandled. */
import { describe, expect, it } from "vitest";
import { failbackOf, routerView, runFailover } from "../../src/apply/failover.ts";
import { DEFAULT_POLICY } from "../../src/config/policy.ts";
import type { Host } from "../../src/host/host.ts";
import { fixtureBytes, fixtureText } from "../helpers/fixtures.ts";

/** A host that must never be asked for anything: input natnow cannot use touches nothing. */
const untouchable = new Proxy({}, { get: (_t, k) => () => { throw new Error(`host.${String(k)} called`); } }) as Host;
const CTX = { interfaces: null, kernel: null, kmod: false, dryRun: false };
const FLOW = "ipv4 2 udp 17 100 src=198.18.1.20 dst=198.19.50.1 sport=5060 dport=5060 src=198.19.50.1 dst=198.19.1.2 sport=5060 dport=5060 mark=256 use=1";

describe("runFailover", () => {
  it.each([
    ["a config that does not parse", { config: new TextEncoder().encode("config rule 'x\n") }, /mwan3: the mwan3 config does not parse/],
    ["no interface states", { status: null }, /neither ubus call mwan3 status/],
    ["no table", { flows: null }, /conntrack table could not be listed/],
  ])("%s: no flow moved, named unhandled", (_w, over, why) => {
    const input = {
      config: fixtureBytes("mwan3", "two-wan.config"), status: fixtureText("mwan3", "status-fibre-down.json"),
      hotplug: new Map<string, string>(), mmxMask: null, flows: [], warnings: [], ...over,
    };
    const o = runFailover(untouchable, input, DEFAULT_POLICY, CTX);
    expect(o.unhandled.join("\n")).toMatch(why);
    expect(o.result).toBeNull();
  });
  it("a flow on an offline interface with no online member to go to: kept, nothing asked of the host", async () => {
    const { parseLine } = await import("../../src/conntrack/parse.ts");
    const status = JSON.stringify({ interfaces: { wan1: { status: "offline", up: true }, wan2: { status: "offline", up: true } } });
    const o = runFailover(untouchable, { config: fixtureBytes("mwan3", "two-wan.config"), status, hotplug: new Map(), mmxMask: null,
      flows: [parseLine(FLOW)], warnings: [] }, DEFAULT_POLICY, CTX);
    expect(o.entries).toEqual([{ wan: "wan1", to: [], moved: 0, kept: 1, unclear: 0, notes: ["kept: policy 'wan1_wan2' has no online member"] }]);
  });
});

describe("routerView and failbackOf", () => {
  it("the router's addresses per netifd interface, from the dump and the kernel", () => {
    const dump = JSON.stringify({ interface: [{ interface: "wan1", l3_device: "eth1", "ipv4-address": [{ address: "198.19.1.2", mask: 24 }] }] });
    const addr = JSON.stringify([{ ifname: "eth1", addr_info: [{ family: "inet", local: "198.19.1.3", prefixlen: 24, scope: "global" }] }]);
    const v = routerView({ interfaces: dump, kernel: { addr, routes: ["[]", "[]"] } });
    expect(v.ifaceAddrs.get("wan1")).toEqual(["198.19.1.3", "198.19.1.2"]);
    expect([...v.own].sort()).toEqual(["198.19.1.2", "198.19.1.3"]);
  });
  it("the policy's failback options as the planner takes them", () => {
    expect(failbackOf({ ...DEFAULT_POLICY, failbackPolicies: { voip: null } })).toEqual({ protocols: [17], perPolicy: new Map([["voip", null]]), delay: 0 });
  });
});
