/**
 * Scenario 5 of the reset path: masquerading is switched on for the WAN
 * zone while a LAN host streams to a WAN host that has no route back. The
 * stream's entry was made without SNAT; natnow renews it so it is SNATed.
 */
import { describe, expect, it } from "vitest";
import { canRunNetns, config, nowNs, Router, ruleset, sleep, swap, conntrackVersion } from "./harness.ts";

// example a with `option masq '1'` removed from zone wan, rendered as fw4 does:
// no srcnat_wan chain and no jump to it
const noMasq = {
  config: swap(config("a"), "\toption masq '1'\n", ""),
  ruleset: swap(
    swap(ruleset("a"), '\t\toifname "eth1" jump srcnat_wan comment "!fw4: Handle wan IPv4/IPv6 srcnat traffic"\n', ""),
    '\tchain srcnat_wan {\n\t\tmeta nfproto ipv4 masquerade comment "!fw4: Masquerade IPv4 wan traffic"\n\t}\n\n',
    "",
  ),
};

async function masqOn(withNatnow: boolean) {
  const r = new Router({ l1: "198.18.1.50" });
  try {
    r.loadText(noMasq.ruleset);
    const wan = r.traffic("w", ["-b", "6000", "-d", "3.4", "-r", r.path("w")]);
    const lan = r.traffic("l1", ["-b", "4000", "-t", "198.19.100.1", "-p", "6000", "-i", "20", "-d", "3"]);
    await sleep(800);
    r.load("a"); // masquerading on
    const run = withNatnow ? r.apply() : null;
    const t = nowNs() + 100_000_000n;
    await Promise.all([wan, lan]);
    const got = r.received("w").filter((x) => x.t > t);
    const e = r.table().find((f) => f.orig.sport === 4000 && f.orig.dport === 6000);
    return {
      run,
      unSnated: got.filter((x) => x.from === "198.18.1.50").length,
      snated: got.filter((x) => x.from === "198.19.100.2").length,
      replyDst: e ? e.reply.dst.join(".") : null,
    };
  } finally {
    r.close();
  }
}

describe.skipIf(!canRunNetns)(`scenario 5: masquerading switched on while a LAN host streams out (${conntrackVersion})`, () => {
  it("without natnow the WAN host keeps seeing the LAN address", async () => {
    const x = await masqOn(false);
    expect([x.unSnated > 80, x.snated, x.replyDst]).toEqual([true, 0, "198.18.1.50"]);
  }, 30_000);
  it("with natnow apply the stream is SNATed to the WAN address", async () => {
    const x = await masqOn(true);
    expect(x.run?.status).toBe(0);
    expect(x.run?.stdout).toMatch(/zone 'wan' masquerading on\nmatched 1, renewed 1,/);
    expect([x.unSnated, x.snated > 80, x.replyDst]).toEqual([0, true, "198.19.100.2"]);
  }, 30_000);
});
