/** UTF-8 by hand (QuickJS has no TextEncoder): the same bytes as the platform's encoder, and a decoder that never fails. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8Decode, utf8Encode } from "../../src/base/utf8.ts";

describe("utf8", () => {
  const texts = ["", "natnow", "Größe", "网络地址转换", "🚀 x", "a\u0000b"];
  it.each(texts)("encodes %j as TextEncoder does and decodes it back", (t) => {
    expect(Array.from(utf8Encode(t))).toEqual(Array.from(new TextEncoder().encode(t)));
    expect(utf8Decode(utf8Encode(t))).toBe(t);
  });

  const invalid: [number[], string][] = [
    [[0xff, 0x41], "\u00ffA"], // not a lead byte
    [[0xc3], "\u00c3"], // truncated sequence
    [[0xc0, 0x80], "\u00c0\u0080"], // overlong
    [[0xed, 0xa0, 0x80], "\u00ed\u00a0\u0080"], // a surrogate
    [[0xf4, 0x90, 0x80, 0x80], "\u00f4\u0090\u0080\u0080"], // above U+10FFFF
  ];
  it.each(invalid)("takes the invalid bytes %j as Latin-1", (bytes, want) => {
    expect(utf8Decode(Uint8Array.from(bytes))).toBe(want);
  });

  it("round-trips any well-formed string", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme" }), (t) => utf8Decode(utf8Encode(t)) === t));
  });
});
