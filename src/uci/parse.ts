/**
 * A UCI file parser with libuci's exact semantics (openwrt/uci `file.c`,
 * `list.c`, `util.c`), strict mode as the `uci` CLI uses it.
 *
 * libuci parses in place: it reads one logical line into a buffer with fgets,
 * splits the command word with strtok (which writes a NUL), and unquotes
 * arguments by copying bytes backwards inside the same buffer. Several of its
 * surprising behaviours follow from that, so this parser keeps the same
 * buffer model instead of tokenizing: the byte offsets in error messages and
 * the `;` rule (an unquoted `a;` swallows the rest of the line) come out the
 * same.
 */

import { bytesToBinary } from "./bytes.ts";
import { type UciPackage, UciParseError, type UciSection } from "./types.ts";

const NL = 0x0a;
const CR = 0x0d;
const SQ = 0x27; // '
const DQ = 0x22; // "
const BS = 0x5c; // backslash
const HASH = 0x23;
const SEMI = 0x3b;

/** C `isspace` in the C locale. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** C `isalnum` in the C locale. */
function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * libuci `uci_validate_str`: names allow `[A-Za-z0-9_]` (and `-` for
 * packages); types allow any printable ASCII except space.
 */
function validateStr(s: string, name: boolean, pkg: boolean): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isAlnum(c) || c === 0x5f) continue;
    if (c === 0x2d && pkg) continue;
    if (name || c < 33 || c > 126) return false;
  }
  return true;
}

/** libuci `uci_validate_name`: a section or option name. */
export function validateName(s: string): boolean {
  return validateStr(s, true, false);
}

/** libuci `uci_validate_package`: a package (config file) name. */
export function validatePackage(s: string): boolean {
  return validateStr(s, true, true);
}

/** libuci `uci_validate_type`: a section type. */
export function validateType(s: string): boolean {
  return validateStr(s, false, false);
}

/**
 * libuci `djbhash` as used by `uci_fixup_section` (on the section type only:
 * libuci names an anonymous section when it is created, before it has options).
 */
export function djbHash(s: string): number {
  let hash = 5381;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c > 127) c -= 256; // `char` is signed on the platforms libuci's tests pin
    hash = (Math.imul(hash, 33) + c) >>> 0;
  }
  return hash & 0x7fffffff;
}

/** libuci's generated name of the n-th section (1-based count) of a package. */
export function anonymousName(nSection: number, type: string): string {
  const hex = (v: number, w: number) => {
    const s = v.toString(16);
    return s.length >= w ? s : "0".repeat(w - s.length) + s;
  };
  return `cfg${hex(nSection, 2)}${hex(djbHash(type) % 65536, 4)}`;
}

/** Thrown inside the parser; carries a libuci reason. */
class Abort extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

class Parser {
  /** The logical line buffer; indexes at or beyond `buf.length` read as NUL. */
  private buf: number[] = [];
  /** pctx->buf_filled: bytes read into the buffer by the last successful read. */
  private filled = 0;
  private pos = 0;
  private line = 0;
  private eof = false;
  private srcPos = 0;
  private readonly pkg: UciPackage;
  private section: UciSection | null = null;
  private nSection = 0;

  constructor(private readonly src: Uint8Array, name: string) {
    this.pkg = { name, sections: [] };
  }

  run(): UciPackage {
    if (this.src.indexOf(0) >= 0) {
      // fgets/strlen make libuci's reading of a NUL byte depend on its buffer
      // size; natnow refuses such a file instead of guessing.
      const at = this.src.indexOf(0);
      let line = 1;
      for (let i = 0; i < at; i++) if (this.src[i] === NL) line++;
      throw new UciParseError("NUL byte in file", line, 0);
    }
    // uci_import: `while (!feof(file)) { getln(0); if (buf[0]) parse_line(); }`
    while (!this.eof) {
      this.pos = 0;
      this.getln(0);
      if (this.ch(0) !== 0) {
        try {
          this.parseLine();
        } catch (e) {
          if (e instanceof Abort) throw new UciParseError(e.reason, this.line, this.pos);
          throw e;
        }
      }
    }
    return this.pkg;
  }

  private ch(i: number): number {
    return i < this.buf.length ? this.buf[i] : 0;
  }

  private put(i: number, c: number): void {
    if (i < this.buf.length) this.buf[i] = c;
    else if (c !== 0) {
      while (this.buf.length < i) this.buf.push(0);
      this.buf.push(c);
    }
  }

  /** uci_getln: fgets one physical line into the buffer at `offset`. */
  private getln(offset: number): void {
    this.buf.length = offset;
    if (this.srcPos >= this.src.length) {
      this.eof = true;
      return;
    }
    let end = this.src.indexOf(NL, this.srcPos);
    if (end < 0) {
      end = this.src.length;
      this.eof = true;
    } else {
      end += 1;
      this.line++;
    }
    for (let i = this.srcPos; i < end; i++) this.buf.push(this.src[i]);
    this.srcPos = end;
    this.filled = this.buf.length;
  }

  /** The NUL-terminated string starting at `i`. */
  private str(i: number): string {
    const out: number[] = [];
    for (let c = this.ch(i); c !== 0; c = this.ch(++i)) out.push(c);
    return bytesToBinary(Uint8Array.from(out));
  }

  private skipWhitespace(): void {
    while (this.ch(this.pos) !== 0 && isSpace(this.ch(this.pos))) this.pos++;
  }

  /** parse_backslash: false when the backslash continued the line. */
  private parseBackslash(): boolean {
    this.pos++;
    const c = this.ch(this.pos);
    if (
      c === 0 || c === NL ||
      (c === CR && this.ch(this.pos + 1) === NL && this.ch(this.pos + 2) === 0)
    ) {
      this.getln(this.pos);
      return false;
    }
    return true;
  }

  private parseQuoted(target: { at: number }, quote: number): void {
    this.pos++;
    for (;;) {
      const c = this.ch(this.pos);
      if (c === quote) {
        this.pos++;
        return;
      }
      if (c === 0) {
        // multi-line value: the next physical line continues the string
        this.getln(this.pos);
        if (this.ch(this.pos) === 0) {
          throw new Abort(quote === DQ ? 'EOF with unterminated "' : "EOF with unterminated '");
        }
        continue;
      }
      if (c === BS && quote === DQ && !this.parseBackslash()) continue;
      this.addc(target);
    }
  }

  private addc(target: { at: number }): void {
    this.put(target.at, this.ch(this.pos));
    target.at++;
    this.pos++;
  }

  /** parse_str: one argument, unquoted in place; stops at `;` without consuming it. */
  private parseStr(target: { at: number }): void {
    let next = true;
    done: do {
      const c = this.ch(this.pos);
      switch (c) {
        case SQ:
          this.parseQuoted(target, SQ);
          break;
        case DQ:
          this.parseQuoted(target, DQ);
          break;
        case HASH:
          this.put(this.pos, 0);
          break done;
        case 0:
          break done;
        case SEMI:
          next = false;
          break done;
        case BS:
          if (!this.parseBackslash()) continue; // re-tests the loop condition
          this.addc(target);
          break;
        default:
          this.addc(target);
      }
    } while (this.ch(this.pos) !== 0 && !isSpace(this.ch(this.pos)));
    if (this.ch(this.pos) !== 0 && next) this.pos++;
    // Terminating in place: an unquoted `a;` has target == pos here, so this
    // NUL overwrites the `;` and the rest of the line is never parsed.
    this.put(target.at, 0);
  }

  /** next_arg: returns the buffer offset of the argument. */
  private nextArg(required: boolean, name: boolean, pkg: boolean): number {
    this.skipWhitespace();
    const val = this.pos;
    if (this.ch(this.pos) === SEMI) {
      this.put(this.pos, 0);
      this.pos++;
    } else {
      this.parseStr({ at: val });
    }
    if (this.ch(val) === 0) {
      if (required) throw new Abort("insufficient arguments");
      return val;
    }
    if (name && !validateStr(this.str(val), name, pkg)) {
      throw new Abort("invalid character in name field");
    }
    return val;
  }

  private assertEol(): void {
    this.skipWhitespace();
    const v = this.nextArg(false, false, false);
    if (this.ch(v) !== 0) throw new Abort("too many arguments");
  }

  /** uci_increase_pos past the command word that strtok terminated. */
  private skipCommand(err: string): void {
    let n = 0;
    while (this.ch(this.pos + n) !== 0) n++;
    if (this.pos + n + 1 > this.filled) throw new Abort(err);
    this.pos += n + 1;
  }

  /** strtok(cur, " \t"): the command word, NUL-terminated in the buffer. */
  private strtok(): string | null {
    let i = this.pos;
    while (this.ch(i) === 0x20 || this.ch(i) === 0x09) i++;
    if (this.ch(i) === 0) return null;
    const start = i;
    while (this.ch(i) !== 0 && this.ch(i) !== 0x20 && this.ch(i) !== 0x09) i++;
    const word = this.str(start).slice(0, i - start);
    if (this.ch(i) !== 0) this.put(i, 0);
    return word;
  }

  private parseLine(): void {
    this.skipWhitespace();
    for (;;) {
      const word = this.strtok();
      if (word === null) return;
      const c = word.charCodeAt(0);
      if (c === HASH) return;
      const rest = word.slice(1);
      if (word[0] === "p" && (rest === "" || rest === "ackage")) this.parsePackage();
      else if (word[0] === "c" && (rest === "" || rest === "onfig")) this.parseConfig();
      else if (word[0] === "o" && (rest === "" || rest === "ption")) this.parseOption(false);
      else if (word[0] === "l" && (rest === "" || rest === "ist")) this.parseOption(true);
      else throw new Abort("invalid command");
    }
  }

  /** A file loaded as a named package only validates `package` lines. */
  private parsePackage(): void {
    this.skipCommand("package without name");
    this.nextArg(true, true, true);
    this.assertEol();
  }

  private parseConfig(): void {
    this.skipCommand("config without name");
    const ofsType = this.nextArg(true, false, false);
    if (!validateType(this.str(ofsType))) throw new Abort("invalid character in type field");
    const ofsName = this.nextArg(false, true, false);
    this.assertEol();
    const type = this.str(ofsType);
    const name = this.str(ofsName);

    if (name === "") {
      this.nSection++;
      const s: UciSection = {
        type,
        name: anonymousName(this.nSection, type),
        anonymous: true,
        options: [],
      };
      this.pkg.sections.push(s);
      this.section = s;
      return;
    }
    const existing = this.pkg.sections.find((s) => s.name === name);
    if (existing) {
      if (existing.type !== type) {
        throw new Abort("section of different type overwrites prior section with same name");
      }
      this.section = existing;
      return;
    }
    this.nSection++;
    const s: UciSection = { type, name, anonymous: false, options: [] };
    this.pkg.sections.push(s);
    this.section = s;
  }

  private parseOption(list: boolean): void {
    const s = this.section;
    if (!s) throw new Abort("option/list command found before the first section");
    this.skipCommand("option without name");
    const ofsName = this.nextArg(true, true, false);
    const ofsValue = this.nextArg(false, false, false);
    this.assertEol();
    const name = this.str(ofsName);
    const value = this.str(ofsValue);
    const idx = s.options.findIndex((o) => o.name === name);
    const old = idx >= 0 ? s.options[idx] : undefined;

    if (list) {
      // uci_add_list: a string option becomes a list in place, old value first
      if (!old) s.options.push({ name, value: [value] });
      else if (typeof old.value === "string") s.options[idx] = { name, value: [old.value, value] };
      else old.value.push(value);
      return;
    }
    // uci_set: an empty value never deletes while parsing (the lookup is not
    // "complete"), so `option x ''` leaves any earlier value as it was
    if (value === "") return;
    if (!old) s.options.push({ name, value });
    else s.options[idx] = { name, value };
  }
}

/**
 * Parses a UCI file's bytes as package `name`, like `uci_import` for a
 * config file (strict mode). Throws UciParseError with libuci's reason,
 * line and byte on the first error: a file with an error is rejected whole.
 */
export function parseUci(bytes: Uint8Array, name: string): UciPackage {
  return new Parser(bytes, name).run();
}
