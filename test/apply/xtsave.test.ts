/**
 * What a snapshot runs for iptables rules (apply/xtsave.ts), with a fake
 * host whose tools answer with real output (test/fixtures/xtables): the
 * save tools only when nft shows xt in that family, legacy only when the
 * kernel has a legacy nat table; a missing or failing tool is a warning.
 * Then a live plan from such a snapshot sees Docker's publish.
 */
import { describe, expect, it } from "vitest";
import { takeSnapshot } from "../../src/apply/snapshot.ts";
import { readXtables } from "../../src/apply/xtsave.ts";
import type { ExecResult, Host } from "../../src/host/host.ts";
import { computeLivePlan } from "../../src/plan/live.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { fixtureText } from "../helpers/fixtures.ts";

const ok = (stdout: string): ExecResult => ({ status: 0, stdout, stderr: "" });
const missing: ExecResult = { status: 127, stdout: "", stderr: "" };

/** A host answering commands from a table and files from another; it records what ran. */
function host(answers: Record<string, ExecResult>, files: Record<string, string> = {}): Host & { ran: string[] } {
  const ran: string[] = [];
  const exec = (argv: string[]) => {
    ran.push(argv.join(" "));
    return answers[argv.join(" ")] ?? missing;
  };
  return {
    ran,
    exec,
    execAll: (argvs: string[][]) => argvs.map(exec),
    readFile: (p: string) => (p in files ? utf8Encode(files[p]) : null),
  } as unknown as Host & { ran: string[] };
}

const docker = fixtureText("xtables", "docker.nft.json");
const ipSave = fixtureText("xtables", "docker.ip.save");
const ip6Save = fixtureText("xtables", "docker.ip6.save");
const v4only = JSON.stringify({
  nftables: (JSON.parse(docker) as { nftables: { rule?: { family: string } }[] }).nftables.filter((x) => x.rule?.family !== "ip6"),
});

describe("what runs, and what it gives", () => {
  const cases: [string, string, Record<string, ExecResult>, Record<string, string>, string[], object | null, string[]][] = [
    ["no xt, no legacy table: nothing", fixtureText("ruleset", "a.json"), {}, { "/proc/net/ip_tables_names": "filter\n" }, [], null, []],
    ["xt in both families", docker, { "iptables-nft-save -t nat": ok(ipSave), "ip6tables-nft-save -t nat": ok(ip6Save) }, {},
      ["iptables-nft-save -t nat", "ip6tables-nft-save -t nat"], { ip: ipSave, ip6: ip6Save, legacy: null }, []],
    ["xt in ip only", v4only, { "iptables-nft-save -t nat": ok(ipSave) }, {}, ["iptables-nft-save -t nat"], { ip: ipSave, ip6: null, legacy: null }, []],
    ["the save tool missing", v4only, {}, {}, ["iptables-nft-save -t nat"], { ip: null, ip6: null, legacy: null },
      ["cannot read the parameters of the ip rules iptables-nft wrote: iptables-nft-save is not installed"]],
    ["the save tool failing (a rule it cannot parse)", v4only,
      { "iptables-nft-save -t nat": { status: 3, stdout: ipSave, stderr: fixtureText("xtables", "unparsable.ip.out").split("# Generated")[0] } }, {},
      ["iptables-nft-save -t nat"], { ip: null, ip6: null, legacy: null },
      ["cannot read the parameters of the ip rules iptables-nft wrote: iptables-nft-save -t nat failed (status 3): Error: unknown ipv4 meta key"]],
    ["a legacy nat table", fixtureText("ruleset", "a.json"), { "iptables-legacy-save -t nat": ok(fixtureText("xtables", "legacy.save")) },
      { "/proc/net/ip_tables_names": "filter\nnat\n" }, ["iptables-legacy-save -t nat"],
      { ip: null, ip6: null, legacy: fixtureText("xtables", "legacy.save") }, []],
    ["a legacy nat table without the legacy tool", fixtureText("ruleset", "a.json"), {}, { "/proc/net/ip6_tables_names": "nat\n" },
      ["ip6tables-legacy-save -t nat"], { ip: null, ip6: null, legacy: null },
      ["the kernel has an iptables-legacy ip6 nat table, invisible to nft, and natnow cannot read it: ip6tables-legacy-save is not installed"]],
  ];
  for (const [name, ruleset, answers, files, ran, want, warnings] of cases) {
    it(name, () => {
      const h = host(answers, files);
      const out = readXtables(h, ruleset);
      expect(h.ran).toEqual(ran);
      expect(out).toEqual({ xtables: want, warnings });
    });
  }
});

describe("a snapshot of Docker's iptables-nft NAT plans its publish", () => {
  const base = { "ip -j addr": ok("[]"), "ip -j -4 route show table all": ok("[]"), "ip -j -6 route show table all": ok("[]") };
  const src = { fw4StatePath: "/none", policyPath: "/none", router: false };
  const plan = (answers: Record<string, ExecResult>) => {
    const s = takeSnapshot(host({ ...base, "nft -j -t list ruleset": ok(docker), ...answers }), src);
    expect(s.error).toBeNull();
    const o = computeLivePlan({ ...s.input, previous: null, boot: true, pending: false });
    if (!o.ok) throw new Error(o.error);
    return { s, o };
  };
  it("with the save outputs: the DNAT and the masquerade are changes, kept in native form", () => {
    const { s, o } = plan({ "iptables-nft-save -t nat": ok(ipSave), "ip6tables-nft-save -t nat": ok(ip6Save) });
    expect(s.warnings).toEqual([]);
    expect(o.extra?.warnings).toEqual([]);
    const added = o.result.changes.flatMap((c) => c.added).filter((r) => r.action !== "accept").map((r) => `${r.label}: ${r.action} ${r.toAddr ?? ""}`);
    expect([...new Set(added)]).toEqual([
      "ip nat DOCKER handle 9: dnat 198.18.200.2", "ip6 nat DOCKER handle 9: dnat 2001:db8:200::2",
      "ip nat POSTROUTING handle 7: masquerade ", "ip6 nat POSTROUTING handle 7: masquerade ",
    ]);
    // what may still be unbounded (fib, a return) is the reader's; nothing is for want of xt parameters
    for (const r of o.result.changes.flatMap((c) => c.added)) expect(r.unbounded ?? "").not.toMatch(/xtables/);
    expect(o.extra?.applied).not.toContain('"xt"');
    expect(o.extra?.applied).toContain('"dnat":{"addr":"198.18.200.2","port":5060}');
  });
  it("without them: warnings naming the tool and the tables, and no NAT read", () => {
    const { s, o } = plan({});
    expect(s.warnings).toEqual([
      "cannot read the parameters of the ip rules iptables-nft wrote: iptables-nft-save is not installed",
      "cannot read the parameters of the ip6 rules iptables-nft wrote: ip6tables-nft-save is not installed",
    ]);
    expect(o.extra?.warnings).toEqual([
      "ip nat: iptables-nft-save was not read; its xtables extensions (DNAT, addrtype, MASQUERADE) stay unread",
      "ip6 nat: ip6tables-nft-save was not read; its xtables extensions (DNAT, addrtype, MASQUERADE) stay unread",
    ]);
    expect(o.extra?.applied).toContain('"xt"');
  });
});
