/**
 * The contract of a run (src/apply/run.ts): after it, every NAT change was
 * acted on or is named as unhandled, with exit status 3, in the run record,
 * in `natnow status`, until a later run handles it or `natnow dismiss`. The
 * baseline stays where it was while a change is unhandled; the changes acted
 * on meanwhile are not acted on twice. A firewall config that does not parse
 * is not a NAT change: fw4's table is held at the last good ruleset.
 */
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { run } from "../../src/cli/run.ts";
import { formatNftJson, natSubset, parseNftJson } from "../../src/ruleset/nft.ts";
import { fixturePath, fixtureText } from "../helpers/fixtures.ts";
import { fixtureHost } from "../helpers/clihost.ts";

let dir: string;

const host = () => fixtureHost();

/** fw4's example a, with extra rules in a table of their own (as nft -j prints them). */
function withTable(extra: { chain: string; hook: string; rules: unknown[][] }[]): string {
  const doc = JSON.parse(fixtureText("ruleset", "a.json")) as { nftables: unknown[] };
  doc.nftables.push({ table: { family: "ip", name: "other", handle: 90 } });
  let handle = 100;
  for (const c of extra) {
    doc.nftables.push({ chain: { family: "ip", table: "other", name: c.chain, handle: handle++, type: "nat", hook: c.hook, prio: 10, policy: "accept" } });
    for (const expr of c.rules) doc.nftables.push({ rule: { family: "ip", table: "other", chain: c.chain, handle: handle++, expr } });
  }
  return JSON.stringify(doc);
}

/** A masquerade out of a device the router has no address on: what it translated to is unknown. */
const MASQ_PPP = { chain: "post", hook: "postrouting", rules: [[{ match: { op: "==", left: { meta: { key: "oifname" } }, right: "ppp9" } }, { masquerade: null }]] };
/** A DNAT natnow reads whole. */
const DNAT_WEB = {
  chain: "pre", hook: "prerouting",
  rules: [[
    { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 8443 } },
    { dnat: { family: "ip", addr: "198.18.1.44", port: 443 } },
  ]],
};

const subset = (text: string) => formatNftJson(natSubset(parseNftJson(text)));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const state = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8") : null);
const facts = ["--interfaces", fixturePath("fw4-examples", "a", "interfaces.json")];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "natnow-run-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("a change natnow cannot act on", () => {
  it("exits 3, is named in the run, stays the baseline's until dismissed; what was acted on is not acted on twice", async () => {
    const before = withTable([MASQ_PPP]);
    writeFileSync(join(dir, "applied.ruleset.json"), subset(before));
    // renew off: the added forward is handled with nothing to reset, so no backend is needed
    const policy = file("natnow", "config natnow 'main'\n\toption renew '0'\n");
    const now = file("now.json", withTable([DNAT_WEB]));
    const args = ["apply", "--ruleset", now, "--policy", policy, ...facts, "--state-dir", dir];
    const { h, out, err, reset } = await host();

    expect(run(h, args)).toBe(3);
    const unhandled = "rule 'ip other post handle 101' removed: zone 'oifname ppp9': network 'ppp9' unknown to the runtime facts; what it translated to is unknown";
    expect(err()).toContain(`natnow: unhandled: ${unhandled}`);
    expect(out()).toContain(`UNHANDLED: ${unhandled}`);
    expect(state("applied.ruleset.json")).toBe(subset(before));
    expect(state("latest.ruleset.json")).toBe(subset(withTable([DNAT_WEB])));
    const first = JSON.parse(state("runs.json") as string).runs[0];
    expect(first).toMatchObject({ ok: false, unhandled: [unhandled], errors: [] });
    expect(JSON.parse(state("acted.json") as string).keys).toHaveLength(1);

    // the next run names it again, and does not act on the forward twice
    reset();
    expect(run(h, args)).toBe(3);
    expect(out()).toMatch(/rule 'ip other pre handle 101' added \(acted on by an earlier run/);
    expect(out()).toContain(`UNHANDLED: ${unhandled}`);

    // status shows it until dismissed
    reset();
    expect(run(h, ["status", "--state-dir", dir, "--policy", policy])).toBe(0);
    expect(out()).toContain(`UNHANDLED: 1 NAT change(s) natnow could not act on`);
    reset();
    expect(run(h, ["dismiss", "--state-dir", dir])).toBe(0);
    expect(out()).toBe(`dismissed; the newest ruleset is the baseline now:\n  ${unhandled}\n`);
    expect(state("applied.ruleset.json")).toBe(subset(withTable([DNAT_WEB])));
    expect([state("latest.ruleset.json"), state("acted.json")]).toEqual([null, null]);
    reset();
    expect(run(h, ["status", "--state-dir", dir, "--policy", policy])).toBe(0);
    expect(out()).not.toContain("UNHANDLED: 1");

    reset();
    expect(run(h, args)).toBe(0);
    expect(out()).toContain("nothing to reset");
    reset();
    expect(run(h, ["dismiss", "--state-dir", dir])).toBe(0);
    expect(out()).toBe("nothing to dismiss: no change is unhandled\n");
  });

  it("a later run that sees the change undone advances the baseline again", async () => {
    const before = withTable([MASQ_PPP]);
    writeFileSync(join(dir, "applied.ruleset.json"), subset(before));
    const { h } = await host();
    const base = ["--policy", file("natnow", ""), ...facts, "--state-dir", dir];
    expect(run(h, ["apply", "--ruleset", file("gone.json", withTable([])), ...base])).toBe(3);
    expect(run(h, ["apply", "--ruleset", file("back.json", before), ...base])).toBe(0);
    expect(state("applied.ruleset.json")).toBe(subset(before));
    expect(state("latest.ruleset.json")).toBeNull();
  });

  it("--json carries the unhandled list", async () => {
    writeFileSync(join(dir, "applied.ruleset.json"), subset(withTable([MASQ_PPP])));
    const { h, out } = await host();
    expect(run(h, ["apply", "--ruleset", file("now.json", withTable([])), "--policy", file("natnow", ""), ...facts, "--state-dir", dir, "--json"])).toBe(3);
    expect(JSON.parse(out())).toMatchObject({ ok: false, unhandled: [expect.stringMatching(/^rule 'ip other post handle 101' removed: /)] });
  });
});

describe("a firewall config that does not parse", () => {
  const broken = "config zone\n\toption name 'lan\n";
  it("holds fw4's table at the last good ruleset: nothing fw4 dropped is revoked, and it says why", async () => {
    // fw4 with a broken config loads no forwards: example a's ruleset without its fw4 rules
    const good = fixtureText("ruleset", "b.json");
    writeFileSync(join(dir, "applied.ruleset.json"), subset(good));
    const empty = JSON.parse(good) as { nftables: Record<string, { table?: string }>[] };
    empty.nftables = empty.nftables.filter((o) => !("rule" in o && o.rule.table === "fw4"));
    const { h, out } = await host();
    const args = ["apply", "--ruleset", file("empty.json", JSON.stringify(empty)), "--policy", file("natnow", ""), ...facts, "--state-dir", dir];
    expect(run(h, [...args, "--config", file("firewall", broken)])).toBe(0);
    expect(out()).toContain("0 change(s)");
    const rec = JSON.parse(state("runs.json") as string).runs[0];
    expect(rec.warnings.join("\n")).toMatch(/the firewall config does not parse \(.*\): fw4's NAT is held at the last good ruleset/);
    expect(state("applied.ruleset.json")).toBe(subset(good));
    // without the broken config the same ruleset is a change (the SIP forward removed), needing a backend
    expect(run(h, args)).toBe(69);
  });
});
