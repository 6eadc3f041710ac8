/**
 * Compares the NAT models of two configs and names what changed
 * (`redirect 'SIP' added`, `zone 'wan' masq off→on`). Anonymous sections
 * are matched by their content, then by their `name`; never by the
 * positional names libuci gives them.
 */

import type { NatModel, NatRule, SectionKind, SectionModel, ZoneModel } from "../firewall/types.ts";

/** What happened to a section. */
export type ChangeKind = "added" | "removed" | "changed";

/** One NAT change between two configs. */
export interface Change {
  kind: ChangeKind;
  subject: SectionKind;
  name: string;
  /** The change in words: `redirect 'SIP' changed: dest_ip 198.18.1.20→198.18.1.30`. */
  text: string;
  /** Rules only the old config has. */
  removed: NatRule[];
  /** Rules only the new config has. */
  added: NatRule[];
  /** Why the change cannot be acted on safely, if so (no selector is derived then). */
  error: string | null;
}

const ruleKey = (r: NatRule) => JSON.stringify(r);

/** fw4's words for a section switched off with `enabled '0'`. */
const DISABLED = "is disabled, ignoring section";

function optionsKey(s: SectionModel): string {
  const keys = Object.keys(s.options).sort();
  return JSON.stringify([s.kind, keys.map((k) => [k, s.options[k]])]);
}

function fmt(v: string | string[] | undefined): string {
  if (v === undefined || (Array.isArray(v) && v.length === 0)) return "-";
  return typeof v === "string" ? v : v.join(" ");
}

function label(s: { kind: SectionKind; name: string }): string {
  return `${s.kind} '${s.name}'`;
}

/** Option differences in words: `dest_ip 198.18.1.20→198.18.1.30`. */
function optionDiff(a: SectionModel, b: SectionModel): string[] {
  const keys = [...new Set([...Object.keys(a.options), ...Object.keys(b.options)])];
  const out: string[] = [];
  for (const k of keys) {
    const x = fmt(a.options[k]);
    const y = fmt(b.options[k]);
    if (x === y) continue;
    if (a.kind === "zone" && (k === "masq" || k === "masq6")) {
      out.push(`${k} ${x === "1" ? "on" : "off"}→${y === "1" ? "on" : "off"}`);
    } else out.push(`${k} ${x}→${y}`);
  }
  return out;
}

/** How a zone's addresses changed, in words. */
function zoneDiff(a: ZoneModel, b: ZoneModel): string[] {
  const out: string[] = [];
  const cmp = (what: string, x: string[], y: string[]) => {
    const sx = [...x].sort().join(" ");
    const sy = [...y].sort().join(" ");
    if (sx !== sy) out.push(`${what} ${sx || "-"}→${sy || "-"}`);
  };
  cmp("subnets", a.subnets, b.subnets);
  cmp("addresses", a.addresses, b.addresses);
  cmp("devices", a.devices, b.devices);
  return out;
}

function change(
  kind: ChangeKind, before: SectionModel | null, after: SectionModel | null, detail: string[],
): Change {
  const s = (after ?? before) as SectionModel;
  const beforeKeys = new Set((before?.rules ?? []).map(ruleKey));
  const afterKeys = new Set((after?.rules ?? []).map(ruleKey));
  let text = `${label(s)} ${kind}`;
  if (s.kind === "zone" && kind !== "changed") {
    text = `zone '${s.name}' masquerading ${kind === "added" ? "on" : "off"}`;
  }
  if (detail.length) text += `: ${detail.join(", ")}`;
  return {
    kind,
    subject: s.kind,
    name: s.name,
    text,
    removed: (before?.rules ?? []).filter((r) => !afterKeys.has(ruleKey(r))),
    added: (after?.rules ?? []).filter((r) => !beforeKeys.has(ruleKey(r))),
    error: null,
  };
}

/** Pairs sections of one kind: by content, then by a name unique on both sides. */
function pair(olds: SectionModel[], news: SectionModel[]): [SectionModel | null, SectionModel | null][] {
  const out: [SectionModel | null, SectionModel | null][] = [];
  const restOld = [...olds];
  const restNew: SectionModel[] = [];
  for (const n of news) {
    const i = restOld.findIndex((o) => optionsKey(o) === optionsKey(n));
    if (i >= 0) out.push([restOld.splice(i, 1)[0], n]);
    else restNew.push(n);
  }
  const count = (list: SectionModel[], name: string) => list.filter((s) => s.name === name).length;
  const unmatchedNew: SectionModel[] = [];
  for (const n of restNew) {
    const i = restOld.findIndex((o) => o.name === n.name);
    if (i >= 0 && count(restOld, n.name) === 1 && count(restNew, n.name) === 1) {
      out.push([restOld.splice(i, 1)[0], n]);
    } else unmatchedNew.push(n);
  }
  for (const o of restOld) out.push([o, null]);
  for (const n of unmatchedNew) out.push([null, n]);
  return out;
}

/** The NAT changes from `before` to `after`. Identical configs give none. */
export function diff(before: NatModel, after: NatModel): Change[] {
  const changes: Change[] = [];
  const zoneBefore = new Map(before.zones.map((z) => [z.name, z]));
  const zoneAfter = new Map(after.zones.map((z) => [z.name, z]));
  const zonesChanged = (names: string[]) =>
    names.flatMap((n) => {
      const a = zoneBefore.get(n);
      const b = zoneAfter.get(n);
      if (!a || !b) return [`zone '${n}' ${a ? "removed" : "added"}`];
      const d = zoneDiff(a, b);
      return d.length ? [`zone '${n}' ${d.join(", ")}`] : [];
    });

  for (const kind of ["zone", "redirect", "nat"] as const) {
    const olds = before.sections.filter((s) => s.kind === kind);
    const news = after.sections.filter((s) => s.kind === kind);
    const pairs = kind === "zone"
      ? [...new Set([...olds, ...news].map((s) => s.name))].map((n): [SectionModel | null, SectionModel | null] => [
        olds.find((s) => s.name === n) ?? null,
        news.find((s) => s.name === n) ?? null,
      ])
      : pair(olds, news);
    for (const [a, b] of pairs) {
      if (a && b) {
        if (JSON.stringify(a.rules) === JSON.stringify(b.rules)) continue;
        const detail = optionDiff(a, b);
        if (!detail.length) detail.push(...zonesChanged([...new Set([...a.zones, ...b.zones])]));
        if (!detail.length) detail.push("rules changed");
        changes.push(change("changed", a, b, detail));
      } else if (a) {
        changes.push(change("removed", a, null, []));
      } else if (b) {
        changes.push(change("added", null, b, []));
      }
    }
  }

  // a section fw4 now skips is not "removed": its value could not be read,
  // so natnow does not know what the user meant and leaves its flows alone
  for (const c of changes) {
    const sk = after.skipped.find((s) => s.kind === c.subject && s.name === c.name);
    // `enabled '0'` is a clear wish: that one is a removal like any other
    if (sk && c.kind === "removed" && sk.reason !== DISABLED) {
      c.error = `${label({ kind: c.subject, name: c.name })} is skipped by fw4 (${sk.reason}); its flows are left alone`;
    }
  }
  return changes;
}
