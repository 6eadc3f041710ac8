/**
 * Byte-string helpers. libuci works on bytes, not characters: natnow keeps UCI
 * names and values as "byte strings" (one UTF-16 code unit per byte, 0..255)
 * so that printing them back gives exactly the bytes that were read.
 *
 */

import { utf8Decode } from "../base/utf8.ts";

/** Turns raw bytes into a byte string (char code = byte). */
export function bytesToBinary(bytes: Uint8Array): string {
  let out = "";
  const chunk = 8192;
  for (let i = 0; i < bytes.length; i += chunk) {
    out += String.fromCharCode.apply(
      null,
      Array.from(bytes.subarray(i, Math.min(i + chunk, bytes.length))),
    );
  }
  return out;
}

/** Turns a byte string back into raw bytes (char codes above 255 are an error). */
export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new RangeError(`byte string has a character above 255 at ${i}`);
    out[i] = c;
  }
  return out;
}

/** Decodes a byte string as UTF-8 text (for humans and for the firewall model). */
export function binaryToText(s: string): string {
  return utf8Decode(binaryToBytes(s));
}
