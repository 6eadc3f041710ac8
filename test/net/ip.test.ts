import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  formatIp, formatPrefix, maskBits, maskBytes, parseIp, parsePrefix, prefixContains, prefixCovers,
  rangeToPrefixes,
} from "../../src/net/ip.ts";

describe("parseIp / formatIp (inet_pton / inet_ntop)", () => {
  it.each([
    ["198.18.1.1", "198.18.1.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["2001:db8::1", "2001:db8::1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:1:1:1:1:0:1", "2001:db8:1:1:1:1:0:1"],
    ["::ffff:198.18.1.1", "::ffff:198.18.1.1"],
    ["::198.18.1.1", "::198.18.1.1"],
    ["64:ff9b::198.18.1.1", "64:ff9b::c612:101"],
    ["1:2:3:4:5:6:198.18.1.1", "1:2:3:4:5:6:c612:101"],
    ["fe80::", "fe80::"],
  ])("%s → %s", (input, out) => {
    const a = parseIp(input);
    expect(a).not.toBeNull();
    expect(formatIp(a as number[])).toBe(out);
  });
  it.each(["", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.-1", "a.b.c.d", ":::", "1::2::3",
    "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7", "::1.2.3", "1.2.3.4/24", " 1.2.3.4"])(
    "%j is not an address",
    (input) => expect(parseIp(input)).toBeNull(),
  );
  it("round-trips any IPv6 address", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }), (a) => {
      expect(parseIp(formatIp(a))).toEqual(a);
    }), { numRuns: 300 });
  });
});

describe("masks and prefixes", () => {
  it("converts between masks and lengths", () => {
    expect(maskBytes(24, false)).toEqual([255, 255, 255, 0]);
    expect(maskBits([255, 255, 255, 0])).toBe(24);
    expect(maskBits([255, 0, 255, 0])).toBeNull();
    expect(maskBytes(33, false)).toBeNull();
  });
  it("parses and normalizes prefixes", () => {
    expect(formatPrefix(parsePrefix("198.18.1.77/24")!)).toBe("198.18.1.0/24");
    expect(formatPrefix(parsePrefix("2001:db8:1::20")!)).toBe("2001:db8:1::20/128");
    expect(parsePrefix("198.18.1.0/33")).toBeNull();
    expect(parsePrefix("198.18.1.0/x")).toBeNull();
  });
  it("tests containment", () => {
    const p = parsePrefix("198.18.1.0/25")!;
    expect(prefixContains(p, parseIp("198.18.1.127")!)).toBe(true);
    expect(prefixContains(p, parseIp("198.18.1.128")!)).toBe(false);
    expect(prefixContains(p, parseIp("2001:db8::1")!)).toBe(false);
    expect(prefixCovers(parsePrefix("198.18.0.0/15")!, p)).toBe(true);
    expect(prefixCovers(p, parsePrefix("198.18.0.0/15")!)).toBe(false);
  });
  it("covers a range with prefixes exactly", () => {
    expect(rangeToPrefixes(parseIp("198.18.1.10")!, parseIp("198.18.1.20")!).map(formatPrefix)).toEqual([
      "198.18.1.10/31", "198.18.1.12/30", "198.18.1.16/30", "198.18.1.20/32",
    ]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (x, y) => {
      const [lo, hi] = x <= y ? [x, y] : [y, x];
      const ps = rangeToPrefixes([10, 0, 0, lo], [10, 0, 0, hi]);
      for (let v = 0; v < 256; v++) {
        const inside = ps.filter((p) => prefixContains(p, [10, 0, 0, v])).length;
        expect(inside).toBe(v >= lo && v <= hi ? 1 : 0);
      }
    }), { numRuns: 100 });
  });
});
