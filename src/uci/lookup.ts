/** Section addressing as libuci does it: names and `@type[N]` (list.c uci_lookup_ext_section). */

import { validateName, validateType } from "./parse.ts";
import type { UciOption, UciPackage, UciSection } from "./types.ts";

/** Why a lookup failed, in libuci's words (`uci_errstr`). */
export type LookupError = "Invalid argument" | "Entry not found";

/** A lookup result: the thing, or libuci's error. */
export type Lookup<T> = { ok: true; value: T } | { ok: false; error: LookupError };

/**
 * Finds a section by name or by `@type[N]` / `@[N]` (any type); a negative N
 * counts from the end. The index is parsed like strtol: `@zone[+1]` works,
 * `@zone[1x]` is invalid.
 */
export function lookupSection(pkg: UciPackage, ref: string): Lookup<UciSection> {
  if (validateName(ref)) {
    const s = pkg.sections.find((x) => x.name === ref);
    return s ? { ok: true, value: s } : { ok: false, error: "Entry not found" };
  }
  const m = /^@([^[]*)\[([^\]]*)\]$/.exec(ref);
  if (!m) return { ok: false, error: "Invalid argument" };
  const type = m[1];
  // strtol: optional whitespace and sign, digits; anything left over is an error
  const idxm = m[2] === "" ? ["", "", ""] : /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(m[2]);
  if (!idxm) return { ok: false, error: "Invalid argument" };
  if (type !== "" && !validateType(type)) return { ok: false, error: "Invalid argument" };
  let idx = idxm[2] === "" ? 0 : Number(idxm[2]) * (idxm[1] === "-" ? -1 : 1);
  const candidates = pkg.sections.filter((s) => type === "" || s.type === type);
  if (idx < 0) idx += candidates.length;
  const s = candidates[idx];
  return s ? { ok: true, value: s } : { ok: false, error: "Entry not found" };
}

/** Finds `section.option` in a package. */
export function lookupOption(
  pkg: UciPackage,
  sectionRef: string,
  option: string,
): Lookup<UciOption> {
  const s = lookupSection(pkg, sectionRef);
  if (!s.ok) return s;
  if (!validateName(option)) return { ok: false, error: "Invalid argument" };
  const o = s.value.options.find((x) => x.name === option);
  return o ? { ok: true, value: o } : { ok: false, error: "Entry not found" };
}
