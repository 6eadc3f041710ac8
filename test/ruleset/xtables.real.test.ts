/**
 * The real tools (iptables-nft 1.8.9, nftables 1.0.6) in a throwaway
 * network namespace, no traffic: Docker's iptables-nft NAT layout (its
 * iptables backend, on test addresses) read as the snapshot reads it
 * (apply/xtsave.ts through a host that runs in the namespace), resolved,
 * and walked: the published port's DNAT and the bridge's masquerade with
 * their parameters. A native rule iptables cannot show makes the table
 * "incompatible": a clear error, no guessed join. Skipped, saying why,
 * when not root or a tool is missing.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readXtables } from "../../src/apply/xtsave.ts";
import type { ExecResult, Host } from "../../src/host/host.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { natSubset, parseNftJson } from "../../src/ruleset/nft.ts";
import { liveRules } from "../../src/ruleset/walk.ts";
import { resolveXtables, type XtablesText } from "../../src/ruleset/xtables.ts";

const TOOLS = ["ip", "nft", "iptables-nft", "iptables-nft-save", "ip6tables-nft-save"];
const has = (p: string) => spawnSync("sh", ["-c", `command -v ${p}`]).status === 0;
const missing = TOOLS.filter((t) => !has(t));
const why = process.getuid?.() !== 0 ? "not root" : missing.length ? `missing ${missing.join(", ")}` : "";

const NS = `natnow-h2-${process.pid}`;
/** Runs a command in the namespace. */
function inNs(argv: string[]): ExecResult {
  const r = spawnSync("ip", ["netns", "exec", NS, ...argv], { encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function must(argv: string[]): string {
  const r = inNs(argv);
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
/** The host a snapshot would have, in the namespace (commands and /proc/net). */
const host = {
  exec: inNs,
  execAll: (argvs: string[][]) => argvs.map(inNs),
  readFile: (p: string) => {
    const r = inNs(["cat", p]);
    return r.status === 0 ? utf8Encode(r.stdout) : null;
  },
} as unknown as Host;

/** dockerd's iptables NAT for a bridge 198.18.200.0/24 and `-p 5060:5060/udp` to 198.18.200.2. */
const DOCKER = [
  "-N DOCKER",
  "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
  "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
  "-A POSTROUTING -s 198.18.200.0/24 ! -o docker0 -j MASQUERADE",
  "-A DOCKER -i docker0 -j RETURN",
  "-A DOCKER ! -i docker0 -p udp -m udp --dport 5060 -j DNAT --to-destination 198.18.200.2:5060",
];

function read(): { ruleset: string; xtables: XtablesText | null; warnings: string[] } {
  const ruleset = must(["nft", "-j", "list", "ruleset"]);
  return { ruleset, ...readXtables(host, ruleset) };
}

describe.skipIf(why !== "")(`iptables-nft's Docker NAT through the real tools${why ? ` (skipped: ${why})` : ""}`, () => {
  beforeAll(() => {
    const r = spawnSync("ip", ["netns", "add", NS]);
    if (r.status !== 0) throw new Error(`ip netns add ${NS}: ${String(r.stderr)}`);
    for (const line of DOCKER) must(["iptables-nft", "-t", "nat", ...line.split(" ")]);
  });
  afterAll(() => {
    spawnSync("ip", ["netns", "del", NS]);
  });

  it("nft alone shows the DNAT and the masquerade without their parameters", () => {
    const { ruleset } = read();
    expect(ruleset).toContain('{"xt": {"type": "target", "name": "DNAT"}}');
    expect(liveRules(natSubset(parseNftJson(ruleset))).filter((r) => r.nat)).toEqual([]);
  });

  it("resolved, the walk gives the DNAT to 198.18.200.2:5060 and the bridge's masquerade", () => {
    const { ruleset, xtables, warnings } = read();
    expect(warnings).toEqual([]);
    expect(xtables?.ip).toContain("-j DNAT --to-destination 198.18.200.2:5060");
    const out = resolveXtables(parseNftJson(ruleset), xtables as XtablesText);
    expect(out.errors).toEqual([]);
    const rules = liveRules(natSubset(out.ruleset)).filter((r) => r.nat);
    const dnat = rules.filter((r) => r.nat?.action === "dnat");
    expect(dnat.map((r) => r.nftHook).sort()).toEqual(["output", "prerouting"]);
    for (const r of dnat) {
      expect(r.nat).toEqual({ action: "dnat", family: 4, toAddr: "198.18.200.2", toPort: { min: 5060, max: 5060 } });
      expect(r.terms.protos).toEqual([17]);
      expect(r.terms.dport.pos).toEqual([{ min: 5060, max: 5060 }]);
      expect(r.terms.iif.neg).toEqual(["docker0"]);
    }
    const masq = rules.filter((r) => r.nat?.action === "masquerade");
    expect(masq).toHaveLength(1);
    expect(masq[0].terms.src.pos).toEqual(["198.18.200.0/24"]);
    expect(masq[0].terms.oif.neg).toEqual(["docker0"]);
    for (const r of rules) expect(r.terms.unbounded ?? "").not.toMatch(/xtables/);
  });

  it("a native rule iptables cannot show: the table is incompatible, a clear error, its xt kept", () => {
    must(["nft", "add", "rule", "ip", "nat", "POSTROUTING", "ip", "saddr", "198.18.0.9", "ct", "mark", "set", "5"]);
    try {
      const { ruleset, xtables } = read();
      expect(xtables?.ip).toContain("# Table `nat' is incompatible, use 'nft' tool.");
      const rs = parseNftJson(ruleset);
      const out = resolveXtables(rs, xtables as XtablesText);
      expect(out.errors).toEqual([
        "ip nat: iptables-nft-save says the table is incompatible (a rule has an expression iptables cannot show); its xtables extensions (DNAT, addrtype, MASQUERADE) stay unread",
      ]);
      expect(out.ruleset.rules).toEqual(rs.rules);
    } finally {
      const handle = /ct mark set 0x0*5 # handle ([0-9]+)/.exec(must(["nft", "-a", "list", "chain", "ip", "nat", "POSTROUTING"]));
      if (handle) must(["nft", "delete", "rule", "ip", "nat", "POSTROUTING", "handle", handle[1]]);
    }
  });

  it.skipIf(!has("iptables-legacy"))("NAT in iptables-legacy: a warning that nft cannot see it", () => {
    must(["iptables-legacy", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8080", "-j", "DNAT", "--to-destination", "198.18.0.9:80"]);
    const { xtables, warnings } = read();
    expect(warnings).toEqual([]);
    expect(resolveXtables(parseNftJson(read().ruleset), xtables as XtablesText).warnings).toEqual([
      "NAT rules in iptables-legacy are invisible to nft: ip nat has 1 rule (PREROUTING); natnow cannot see them, and the kernel runs them besides nft's",
    ]);
  });
});
