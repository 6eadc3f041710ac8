/** The UCI data model, as libuci keeps it after parsing a file. */

/** An option: a string value, or a list of values (`list` lines). */
export interface UciOption {
  name: string;
  value: string | string[];
}

/** A section: `config TYPE ['NAME']` with its options in file order. */
export interface UciSection {
  type: string;
  /** The section's name; anonymous sections get libuci's `cfgXXYYYY` name. */
  name: string;
  anonymous: boolean;
  options: UciOption[];
}

/** A package: one config file. */
export interface UciPackage {
  name: string;
  sections: UciSection[];
}

/** A parse error with libuci's reason, line and byte. */
export class UciParseError extends Error {
  /** libuci's reason text, e.g. `invalid command`. */
  readonly reason: string;
  readonly line: number;
  readonly byte: number;

  constructor(reason: string, line: number, byte: number) {
    super(`Parse error (${reason}) at line ${line}, byte ${byte}`);
    this.name = "UciParseError";
    this.reason = reason;
    this.line = line;
    this.byte = byte;
  }
}
