import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseUci, anonymousName } from "../../src/uci/parse.ts";
import { exportPackage, quoteValue, showPackage } from "../../src/uci/print.ts";
import { binaryToBytes } from "../../src/uci/bytes.ts";
import type { UciPackage, UciSection } from "../../src/uci/types.ts";
import { configFixtures, fixtureBinary, fixtureBytes } from "../helpers/fixtures.ts";

describe("printers on real-world configs (expected output recorded from libuci)", () => {
  for (const name of configFixtures()) {
    it(name, () => {
      const pkg = parseUci(fixtureBytes("configs", name, "firewall"), "firewall");
      expect(showPackage(pkg)).toBe(fixtureBinary("configs", name, "show.txt"));
      expect(showPackage(pkg, false)).toBe(fixtureBinary("configs", name, "show-X.txt"));
      expect(exportPackage(pkg)).toBe(fixtureBinary("configs", name, "export.txt"));
    });
  }
});

describe("quoteValue", () => {
  it.each([
    ["a", "'a'"],
    ["", "''"],
    ["it's", "'it'\\''s'"],
    ["''", "''\\'''\\'''"],
  ])("%j → %s", (v, q) => expect(quoteValue(v)).toBe(q));
});

const nameArb = fc.stringMatching(/^[a-z_][a-z0-9_]{0,7}$/);
const typeArb = fc.constantFrom("zone", "redirect", "rule", "nat", "a-b", "x.y");
// any bytes but NUL; values may hold quotes, backslashes, newlines, '#', ';'
const byteString = (min: number) =>
  fc.array(fc.integer({ min: 1, max: 255 }), { minLength: min, maxLength: 12 })
    .map((a) => String.fromCharCode(...a));

const sectionArb = fc.record({
  type: typeArb,
  named: fc.option(nameArb, { nil: undefined }),
  options: fc.uniqueArray(
    fc.record({
      name: nameArb,
      value: fc.oneof(byteString(1), fc.array(byteString(0), { minLength: 1, maxLength: 3 })),
    }),
    { selector: (o) => o.name, maxLength: 5 },
  ),
});

function buildPackage(raw: { type: string; named?: string; options: UciSection["options"] }[]): UciPackage {
  const seen = new Set<string>();
  const sections: UciSection[] = [];
  for (const r of raw) {
    if (r.named !== undefined && seen.has(r.named)) continue;
    if (r.named !== undefined) seen.add(r.named);
    sections.push({
      type: r.type,
      name: r.named ?? anonymousName(sections.length + 1, r.type),
      anonymous: r.named === undefined,
      options: r.options,
    });
  }
  // a named section could collide with a generated name; keep such cases out
  const names = sections.map((s) => s.name);
  if (new Set(names).size !== names.length) sections.length = 0;
  return { name: "t", sections };
}

describe("round trip", () => {
  it("parse ∘ export is the identity on packages", () => {
    fc.assert(
      fc.property(fc.array(sectionArb, { maxLength: 6 }), (raw) => {
        const pkg = buildPackage(raw);
        const again = parseUci(binaryToBytes(exportPackage(pkg)), "t");
        expect(again).toEqual(pkg);
      }),
      { numRuns: 500 },
    );
  });
  it("export ∘ parse is stable on fixtures (print∘parse∘print = print)", () => {
    for (const name of configFixtures()) {
      const once = exportPackage(parseUci(fixtureBytes("configs", name, "firewall"), "firewall"));
      const twice = exportPackage(parseUci(binaryToBytes(once), "firewall"));
      expect(twice).toBe(once);
    }
  });
});
