/** xt matches and targets as native nft JSON: the shapes nft 1.0.6 prints (see xtables.test.ts for the real twins), and null for what natnow cannot say. */
import { describe, expect, it } from "vitest";
import { type NativeContext, nativeMatch, nativeTarget } from "../../src/ruleset/xtnative.ts";
import { parseXtSave, splitWords } from "../../src/ruleset/xtparse.ts";

/** The first match (or the target) of `-A X <args>`. */
function ext(args: string, target = false) {
  const r = parseXtSave(`*nat\n:X - [0:0]\n-A X ${args}\nCOMMIT\n`).tables[0].rules[0];
  return target ? r.target! : r.matches[0];
}
const v4: NativeContext = { family: 4, proto: null, hook: null };

describe("matches", () => {
  const cases: [string, string, NativeContext, unknown][] = [
    ["addrtype, both types", "-m addrtype --src-type UNICAST --dst-type LOCAL", v4, [
      { match: { op: "==", left: { fib: { result: "type", flags: ["saddr"] } }, right: "unicast" } },
      { match: { op: "==", left: { fib: { result: "type", flags: ["daddr"] } }, right: "local" } },
    ]],
    ["addrtype limited to the output interface", "-m addrtype --dst-type LOCAL --limit-iface-out", v4,
      [{ match: { op: "==", left: { fib: { result: "type", flags: ["daddr", "oif"] } }, right: "local" } }]],
    ["tcp as xt (older iptables-nft)", "-m tcp --dport 80 ! --sport 1024:2048", v4, [
      { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 80 } },
      { match: { op: "!=", left: { payload: { protocol: "tcp", field: "sport" } }, right: { range: [1024, 2048] } } },
    ]],
    ["mark with the full mask", "-m mark --mark 0x10/0xffffffff", v4, [{ match: { op: "==", left: { meta: { key: "mark" } }, right: 16 } }]],
    ["conntrack SNAT,DNAT", "-m conntrack --ctstate DNAT,SNAT", v4, [{ match: { op: "in", left: { ct: { key: "status" } }, right: ["snat", "dnat"] } }]],
    ["conntrack ports and protocol by name", "-m conntrack --ctproto udp --ctorigdstport 53", v4, [
      { match: { op: "==", left: { ct: { key: "protocol" } }, right: "udp" } },
      { match: { op: "==", left: { ct: { key: "proto-dst", dir: "original" } }, right: 53 } },
    ]],
    ["a multiport single port", "-m multiport --dports 53", { ...v4, proto: "17" },
      [{ match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 53 } }]],
    ["iprange on ip6", "-m iprange --dst-range 2001:db8::1-2001:db8::9", { ...v4, family: 6 },
      [{ match: { op: "==", left: { payload: { protocol: "ip6", field: "daddr" } }, right: { range: ["2001:db8::1", "2001:db8::9"] } } }]],
  ];
  for (const [name, args, ctx, want] of cases) it(name, () => expect(nativeMatch(ext(args), ctx)?.expr).toEqual(want));

  const none: [string, string, NativeContext][] = [
    ["conntrack states mixed with NAT bits (an OR of two keys)", "-m conntrack --ctstate NEW,DNAT", v4],
    ["conntrack's expiry", "-m conntrack --ctexpire 10:20", v4],
    ["an unknown addrtype", "-m addrtype --dst-type FOO", v4],
    ["both interface limits", "-m addrtype --dst-type LOCAL --limit-iface-in --limit-iface-out", v4],
    ["multiport without a port protocol", "-m multiport --dports 80", v4],
    ["multiport --ports (either direction)", "-m multiport --ports 80", { ...v4, proto: "tcp" }],
    ["tcp flags", "-m tcp --tcp-flags SYN,ACK SYN", v4],
    ["an address of the other family", "-m conntrack --ctorigdst 2001:db8::1", v4],
    ["a negated comment", "-m comment ! --comment x", v4],
    ["an unknown match", "-m set --match-set foo src", v4],
  ];
  for (const [name, args, ctx] of none) it(`null: ${name}`, () => expect(nativeMatch(ext(args), ctx)).toBeNull());
});

describe("targets", () => {
  const cases: [string, string, NativeContext, unknown][] = [
    ["DNAT to a port only (the address kept)", "-j DNAT --to-destination :81", v4, { dnat: { port: 81 } }],
    ["DNAT to an address range without ports", "-j DNAT --to-destination 198.18.0.1-198.18.0.9", v4,
      { dnat: { addr: { range: ["198.18.0.1", "198.18.0.9"] } } }],
    ["DNAT to one address written as a range", "-j DNAT --to-destination 198.18.0.1-198.18.0.1:80-80", v4, { dnat: { addr: "198.18.0.1", port: 80 } }],
    ["IPv6 DNAT without brackets", "-j DNAT --to-destination 2001:db8::2", { ...v4, family: 6 }, { dnat: { addr: "2001:db8::2" } }],
    ["SNAT with one flag", "-j SNAT --to-source 198.18.0.1 --random", v4, { snat: { addr: "198.18.0.1", flags: "random" } }],
    ["MASQUERADE", "-j MASQUERADE", v4, { masquerade: null }],
    ["REDIRECT with a port range", "-j REDIRECT --to-ports 8000-8010", v4, { redirect: { port: { range: [8000, 8010] } } }],
    ["NETMAP in prerouting maps the destination", "-j NETMAP --to 198.19.0.0/24", { ...v4, hook: "prerouting" },
      { dnat: { addr: { prefix: { addr: "198.19.0.0", len: 24 } }, flags: "netmap", type_flags: "prefix" } }],
  ];
  for (const [name, args, ctx, want] of cases) it(name, () => expect(nativeTarget(ext(args, true), ctx)?.expr).toEqual([want]));
  const none: [string, string, NativeContext][] = [
    ["NETMAP in a user chain (which hook?)", "-j NETMAP --to 198.19.0.0/24", v4],
    ["DNAT to a bad address", "-j DNAT --to-destination 198.18.0.300", v4],
    ["DNAT to an IPv4 address in ip6", "-j DNAT --to-destination 198.18.0.1", { ...v4, family: 6 }],
    ["a port beyond 65535", "-j REDIRECT --to-ports 70000", v4],
    ["an unknown option", "-j MASQUERADE --to-ports 1 --weird", v4],
    ["a target natnow does not translate", "-j MARK --set-mark 1", v4],
  ];
  for (const [name, args, ctx] of none) it(`null: ${name}`, () => expect(nativeTarget(ext(args, true), ctx)).toBeNull());
});

it("a comment becomes the rule's comment, with no expression", () => {
  expect(nativeMatch({ name: "comment", options: [{ name: "--comment", neg: false, values: [splitWords('"a b"', "t")[0].text] }] }, v4))
    .toEqual({ expr: [], comment: "a b" });
});
