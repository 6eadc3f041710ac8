/**
 * Printers for libuci's text formats, byte for byte: `uci show` (cli.c
 * uci_show_package, with and without `-X`) and `uci export` (file.c
 * uci_export_package). Input and output are byte strings.
 */

import type { UciPackage, UciSection } from "./types.ts";

/** cli.c uci_print_value: single-quoted, `'` written as `'\''`. */
export function quoteValue(v: string): string {
  return "'" + v.split("'").join("'\\''") + "'";
}

/** file.c uci_escape: like quoteValue without the outer quotes. */
function escape(v: string): string {
  return v.split("'").join("'\\''");
}

/**
 * The names `uci show` gives sections: `@type[N]` for anonymous sections
 * (N counts every section of that type, named ones too), or the name.
 */
function sectionRefs(pkg: UciPackage, extended: boolean): string[] {
  const counters = new Map<string, number>();
  return pkg.sections.map((s) => {
    const idx = counters.get(s.type) ?? 0;
    counters.set(s.type, idx + 1);
    return extended && s.anonymous ? `@${s.type}[${idx}]` : s.name;
  });
}

function showSection(pkg: string, ref: string, s: UciSection): string {
  let out = `${pkg}.${ref}=${s.type}\n`;
  for (const o of s.options) {
    const v = typeof o.value === "string"
      ? quoteValue(o.value)
      : o.value.map(quoteValue).join(" ");
    out += `${pkg}.${ref}.${o.name}=${v}\n`;
  }
  return out;
}

/** `uci show PACKAGE` (extended = the default; `-X` turns it off). */
export function showPackage(pkg: UciPackage, extended = true): string {
  const refs = sectionRefs(pkg, extended);
  return pkg.sections.map((s, i) => showSection(pkg.name, refs[i], s)).join("");
}

/** `uci export PACKAGE` (anonymous sections unnamed, as without `-n`). */
export function exportPackage(pkg: UciPackage, nameAnonymous = false): string {
  let out = `package ${escape(pkg.name)}\n`;
  for (const s of pkg.sections) {
    out += `\nconfig ${escape(s.type)}`;
    if (!s.anonymous || nameAnonymous) out += ` '${escape(s.name)}'`;
    out += "\n";
    for (const o of s.options) {
      if (typeof o.value === "string") {
        out += `\toption ${escape(o.name)} '${escape(o.value)}'\n`;
      } else {
        for (const item of o.value) out += `\tlist ${escape(o.name)} '${escape(item)}'\n`;
      }
    }
  }
  return out + "\n";
}
