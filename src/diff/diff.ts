/**
 * Compares the NAT models of two configs and names what changed
 * (`redirect 'SIP' added`, `zone 'wan' masq off→on`). Anonymous sections
 * are matched by their content, then by their `name`; never by the
 * positional names libuci gives them.
 */

import { describeRule, ruleIdentity } from "../firewall/rule.ts";
import type { NatModel, NatRule, SectionKind, SectionModel, ZoneModel } from "../model/nat.ts";

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

/** A rule's identity on one side of the diff (its zone read in that side's zones). */
type RuleKey = (r: NatRule) => string;

/** The section's content, its name aside: a renamed section pairs with its old self. */
function optionsKey(s: SectionModel): string {
  const keys = Object.keys(s.options).filter((k) => k !== "name").sort();
  return JSON.stringify([s.kind, keys.map((k) => [k, s.options[k]])]);
}

function fmt(v: string | string[] | undefined): string {
  if (v === undefined || (Array.isArray(v) && v.length === 0)) return "-";
  return typeof v === "string" ? v : v.join(" ");
}

function label(s: { kind: SectionKind; name: string }): string {
  return `${s.kind} '${s.name}'`;
}

/** Two rules' words with what they share left out: `dnat 198.18.1.20:5060→198.18.1.30:5060`. */
function wordDiff(x: string, y: string): string {
  const a = x.split(" ");
  const b = y.split(" ");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  // keep the field's name with its changed value (`src 198.18.7.1→src 198.18.7.2`)
  if (i > 0 && ["src", "dst", "sport", "dport", "from", "to"].indexOf(a[i - 1]) >= 0) i--;
  let j = 0;
  while (j < a.length - i && j < b.length - i && a[a.length - 1 - j] === b[b.length - 1 - j]) j++;
  // a word only added or only removed: show it with its neighbour (`masquerade→ct-!dnat masquerade`)
  if (i === a.length - j || i === b.length - j) {
    if (j > 0) j--;
    else if (i > 0) i--;
  }
  return `${a.slice(i, a.length - j).join(" ") || "-"}→${b.slice(i, b.length - j).join(" ") || "-"}`;
}

/** Option differences in words: `dest_ip 198.18.1.20→198.18.1.30`. */
function optionDiff(a: SectionModel, b: SectionModel, removed: NatRule[], added: NatRule[]): string[] {
  if (a.options.rule !== undefined || b.options.rule !== undefined) {
    // a section of the live ruleset: its rules are its options
    if (removed.length === 1 && added.length === 1) {
      const [x, y] = [describeRule(removed[0]), describeRule(added[0])];
      // the same words: what the rule matches by (an unreadable part, or the rules decided before it) changed
      if (x === y) return [removed[0].unbounded ? `what natnow cannot read of it changed (${removed[0].unbounded})` : "the rules decided before it changed"];
      return [wordDiff(x, y)];
    }
    return [`${removed.length} rule(s) gone, ${added.length} new`];
  }
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

/** Rules only `a` has (by identity). */
function only(a: NatRule[], keyA: RuleKey, b: NatRule[], keyB: RuleKey): NatRule[] {
  const keys = new Set(b.map(keyB));
  return a.filter((r) => !keys.has(keyA(r)));
}

function change(
  kind: ChangeKind, before: SectionModel | null, after: SectionModel | null, detail: string[],
  keyBefore: RuleKey, keyAfter: RuleKey,
): Change {
  const s = (after ?? before) as SectionModel;
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
    removed: only(before?.rules ?? [], keyBefore, after?.rules ?? [], keyAfter),
    added: only(after?.rules ?? [], keyAfter, before?.rules ?? [], keyBefore),
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

/**
 * The NAT changes from `before` to `after`. Identical configs give none, and
 * so does a rename alone: rules are compared without their labels.
 */
export function diff(before: NatModel, after: NatModel): Change[] {
  const changes: Change[] = [];
  const keyBefore: RuleKey = (r) => ruleIdentity(r, before.zones);
  const keyAfter: RuleKey = (r) => ruleIdentity(r, after.zones);
  // the same rules, in any order (fw4's templates and the kernel's chains order them differently)
  const same = (a: NatRule[], b: NatRule[]) =>
    JSON.stringify([...new Set(a.map(keyBefore))].sort()) === JSON.stringify([...new Set(b.map(keyAfter))].sort());
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

  for (const kind of ["zone", "redirect", "nat", "rule"] as const) {
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
        if (same(a.rules, b.rules)) continue;
        const detail = optionDiff(a, b, only(a.rules, keyBefore, b.rules, keyAfter), only(b.rules, keyAfter, a.rules, keyBefore));
        if (!detail.length) detail.push(...zonesChanged([...new Set([...a.zones, ...b.zones])]));
        if (!detail.length) detail.push("rules changed");
        changes.push(change("changed", a, b, detail, keyBefore, keyAfter));
      } else if (a) {
        changes.push(change("removed", a, null, [], keyBefore, keyAfter));
      } else if (b) {
        changes.push(change("added", null, b, [], keyBefore, keyAfter));
      }
    }
  }

  // a section fw4 now skips is not "removed": its value could not be read,
  // so natnow does not know what the user meant and leaves its flows alone
  for (const c of changes) {
    const sk = after.skipped.find((s) => s.kind === c.subject && s.name === c.name);
    // `enabled '0'` is a clear wish: that one is a removal like any other
    if (sk && c.kind === "removed" && !sk.disabled) {
      c.error = `${label({ kind: c.subject, name: c.name })} is skipped by fw4 (${sk.reason}); its flows are left alone`;
    }
  }
  // a rule that only moved between sections (renamed, regrouped) changes no flow
  const everBefore = new Set(before.sections.flatMap((s) => s.rules.map(keyBefore)));
  const everAfter = new Set(after.sections.flatMap((s) => s.rules.map(keyAfter)));
  return changes.flatMap((c) => {
    const removed = c.removed.filter((r) => !everAfter.has(keyBefore(r)));
    const added = c.added.filter((r) => !everBefore.has(keyAfter(r)));
    if (!removed.length && !added.length && (c.removed.length || c.added.length) && !c.error) return [];
    return [{ ...c, removed, added }];
  });
}

/** FNV-1a over a string's UTF-16 units, as 8 hex digits. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** A change's identity across runs: its words and a hash of the rules it removes and adds. */
export function changeKey(c: Change): string {
  return `${fnv1a(JSON.stringify([c.kind, c.subject, c.name, c.removed, c.added]))} ${c.text}`;
}
