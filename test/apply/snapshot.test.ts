/** The snapshot's switch and reasons (src/daemon/snapshot.ts), with a FAKE host whose tools answer as the real ones do. */
import { describe, expect, it } from "vitest";
import { detectPlatform, PLAIN_LINUX_SWITCH, readLiveRuleset, readSwitch, switchState, takeSnapshot } from "../../src/apply/snapshot.ts";
import { readdirSync } from "node:fs";
import { fixturePath, fixtureText } from "../helpers/fixtures.ts";
import type { ExecResult, Host } from "../../src/host/host.ts";
import { utf8Encode } from "../../src/base/utf8.ts";

const inc = (opts: string, name = " 'natnow'") => `config defaults\n\toption input 'ACCEPT'\n\nconfig include${name}\n${opts}`;

describe("the switch", () => {
  const cases: [string, string, boolean | null][] = [
    ["on", inc("\toption path '/usr/share/natnow/fw4.include'\n\toption enabled '1'\n"), true],
    ["on without an enabled option", inc("\toption path '/usr/share/natnow/fw4.include'\n"), true],
    ["on: an anonymous include of natnow's path (as LuCI adds it)", inc("\toption path '/usr/share/natnow/fw4.include'\n", ""), true],
    ["off with 'off'", inc("\toption enabled 'off'\n"), false],
    ["off with 'disabled'", inc("\toption enabled 'disabled'\n"), false],
    ["off with 'no'", inc("\toption enabled 'no'\n"), false],
    // fw4.uc parse_bool knows neither: parse_include ignores the section, the include never runs
    ["off with 'enabled' (fw4 ignores the section)", inc("\toption enabled 'enabled'\n"), false],
    ["off with 'On' (fw4 ignores the section)", inc("\toption enabled 'On'\n"), false],
    ["on with 'yes'", inc("\toption enabled 'yes'\n"), true],
    ["unknown: another include only", inc("\toption path '/etc/firewall.user'\n", ""), null],
    ["unknown: a parse error", "config defaults\nfoo bar\n", null],
  ];
  for (const [name, text, want] of cases) it(name, () => expect(switchState(utf8Encode(text)).on).toBe(want));
  it("says why it is unknown", () => {
    expect(switchState(utf8Encode("config defaults\n")).why).toBe(
      "no include section 'natnow' (path /usr/share/natnow/fw4.include) in /etc/config/firewall");
    expect(switchState(utf8Encode("config defaults\nfoo bar\n")).why).toMatch(/^the firewall config does not parse: Parse error/);
  });
});

/** A host whose tools answer from a table (argv joined by spaces); anything else is not installed. No file but `files`. */
function host(answers: Record<string, ExecResult>, files: string[] = []): Host {
  const exec = (argv: string[]) => answers[argv.join(" ")] ?? { status: 127, stdout: "", stderr: "" };
  return {
    exec,
    execAll: (argvs: string[][]) => argvs.map(exec),
    findProgram: (p: string) => (Object.keys(answers).some((k) => k.startsWith(`${p} `)) ? `/usr/bin/${p}` : null),
    readFile: () => null,
    exists: (p: string) => files.includes(p),
    time: () => 0,
  } as unknown as Host;
}
const ok = (stdout: string): ExecResult => ({ status: 0, stdout, stderr: "" });

describe("a snapshot says what it could not read, in the tool's own words", () => {
  const base = { "nft -j -t list ruleset": ok('{"nftables":[]}'), "ip -j addr": ok("[]"), "ip -j -4 route show table all": ok("[]"), "ip -j -6 route show table all": ok("[]") };
  it("libuci's parse error (asked without -q, which would silence it)", () => {
    const s = takeSnapshot(host({
      ...base,
      "uci export firewall": { status: 1, stdout: "", stderr: "uci: Parse error (invalid command) at line 3, byte 0\n" },
      "uci -q export firewall": { status: 1, stdout: "", stderr: "" },
    }), { fw4StatePath: "/none", policyPath: "/none", router: true });
    expect(s.switchOn).toBeNull();
    expect(s.warnings).toEqual([
      "switch unknown: cannot read the firewall config: uci export firewall failed (status 1): uci: Parse error (invalid command) at line 3, byte 0",
    ]);
  });
  it("ubusd gone, and ip that cannot print JSON (BusyBox)", () => {
    const s = takeSnapshot(host({
      ...base,
      "uci export firewall": ok("package firewall\n\nconfig include 'natnow'\n\toption enabled '1'\n"),
      "ubus call network.interface dump": { status: 255, stdout: "", stderr: "Failed to connect to ubus\n" },
      "ip -j addr": { status: 1, stdout: "", stderr: "ip: invalid argument '-j' to 'ip'\n" },
    }), { fw4StatePath: "/none", policyPath: "/none", router: true });
    expect(s.switchOn).toBe(true);
    expect(s.warnings).toEqual([
      "cannot read the interfaces: ubus call network.interface dump failed (status 255): Failed to connect to ubus",
      "cannot read the kernel's addresses and routes: ip -j addr failed (status 1): ip: invalid argument '-j' to 'ip'",
    ]);
  });
});

describe("the live ruleset: the terse listing, and only the sets NAT reads", () => {
  const dir = ["ruleset", "terse"];
  /** Each set's listing as nft printed it, by its command; `nft -j list set|map F T N`. */
  const answers: Record<string, ExecResult> = Object.fromEntries(readdirSync(fixturePath(...dir, "sets")).map((f) =>
    [`nft -j list ${f.replace(/\.json$/, "").split("+").join(" ")}`, ok(fixtureText(...dir, "sets", f))]));
  const ran: string[] = [];
  const h = host(answers);
  const counting = { ...h, execAll: (argvs: string[][]) => (ran.push(...argvs.map((a) => a.join(" "))), h.execAll(argvs)) } as Host;
  it("reads the referenced sets only, and gives their elements", () => {
    const r = readLiveRuleset(counting, fixtureText(...dir, "terse.json"));
    if ("error" in r) throw new Error(r.error);
    expect(ran).not.toContain("nft -j list set ip bltab bl");
    expect(ran).not.toContain("nft -j list set inet t unused");
    expect(ran).toContain("nft -j list map inet t vm");
    expect(ran).toContain("nft -j list set inet t inner");
    expect(r.nat.sets.has("inet t inner")).toBe(true);
    expect(r.ruleset).toContain('"elem":[{"prefix":{"addr":"198.18.5.0","len":24}},"198.18.7.1"]');
  });
  it("says which set it could not read, in nft's words", () => {
    const gone = host({ ...answers, "nft -j list map inet t vm": { status: 1, stdout: "", stderr: "Error: No such file or directory\n" } });
    expect(readLiveRuleset(gone, fixtureText(...dir, "terse.json"))).toEqual({
      error: "cannot read map inet t vm: nft -j list map inet t vm failed (status 1): Error: No such file or directory",
    });
  });
  it("a listing that is no JSON is an error", () => {
    expect(readLiveRuleset(h, "{")).toEqual({ error: "nft -j -t list ruleset: not valid JSON" });
  });
});

describe("plain Linux: nothing of OpenWrt is read, or missed", () => {
  const base = {
    "nft -j -t list ruleset": ok('{"nftables":[]}'), "ip -j addr": ok("[]"),
    "ip -j -4 route show table all": ok("[]"), "ip -j -6 route show table all": ok("[]"),
  };
  const src = { fw4StatePath: "/none", policyPath: "/none", router: true };
  const uciOk = { "uci export firewall": ok("package firewall\n\nconfig include 'natnow'\n\toption enabled '0'\n") };
  it.each([
    ["no /etc/openwrt_release, no uci", {}, [], "linux"],
    ["/etc/openwrt_release (uci missing)", {}, ["/etc/openwrt_release"], "openwrt"],
    ["uci installed", uciOk, [], "openwrt"],
  ] as const)("%s: %s", (_n, answers, files, want) => {
    expect(detectPlatform(host({ ...base, ...answers }, [...files]))).toBe(want);
  });
  it("a run on plain Linux warns of nothing and is on; ubus and uci are not even asked", () => {
    const asked: string[] = [];
    const h = host(base);
    const s = takeSnapshot({ ...h, execAll: (a: string[][]) => (asked.push(...a.map((x) => x[0])), h.execAll(a)) } as Host, src);
    expect(s).toMatchObject({ warnings: [], switchOn: true, switchWhy: PLAIN_LINUX_SWITCH, platform: "linux", error: null });
    expect(asked.filter((p) => p === "ubus" || p === "uci")).toEqual([]);
  });
  it("OpenWrt without uci still says the switch is unknown, and why", () => {
    const s = takeSnapshot(host(base, ["/etc/openwrt_release"]), src);
    expect(s.warnings).toEqual(["switch unknown: cannot read the firewall config: uci is not installed"]);
    expect(s.platform).toBe("openwrt");
  });
  it.each([
    ["plain Linux", host(base), { on: true, why: PLAIN_LINUX_SWITCH, platform: "linux" }],
    ["OpenWrt, uci missing", host(base, ["/etc/openwrt_release"]),
      { on: null, why: "cannot read the firewall config: uci is not installed", platform: "openwrt" }],
    ["OpenWrt, switched off", host({ ...base, ...uciOk }), { on: false, why: "", platform: "openwrt" }],
  ])("status's switch on %s", (_n, h, want) => {
    expect(readSwitch(h)).toEqual(want);
  });
});
