/**
 * The pipeline natnow acts on: the NAT rules the kernel runs now (`nft -j
 * list ruleset`) against the ones natnow last applied, whatever put them
 * there (fw4, miniupnpd, an nft include, a script). UCI keeps the jobs only
 * it can do: a preview of a pending change (`pending`: the fw4 model of the
 * config against the live rules) and the drift check (what fw4's live rules
 * and the fw4 model of the config disagree on).
 */

import { type Change, diff } from "../diff/diff.ts";
import { buildModel } from "../firewall/model.ts";
import type { NatModel } from "../model/nat.ts";
import { type DeviceGroup, type DeviceFacts, parseKernelView, topology } from "../ruleset/devices.ts";
import { rulesetModel, withoutOrder } from "../ruleset/model.ts";
import { formatNftJson, natSubset, type NftRuleset, parseNftJson, RulesetError } from "../ruleset/nft.ts";
import { liveRules } from "../ruleset/walk.ts";
import { holdUpnp, type UpnpState } from "../ruleset/upnphold.ts";
import { resolveXtables, type XtablesText } from "../ruleset/xtables.ts";
import { InputError, parseConfig, type PlanOutcome, planPolicy, readFacts } from "./input.ts";
import { bootChanges, plan } from "./plan.ts";

/** The kernel's view of devices: `ip -j addr` and `ip -j route` per family. */
export interface KernelViewText {
  addr: string;
  routes: string[];
}

/** The inputs of a live plan, as the tools printed them. */
export interface LiveInput {
  /** `nft -j list ruleset` now. */
  ruleset: string;
  /** The nat part of the ruleset natnow last applied; null on a first run. */
  previous: string | null;
  fw4State: string | null;
  interfaces: string | null;
  kernel: KernelViewText | null;
  policy: Uint8Array | null;
  /** `/etc/config/firewall` (uci export): zone names without fw4.state, the drift check, previews. */
  config: Uint8Array | null;
  /** First run: renew never-replied flows under every current rule. */
  boot: boolean;
  /** Plan the pending UCI change (the fw4 model of `config`) instead of the live one. */
  pending: boolean;
  /** Save outputs for the rules iptables-nft wrote, and iptables-legacy NAT (apply/xtsave.ts); null or absent: none read. */
  xtables?: XtablesText | null;
  /**
   * Why `/etc/config/firewall` does not parse, if so (OpenWrt). fw4 then
   * loads a ruleset without the config's zones and forwards: that is a
   * broken config, not a NAT change, so fw4's table is held at the previous.
   */
  configBroken?: string | null;
  /** Keys of the changes since the baseline that earlier runs acted on (while one is unhandled). */
  acted?: readonly string[];
  /** miniupnpd's lease file and whether it runs (null: no lease file). */
  upnp?: UpnpState | null;
  /** Unix seconds now (when a lease ends). */
  now?: number;
}

/** What a live plan adds to a plan: the ruleset to keep as applied, and the drift. */
export interface LiveExtra {
  /** The nat part of the current ruleset (`nft -j` format), the next run's previous. */
  applied: string;
  /** Where fw4's live rules and the fw4 model of the config differ, in words. */
  drift: string[];
  /** Facts natnow could not read (it went on without them). */
  warnings: string[];
  /** Whether fw4's table was held at the previous ruleset (the config does not parse). */
  held: boolean;
  /** What the run deliberately did not act on (miniupnpd's mappings a fw4 reload flushed), in words. */
  unhandled: string[];
}

/** fw4's table: what a firewall config that does not parse empties. */
const FW4_TABLE = { family: "inet", table: "fw4" };

/** `rs` with fw4's table (chains, rules, sets) as `previous` has it. */
function holdFw4(rs: NftRuleset, previous: NftRuleset): NftRuleset {
  const mine = (o: { family: string; table: string }) => o.family === FW4_TABLE.family && o.table === FW4_TABLE.table;
  return {
    ...rs,
    chains: [...rs.chains.filter((c) => !mine(c)), ...previous.chains.filter(mine)],
    rules: [...rs.rules.filter((r) => !mine(r)), ...previous.rules.filter(mine)],
    sets: [...rs.sets.filter((s) => !mine(s)), ...previous.sets.filter(mine)],
  };
}

/** A live plan, or why the input is invalid. */
export type LiveOutcome = PlanOutcome & { extra?: LiveExtra };

function readModel(text: string, what: string, devices: ReturnType<typeof topology>): NatModel {
  try {
    return rulesetModel(liveRules(parseNftJson(text)), devices);
  } catch (e) {
    if (e instanceof RulesetError) throw new InputError(`${what}: ${e.message.replace(/^ruleset: /, "")}`);
    throw e;
  }
}

/**
 * The ruleset with the xt expressions of iptables-nft's rules read from the
 * save outputs (ruleset/xtables.ts), before natSubset: what natnow keeps as
 * applied is the native form. A table left unread is a warning naming it.
 */
function resolveXt(rs: NftRuleset, xt: XtablesText | null, warnings: string[]): NftRuleset {
  if (xt === null) return rs;
  const r = resolveXtables(rs, xt);
  warnings.push(...r.errors, ...r.warnings);
  return r.ruleset;
}

/** Only the sections fw4 made (its `!fw4:` rules): what the fw4 model can be compared with. */
function fw4Part(m: NatModel): NatModel {
  return { ...m, sections: m.sections.filter((s) => s.kind !== "rule") };
}

/** Plans from the live ruleset. Invalid input: `{ ok: false }`, and no selector. */
export function computeLivePlan(input: LiveInput): LiveOutcome {
  try {
    if (!input.boot && input.previous === null && !input.pending) {
      throw new InputError("nothing to compare: give the previous ruleset, or plan a first run (boot)");
    }
    const facts = readFacts(input);
    const warnings: string[] = [];
    let kernel: DeviceFacts[] = [];
    if (input.kernel) {
      try {
        kernel = parseKernelView(input.kernel.addr, input.kernel.routes);
      } catch (e) {
        if (!(e instanceof RulesetError)) throw e;
        warnings.push(`the kernel's addresses are unknown (${e.message})`);
      }
    }
    const pol = planPolicy(input.policy);
    const cfg = input.config ? parseConfig(input.config, "config", "firewall") : null;
    const uciModel = cfg && cfg.sections.some((s) => s.type === "zone") ? buildModel(cfg, facts) : null;
    if (input.pending && !uciModel) throw new InputError("config: has no 'zone' section; nothing to preview");
    const groups: DeviceGroup[] = (uciModel?.zones ?? []).map((z) => ({ name: z.name, devices: z.devices, upstream: z.upstream }));
    const topo = topology(facts, kernel, groups);
    let rs: NftRuleset;
    let prev: NftRuleset | null = null;
    try {
      rs = natSubset(resolveXt(parseNftJson(input.ruleset), input.xtables ?? null, warnings));
      const compared = input.previous !== null && !input.boot && !input.pending;
      if (compared && (input.configBroken || input.upnp)) prev = natSubset(parseNftJson(input.previous as string));
    } catch (e) {
      if (e instanceof RulesetError) throw new InputError(e.message);
      throw e;
    }
    let held = false;
    const unhandled: string[] = [];
    if (prev !== null && input.configBroken) {
      // the last good fw4 rules stay the baseline until the config is mended
      rs = holdFw4(rs, prev);
      held = true;
      warnings.push(`the firewall config does not parse (${input.configBroken}): fw4's NAT is held at the last good ruleset, nothing it dropped is revoked`);
    }
    if (prev !== null && input.upnp) {
      const u = holdUpnp(rs, prev, input.upnp, input.now ?? 0);
      rs = u.ruleset;
      for (const m of u.held) {
        unhandled.push(`miniupnpd's mapping ${m} is gone from the kernel (fw4's reload flushed it) while miniupnpd still leases it: ` +
          `its flows are kept; miniupnpd adds its mappings again when restarted (/etc/init.d/miniupnpd restart)`);
      }
    }
    const applied = formatNftJson(rs);
    const live = rulesetModel(liveRules(rs), topo);
    // the fw4 model has no order: compare it with the live rules' content alone
    const unordered = uciModel ? withoutOrder(live) : live;
    const drift = uciModel ? diff(fw4Part(unordered), uciModel).map((c) => c.text) : [];
    let before: NatModel;
    let after: NatModel;
    let changes: Change[];
    if (input.pending && uciModel) {
      // the change a reload would make: fw4's part replaced by the model, the rest as it runs
      before = unordered;
      const own = new Set(uciModel.zones.map((z) => z.name));
      after = {
        ...uciModel,
        zones: [...uciModel.zones, ...live.zones.filter((z) => !own.has(z.name))],
        sections: [...uciModel.sections, ...unordered.sections.filter((s) => s.kind === "rule")],
      };
      changes = diff(before, after);
    } else if (input.previous !== null && !input.boot) {
      before = readModel(input.previous, "previous ruleset", topo);
      after = live;
      changes = diff(before, after);
    } else {
      before = { zones: [], networks: [], sections: [], skipped: [], warnings: [] };
      after = live;
      changes = bootChanges(live);
    }
    const p = plan(changes, { before, after }, pol.policy, input.boot && !input.pending, new Set(input.acted ?? []));
    return {
      ok: true,
      result: {
        plan: p, changes, policy: pol.policy, fw4Warnings: uciModel?.warnings ?? [], policyWarnings: pol.warnings, model: after,
      },
      extra: { applied, drift, warnings, held, unhandled },
    };
  } catch (e) {
    if (e instanceof InputError) return { ok: false, error: e.message };
    throw e;
  }
}
