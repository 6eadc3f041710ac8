/**
 * Offloaded entries (fw4's software flow offloading) as conntrack-tools
 * 1.4.7 and 1.4.8 and /proc/net/nf_conntrack print them: captured in the
 * kmod test VM (Debian's 6.1 kernel) by test/fixtures/conntrack/capture-offload.sh
 * with nf_conntrack_acct on, as OpenWrt has it.
 */
import { describe, expect, it } from "vitest";
import { parseLine, parseTable } from "../../src/conntrack/parse.ts";
import { formatIp } from "../../src/net/ip.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const brief = (t: string) => {
  const f = parseLine(t);
  return {
    family: f.family, proto: f.proto,
    orig: `${formatIp(f.orig.src)}:${f.orig.sport}>${formatIp(f.orig.dst)}:${f.orig.dport}`,
    reply: `${formatIp(f.reply.src)}:${f.reply.sport}>${formatIp(f.reply.dst)}:${f.reply.dport}`,
    replied: f.replied, dnat: f.dnat, snat: f.snat, offload: f.offload ?? null,
  };
};

// what the capture's flows are, in the order the kernel listed them
const WANT = [
  // l1 -> w, masqueraded, never answered
  { family: 4, proto: 17, orig: "198.18.1.50:4000>198.19.100.1:6000", reply: "198.19.100.1:6000>198.19.100.2:4000",
    replied: false, dnat: false, snat: true, offload: "software" },
  // l2 -> w, answered only after it was offloaded: [UNREPLIED], but the flowtable counted the answers
  { family: 4, proto: 17, orig: "198.18.1.20:4100>198.19.100.1:6100", reply: "198.19.100.1:6100>198.19.100.2:4100",
    replied: true, dnat: false, snat: true, offload: "software" },
  // TCP, established: no state word
  { family: 4, proto: 6, orig: "198.18.1.50:51036>198.19.100.1:5201", reply: "198.19.100.1:5201>198.19.100.2:51036",
    replied: true, dnat: false, snat: true, offload: "software" },
  // the forward, both ways from 0.3 s on: offloaded at its second packet, so [UNREPLIED]; counted answers
  { family: 4, proto: 17, orig: "198.19.100.1:4000>198.19.100.2:5060", reply: "198.18.1.20:5060>198.19.100.1:4000",
    replied: true, dnat: true, snat: false, offload: "software" },
  { family: 4, proto: 6, orig: "198.18.1.50:51038>198.19.100.1:5201", reply: "198.19.100.1:5201>198.19.100.2:51038",
    replied: true, dnat: false, snat: true, offload: "software" },
  { family: 6, proto: 17, orig: "2001:db8:1::50:4000>2001:db8:100::1:6000", reply: "2001:db8:100::1:6000>2001:db8:1::50:4000",
    replied: false, dnat: false, snat: false, offload: "software" },
];

describe.each(["1.4.7", "1.4.8"])("offloaded entries from conntrack-tools %s (-o extended,id)", (v) => {
  const text = fixtureText("conntrack", `offload-${v}.txt`);
  const lines = text.trim().split("\n");

  it("prints them without timeout (and TCP without its state)", () => {
    expect(lines.every((l) => /^ipv[46] +[0-9]+ (udp|tcp) +[0-9]+ src=/.test(l) && / \[OFFLOAD\] /.test(l))).toBe(true);
  });
  it.each(WANT.map((w, i) => [i, w] as const))("line %i", (i, want) => expect(brief(lines[i])).toEqual(want));
  it("reads the whole listing, the ctnetlink ids too", () => {
    const t = parseTable(text);
    expect([t.flows.length, t.problems]).toEqual([6, []]);
    expect(t.flows.map((f) => f.id)).toEqual([2802464835, 1060491601, 1462942772, 3400996938, 2631428126, 54280130]);
  });
});

describe("offloaded entries elsewhere", () => {
  it("/proc/net/nf_conntrack: the same, with zones and long IPv6 addresses", () => {
    const t = parseTable(fixtureText("conntrack", "offload-proc.txt"));
    expect(t.problems).toEqual([]);
    // the iperf3 connections had closed by then: back from the flowtable, with timeout and state
    expect(t.flows.map((f) => [f.proto, f.offload ?? null, f.replied])).toEqual([
      [17, "software", false], [17, "software", true], [6, null, true], [17, "software", true], [6, null, true], [17, "software", false],
    ]);
    expect(brief(fixtureText("conntrack", "offload-proc.txt").trim().split("\n")[5])).toMatchObject(
      { orig: "2001:db8:1::50:4000>2001:db8:100::1:6000", offload: "software" },
    );
  });
  it("conntrack -D lists what it deleted the same way", () => {
    const t = parseTable(fixtureText("conntrack", "offload-delete-1.4.7.txt"));
    expect([t.problems, t.flows.map((f) => [f.family, f.orig.sport, f.offload])]).toEqual([[], [[4, 4000, "software"], [6, 4000, "software"]]]);
  });
  it("[HW_OFFLOAD] (the hardware holds it; printed in place of [OFFLOAD])", () => {
    const line = fixtureText("conntrack", "offload-1.4.7.txt").split("\n")[2].replace("[OFFLOAD]", "[HW_OFFLOAD]");
    expect(brief(line)).toMatchObject({ proto: 6, offload: "hardware", replied: true });
  });
  it("a line without timeout that is not offloaded is not read (never guessed)", () => {
    const line = fixtureText("conntrack", "offload-1.4.7.txt").split("\n")[0].replace(" [OFFLOAD]", "");
    expect(() => parseLine(line)).toThrow("no timeout, and not offloaded");
    expect(() => parseLine("ipv4 2 udp x src=1.2.3.4")).toThrow("no protocol number");
  });
  it("an entry that is not offloaded says nothing of it", () => {
    const f = parseLine("ipv4     2 udp      17 29 src=127.0.0.1 dst=127.0.0.9 sport=4000 dport=7 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=9 dport=4000 mark=0 use=1");
    expect("offload" in f).toBe(false);
  });
  it("no answers counted: still never replied; answers counted without IPS_SEEN_REPLY: replied", () => {
    const l = fixtureText("conntrack", "offload-1.4.7.txt").split("\n")[0];
    expect(parseLine(l).replied).toBe(false);
    expect(parseLine(l.replace(/packets=0 bytes=0/, "packets=1 bytes=60")).replied).toBe(true);
  });
});
