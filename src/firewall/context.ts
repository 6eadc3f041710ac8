/**
 * What building fw4's NAT model shares between its parse functions: the
 * package, the runtime facts, the zones read so far, and fw4's section
 * handling (`section_id`, `warn_section`, `parse_options`), with the option
 * specification tables fw4's parse functions use.
 */

import { binaryToText } from "../uci/bytes.ts";
import type { UciPackage, UciSection } from "../uci/types.ts";
import type { Facts } from "./facts.ts";
import type { SectionKind, SectionModel, SkippedSection, ZoneModel } from "../model/nat.ts";
import {
  type AddrItem, type NetworkValue, parseBool, parseDate, parseMark, parseNetwork, parseTime, parseWeekdays, toArray,
} from "./values.ts";

/** A section's raw options. */
export type Raw = Record<string, string | string[]>;

/** fw4's words for a section switched off with `enabled '0'`. */
export const DISABLED = "is disabled, ignoring section";

/** A section's options as text (UCI byte strings decoded as UTF-8). */
export function rawOptions(s: UciSection): Raw {
  const out: Raw = {};
  for (const o of s.options) {
    out[o.name] = typeof o.value === "string" ? binaryToText(o.value) : o.value.map(binaryToText);
  }
  return out;
}

/** How fw4 reads one option (parse_options' spec). */
export interface Spec {
  parse: (v: string) => unknown;
  def?: string;
  list?: boolean;
  flatten?: boolean;
  noInvert?: boolean;
  unsupported?: boolean;
  deprecated?: boolean;
  required?: boolean;
}

/** fw4's boolean parser. */
export const bool = (v: string) => parseBool(v);
/** Any string. */
export const str = (v: string) => v;
/** A check as a parser: the value, or null. */
export const ok = (f: (v: string) => boolean) => (v: string) => (f(v) ? v : null);
/** fw4's target names. */
export const TARGETS = [
  "accept", "reject", "drop", "notrack", "helper", "mark", "dscp", "dnat", "snat", "masquerade",
] as const;
/** One of fw4's targets. */
export type Target = (typeof TARGETS)[number];

/** The time and mark options redirects and nat sections share, in fw4's order. */
export const SCHEDULE: Record<string, Spec> = {
  utc_time: { parse: bool },
  start_date: { parse: ok(parseDate) },
  stop_date: { parse: ok(parseDate) },
  start_time: { parse: ok(parseTime) },
  stop_time: { parse: ok(parseTime) },
  weekdays: { parse: ok(parseWeekdays) },
  monthdays: { parse: str, unsupported: true },
  mark: { parse: ok(parseMark) },
};

/** A zone named in an option (`*`: any). */
export interface ZoneRef {
  any: boolean;
  zone: ZoneState | null;
}

/** A zone as the parse functions keep it. */
export interface ZoneState {
  model: ZoneModel;
  masq: boolean;
  masq6: boolean;
  /** related_subnets: networks' addresses (with their prefix length) and `subnet` items. */
  related: AddrItem[];
  masqSrc: NetworkValue[];
  masqDest: NetworkValue[];
}

/** The state one build shares: what fw4 keeps while it reads a config. */
export class ModelContext {
  readonly zones: ZoneState[] = [];
  readonly sections: SectionModel[] = [];
  readonly skipped: SkippedSection[] = [];
  readonly warnings: string[] = [];

  constructor(readonly pkg: UciPackage, readonly facts: Facts) {}

  private readonly networkAddrs = (name: string): AddrItem[] | undefined => this.facts.networks[name]?.addrs;

  /** fw4 section_id. */
  sectionId(s: UciSection): string {
    if (!s.anonymous) return s.name;
    const same = this.pkg.sections.filter((x) => x.type === s.type);
    return `@${s.type}[${same.indexOf(s)}]`;
  }

  /** fw4 warn_section. */
  warn(s: UciSection, raw: Raw, msg: string): void {
    const name = raw.name;
    const id = this.sectionId(s);
    this.warnings.push(
      name !== undefined && name !== "" ? `Section ${id} (${String(name)}) ${msg}` : `Section ${id} ${msg}`,
    );
  }

  skip(kind: SectionKind, s: UciSection, raw: Raw, msg: string): void {
    this.warn(s, raw, msg);
    const name = typeof raw.name === "string" ? raw.name : this.sectionId(s);
    this.skipped.push({ kind, id: this.sectionId(s), name, reason: msg, disabled: msg === DISABLED });
  }

  /** fw4 parse_options: false when any option is invalid. */
  parseOptions(s: UciSection, raw: Raw, spec: Record<string, Spec>): Record<string, unknown> | false {
    const rv: Record<string, unknown> = {};
    for (const [key, sp] of Object.entries(spec)) {
      let res: unknown;
      // parse_opt and parse_list alike: a missing option is mandatory or defaulted
      let val: string | string[] | undefined = raw[key];
      if (val === undefined) {
        if (sp.required) {
          this.warn(s, raw, `option '${key}' is mandatory but not set`);
          return false;
        }
        val = sp.def;
      }
      if (sp.list) {
        const out: unknown[] = [];
        for (const item of toArray(val)) {
          const r = sp.parse(item);
          if (r === null) {
            this.warn(s, raw, `option '${key}' specifies invalid value '${item}'`);
            return false;
          }
          if (sp.flatten && Array.isArray(r)) out.push(...(r as unknown[]));
          else out.push(r);
        }
        res = out.length ? out : null;
      } else {
        if (Array.isArray(val)) {
          this.warn(s, raw, `option '${key}' must not be a list`);
          return false;
        }
        if (val === undefined) res = null;
        else {
          res = sp.parse(val);
          if (res === null) {
            this.warn(s, raw, `option '${key}' specifies invalid value '${val}'`);
            return false;
          }
        }
      }
      if (
        sp.noInvert && typeof res === "object" && res !== null && !Array.isArray(res) &&
        (res as { invert?: boolean }).invert
      ) {
        this.warn(s, raw, `option '${key}' must not be negated`);
        return false;
      }
      if (res !== null && res !== undefined) {
        if (sp.deprecated) this.warn(s, raw, `option '${key}' is deprecated by fw4`);
        else if (sp.unsupported) this.warn(s, raw, `option '${key}' is not supported by fw4`);
        else rv[key] = res;
      }
    }
    for (const opt of Object.keys(raw)) {
      if (opt !== "type" && !(opt in spec)) this.warn(s, raw, `specifies unknown option '${opt}'`);
    }
    return rv;
  }

  readonly zoneRef = (v: string): ZoneRef | null => {
    if (v === "*") return { any: true, zone: null };
    const z = this.zones.find((x) => x.model.name === v);
    return z ? { any: false, zone: z } : null;
  };

  readonly network = (v: string) => parseNetwork(v, this.networkAddrs);

}
