import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { anonymousName, djbHash, parseUci, validateName, validatePackage, validateType } from "../../src/uci/parse.ts";
import { showPackage, exportPackage } from "../../src/uci/print.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { UciParseError } from "../../src/uci/types.ts";
import { uciCases } from "./cases.ts";
import { fixturePath } from "../helpers/fixtures.ts";

function run(input: string): { show?: string; error?: string } {
  try {
    return { show: showPackage(parseUci(utf8Encode(input), "t")) };
  } catch (e) {
    if (e instanceof UciParseError) return { error: e.message };
    throw e;
  }
}

describe("parseUci: libuci's rules", () => {
  for (const c of uciCases) {
    it(c.rule, () => {
      const got = run(c.input);
      if (c.error !== undefined) expect(got).toEqual({ error: c.error });
      else expect(got).toEqual({ show: c.show });
    });
  }
});

describe("parseUci: recorded libuci corpus", () => {
  interface Rec { stdout: string; stderr: string; status: number }
  const corpus = JSON.parse(readFileSync(fixturePath("uci", "libuci-corpus.json"), "utf8")) as {
    cases: { input: string; show: Rec; showX: Rec; export: Rec }[];
  };
  it("has enough successes and errors to mean something", () => {
    const ok = corpus.cases.filter((c) => c.show.status === 0).length;
    expect(ok).toBeGreaterThan(100);
    expect(corpus.cases.length - ok).toBeGreaterThan(100);
  });
  it("prints exactly what libuci printed for every case", () => {
    const mismatches: string[] = [];
    for (const c of corpus.cases) {
      let got: { show: string; showX: string; export: string } | string;
      try {
        const pkg = parseUci(utf8Encode(c.input), "t");
        got = { show: showPackage(pkg), showX: showPackage(pkg, false), export: exportPackage(pkg) };
      } catch (e) {
        if (!(e instanceof UciParseError)) throw e;
        got = `uci: ${e.message}\n`;
      }
      const want = c.show.status === 0
        ? { show: c.show.stdout, showX: c.showX.stdout, export: c.export.stdout }
        : c.show.stderr;
      if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(JSON.stringify(c.input));
    }
    expect(mismatches).toEqual([]);
  });
});

describe("anonymous section names", () => {
  it.each([
    [1, "zone", "cfg01dc81"],
    [1, "defaults", "cfg01e63d"],
  ])("section %i of type %s is %s", (n, type, name) => {
    expect(anonymousName(n, type)).toBe(name);
  });
  it("counts named sections in the position", () => {
    const pkg = parseUci(utf8Encode("config zone 'a'\nconfig zone\n"), "t");
    expect(pkg.sections[1].name).toBe(anonymousName(2, "zone"));
    expect(pkg.sections[1].name.slice(0, 5)).toBe("cfg02");
  });
  it("uses more hex digits past 255 sections", () => {
    expect(anonymousName(256, "rule").startsWith("cfg100")).toBe(true);
  });
  it("djbHash is 31-bit", () => {
    expect(djbHash("a".repeat(1000))).toBeLessThan(2 ** 31);
  });
});

describe("name validation", () => {
  it.each([
    ["lan", true, true, true],
    ["my_zone1", true, true, true],
    ["my-zone", false, true, true],
    ["a.b", false, false, true],
    ["", false, false, false],
    ["a b", false, false, false],
    ["\u00e9", false, false, false],
  ])("%j: name %s, package %s, type %s", (s, name, pkg, type) => {
    expect(validateName(s)).toBe(name);
    expect(validatePackage(s)).toBe(pkg);
    expect(validateType(s)).toBe(type);
  });
});

describe("parse errors", () => {
  it("reject files with NUL bytes", () => {
    expect(() => parseUci(Uint8Array.from([0x63, 0x20, 0x61, 0x0a, 0x00]), "t")).toThrow(
      "Parse error (NUL byte in file) at line 2, byte 0",
    );
  });
  it("carry reason, line and byte", () => {
    try {
      parseUci(utf8Encode("config a\nbad\n"), "t");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(UciParseError);
      const pe = e as UciParseError;
      expect([pe.reason, pe.line, pe.byte]).toEqual(["invalid command", 2, 0]);
    }
  });
});
