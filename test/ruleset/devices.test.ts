/**
 * Upstreams from the kernel's routes: iproute2's own `ip -j` output for
 * ECMP, wg-quick, pbr and OpenVPN's split default, captured in namespaces
 * (test/fixtures/kernel/capture.sh).
 */
import { describe, expect, it } from "vitest";
import { parseKernelView } from "../../src/ruleset/devices.ts";
import { RulesetError } from "../../src/ruleset/nft.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const view = (s: string) => parseKernelView(fixtureText("kernel", s, "addr.json"),
  [fixtureText("kernel", s, "route4.json"), fixtureText("kernel", s, "route6.json")]);
const upstream = (s: string) => view(s).filter((d) => d.defaultRoute).map((d) => d.name).sort();

describe("a device holds a default route", () => {
  it.each([
    ["ecmp", "an ECMP default (nexthops, no dev): each nexthop's device", ["wan", "wan2"]],
    ["wg-quick", "wg-quick's default in table 51820 beside main's", ["wan", "wg0"]],
    ["pbr", "pbr's default in table 100; an unreachable default and a blackhole are not routes out", ["wan", "wan2"]],
    ["openvpn", "OpenVPN's 0.0.0.0/1 + 128.0.0.0/1 and ::/1 + 8000::/1", ["tun0", "wan"]],
  ])("%s: %s", (s, _what, want) => {
    expect(upstream(s)).toEqual(want);
  });
  it("ECMP: per family, IPv6's nexthops too", () => {
    const only6 = parseKernelView("[]", ["[]", fixtureText("kernel", "ecmp", "route6.json")]);
    expect(only6.filter((d) => d.defaultRoute).map((d) => d.name).sort()).toEqual(["wan", "wan2"]);
  });
  it("OpenVPN's halves are no subnets of the tunnel (they are the whole Internet)", () => {
    expect(view("openvpn").find((d) => d.name === "tun0")?.subnets).toEqual(["198.18.60.0/24", "2001:db8:60::/64"]);
  });
  it("table local's addresses are no subnets; pbr's copy of the LAN route is the LAN's", () => {
    const lan = view("pbr").find((d) => d.name === "lan");
    expect(lan).toMatchObject({ subnets: ["198.18.1.0/24", "2001:db8:1::/64"], defaultRoute: false });
  });
});

describe("routes in words", () => {
  it.each([
    ["one half of the split default", [{ dst: "0.0.0.0/1", dev: "tun0" }], []],
    ["both halves on different devices", [{ dst: "0.0.0.0/1", dev: "tun0" }, { dst: "128.0.0.0/1", dev: "tun1" }], []],
    ["halves of different families", [{ dst: "0.0.0.0/1", dev: "tun0" }, { dst: "8000::/1", dev: "tun0" }], []],
    ["both IPv6 halves", [{ dst: "::/1", dev: "tun0" }, { dst: "8000::/1", dev: "tun0" }], ["tun0"]],
    ["a default route typed unicast", [{ type: "unicast", dst: "default", dev: "ppp0" }], ["ppp0"]],
    ["a prohibit default", [{ type: "prohibit", dst: "default" }], []],
    ["an ECMP nexthop without a device", [{ dst: "default", nexthops: [{ gateway: "198.18.0.1" }, { dev: "wan" }] }], ["wan"]],
  ])("%s", (_n, routes, want) => {
    const v = parseKernelView("[]", [JSON.stringify(routes)]);
    expect(v.filter((d) => d.defaultRoute).map((d) => d.name)).toEqual(want);
  });
  it("a route list that is no list is an error", () => {
    expect(() => parseKernelView("[]", ["{}"])).toThrow(RulesetError);
    expect(() => parseKernelView("[]", ["{"])).toThrow("ip -j route (0): not valid JSON");
  });
});
