/**
 * What a snapshot reads besides nft for rules written through iptables:
 * `iptables-nft-save -t nat` / `ip6tables-nft-save -t nat` when the live
 * ruleset has `xt` expressions in a family (nft prints them without their
 * parameters: ruleset/xtables.ts), and the iptables-legacy nat tables when
 * the kernel has one (`/proc/net/ip_tables_names` lists nat; nft never
 * shows them). Nothing is run otherwise, and nothing is created: the save
 * tools only read. A tool that is missing or fails is a warning.
 */

import type { Host } from "../host/host.ts";
import { utf8Decode } from "../base/utf8.ts";
import { isObject, parseNftJson, RulesetError } from "../ruleset/nft.ts";
import type { XtablesText } from "../ruleset/xtables.ts";
import { failure } from "./snapshot.ts";

/** The families whose rules have `xt` expressions, by the ruleset's text. */
function xtFamilies(ruleset: string): ("ip" | "ip6")[] {
  if (!ruleset.includes('"xt"')) return [];
  let rs;
  try {
    rs = parseNftJson(ruleset);
  } catch (e) {
    // the run reports a ruleset that does not parse itself
    if (e instanceof RulesetError) return [];
    throw e;
  }
  const fams = new Set(rs.rules.filter((r) => r.expr.some((x) => isObject(x) && "xt" in x)).map((r) => r.family));
  return (["ip", "ip6"] as const).filter((f) => fams.has(f));
}

/** Whether the kernel has an iptables-legacy table named nat (`/proc/net/ip{,6}_tables_names`). */
function legacyNat(host: Host, family: "ip" | "ip6"): boolean {
  const names = host.readFile(`/proc/net/${family}_tables_names`);
  return names !== null && utf8Decode(names).split("\n").indexOf("nat") >= 0;
}

/**
 * Reads the save outputs a resolution of the live ruleset needs: null when
 * nothing needs reading. Each tool that cannot be read is a warning, and its
 * text is null (the resolution then says which table stays unread).
 */
export function readXtables(host: Host, ruleset: string): { xtables: XtablesText | null; warnings: string[] } {
  const fams = xtFamilies(ruleset);
  const legacy = (["ip", "ip6"] as const).filter((f) => legacyNat(host, f));
  if (!fams.length && !legacy.length) return { xtables: null, warnings: [] };
  const nftSave = (f: "ip" | "ip6") => [f === "ip" ? "iptables-nft-save" : "ip6tables-nft-save", "-t", "nat"];
  const legacySave = (f: "ip" | "ip6") => [f === "ip" ? "iptables-legacy-save" : "ip6tables-legacy-save", "-t", "nat"];
  const argvs = [...fams.map(nftSave), ...legacy.map(legacySave)];
  const results = host.execAll(argvs);
  const warnings: string[] = [];
  const text = (argv: string[], why: string): string | null => {
    const r = results[argvs.indexOf(argv)];
    if (r.status === 0) return r.stdout;
    warnings.push(`${why}: ${failure(argv, r)}`);
    return null;
  };
  const out: XtablesText = { ip: null, ip6: null, legacy: null };
  fams.forEach((f, i) => {
    out[f] = text(argvs[i], `cannot read the parameters of the ${f} rules iptables-nft wrote`);
  });
  const legacyTexts = legacy.map((f, i) => text(argvs[fams.length + i],
    `the kernel has an iptables-legacy ${f} nat table, invisible to nft, and natnow cannot read it`));
  if (legacyTexts.some((t) => t !== null)) out.legacy = legacyTexts.filter((t) => t !== null).join("");
  return { xtables: out, warnings };
}
