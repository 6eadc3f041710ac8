/** natnow's policy file: every option, bad values falling back to their defaults, and a file that does not parse. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, type Policy, readPolicy } from "../../src/config/policy.ts";
import { utf8Encode } from "../../src/base/utf8.ts";

const read = (text: string) => readPolicy(utf8Encode(text));

describe("readPolicy", () => {
  it("reads the shipped policy file", () => {
    const r = readPolicy(readFileSync(new URL("../fixtures/policy/natnow", import.meta.url)));
    expect(r.error).toBeNull();
    expect(r.warnings).toEqual([]);
    expect(r.policy).toEqual({ ...DEFAULT_POLICY, exclude: ["web"] });
  });

  it("gives the defaults for no file and for a file without a natnow section", () => {
    expect(readPolicy(null)).toEqual({ policy: DEFAULT_POLICY, warnings: [], error: null });
    expect(read("config other 'x'\n\toption renew '0'\n")).toEqual({ policy: DEFAULT_POLICY, warnings: [], error: null });
  });

  const good: [string, Partial<Policy>][] = [
    ["option renew 'off'", { renew: false }],
    ["option revoke 'no'", { revoke: false }],
    ["option established 'yes'", { established: true }],
    ["option procfs_collateral '1'", { procfsCollateral: true }],
    ["option exclude 'web  sip'", { exclude: ["web", "sip"] }],
    ["list exclude 'web'\n\tlist exclude 'sip'", { exclude: ["web", "sip"] }],
    ["option debounce '0.5'", { debounce: 0.5 }],
    ["option debounce '60'", { debounce: 60 }],
    ["option kmod_ttl '432000'", { kmodTtl: 432000 }],
    ["option backend 'procfs'", { backend: "procfs" }],
  ];
  it.each(good)("%s", (line, want) => {
    const r = read(`config natnow 'main'\n\t${line}\n`);
    expect(r.warnings).toEqual([]);
    expect(r.policy).toEqual({ ...DEFAULT_POLICY, ...want });
  });

  const bad: [string, string][] = [
    ["option renew 'maybe'", "natnow.main.renew: 'maybe' is not a boolean, using the default"],
    ["list revoke '0'", "natnow.main.revoke: must not be a list, using the default"],
    ["option debounce '61'", "natnow.main.debounce: '61' is not a number of seconds from 0 to 60, using the default"],
    ["option debounce '-1'", "natnow.main.debounce: '-1' is not a number of seconds from 0 to 60, using the default"],
    ["option kmod_ttl '1.5'", "natnow.main.kmod_ttl: '1.5' is not a number of seconds from 0 to 432000, using the default"],
    ["option backend 'iptables'", "natnow.main.backend: 'iptables' is not one of auto, kmod, conntrack, procfs, using the default"],
    ["option colour 'red'", "natnow.main: unknown option 'colour' ignored"],
  ];
  it.each(bad)("%s is reported and the default kept", (line, warning) => {
    const r = read(`config natnow 'main'\n\t${line}\n`);
    expect(r.warnings).toEqual([warning]);
    expect(r.policy).toEqual(DEFAULT_POLICY);
  });

  it("names an anonymous section as uci does", () => {
    expect(read("config natnow\n\toption renew 'x'\n").warnings).toEqual(["natnow.@natnow[0].renew: 'x' is not a boolean, using the default"]);
  });

  it("prefers the section named main", () => {
    expect(read("config natnow 'other'\n\toption renew '0'\nconfig natnow 'main'\n\toption revoke '0'\n").policy)
      .toEqual({ ...DEFAULT_POLICY, revoke: false });
  });

  it("reports a file that does not parse and keeps the defaults", () => {
    const r = read("config natnow 'main'\n\toption renew '1\n");
    expect(r.error).toMatch(/unterminated|quote/i);
    expect(r.policy).toEqual(DEFAULT_POLICY);
  });
});
