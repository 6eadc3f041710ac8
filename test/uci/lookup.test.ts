import { describe, expect, it } from "vitest";
import { lookupOption, lookupSection } from "../../src/uci/lookup.ts";
import { parseUci } from "../../src/uci/parse.ts";
import { fixtureBytes } from "../helpers/fixtures.ts";

const pkg = parseUci(fixtureBytes("configs", "10-snat-redirect", "firewall"), "firewall");

describe("lookupSection", () => {
  it.each([
    ["@zone[0]", "lan"],
    ["@zone[1]", "wan"],
    ["@zone[-1]", "wan"],
    ["@zone[+1]", "wan"],
    ["@redirect[2]", "rdp"],
    ["@[1]", "lan"],
    ["@zone[]", "lan"],
  ])("%s has name %s", (ref, name) => {
    const r = lookupSection(pkg, ref);
    expect(r.ok && r.value.options.find((o) => o.name === "name")?.value).toBe(name);
  });
  it.each([
    ["@zone[5]", "Entry not found"],
    ["@zone[-3]", "Entry not found"],
    ["nosuch", "Entry not found"],
    ["@zone[1x]", "Invalid argument"],
    ["@zone[-]", "Invalid argument"],
    ["@zone", "Invalid argument"],
    ["@zo ne[0]", "Invalid argument"],
  ])("%s fails with %s", (ref, error) => {
    expect(lookupSection(pkg, ref)).toEqual({ ok: false, error });
  });
  it("finds named sections and anonymous ones by generated name", () => {
    const s = pkg.sections[1];
    const r = lookupSection(pkg, s.name);
    expect(r.ok && r.value).toBe(s);
  });
});

describe("lookupOption", () => {
  it("finds an option", () => {
    const r = lookupOption(pkg, "@redirect[0]", "src_dip");
    expect(r).toEqual({ ok: true, value: { name: "src_dip", value: "198.19.100.7" } });
  });
  it("reports a missing option and an invalid name", () => {
    expect(lookupOption(pkg, "@redirect[0]", "nope")).toEqual({ ok: false, error: "Entry not found" });
    expect(lookupOption(pkg, "@redirect[0]", "a.b")).toEqual({ ok: false, error: "Invalid argument" });
  });
});
