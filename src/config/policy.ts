/** natnow's policy, from `/etc/config/natnow` (section `natnow 'main'`). */

import { binaryToText } from "../uci/bytes.ts";
import { parseUci } from "../uci/parse.ts";
import { type UciPackage, UciParseError } from "../uci/types.ts";
import { parseBool } from "../firewall/values.ts";
import { protoNumber } from "../net/proto.ts";

/** Which reset mechanism to use. */
export type BackendChoice = "auto" | "kmod" | "conntrack" | "procfs";

/** What natnow does with the flows a change concerns. */
export interface Policy {
  /** Renew never-replied flows under added or changed rules. */
  renew: boolean;
  /** Revoke flows translated by removed or changed rules. */
  revoke: boolean;
  /** Also reset established (replied) flows under added rules. */
  established: boolean;
  /**
   * An added or changed rule natnow cannot bound: renew every never-replied
   * flow its readable part allows (renewing costs such a flow nothing).
   */
  fallback: boolean;
  /** Redirect and nat section names natnow leaves alone. */
  exclude: string[];
  /** Seconds to wait for a burst of reloads to settle. */
  debounce: number;
  backend: BackendChoice;
  /** Seconds a kernel-module arm lasts; 0 = the longest unreplied timeout. */
  kmodTtl: number;
  /** Allow the procfs backend to delete by address (may hit other flows of that address). */
  procfsCollateral: boolean;
  /** Follow mwan3: move the flows an interface change leaves on a path its rules would not choose now. */
  failover: boolean;
  /** The protocols whose flows move back to a preferred mwan3 member at once (null: all, []: none). */
  failback: number[] | null;
  /** `failback` per mwan3 policy name (`list failback_policy 'voip=all'`). */
  failbackPolicies: Record<string, number[] | null>;
  /** Seconds a preferred member must have been online before flows move back to it. */
  failbackDelay: number;
}

/** The defaults, used for anything not set or not valid. */
export const DEFAULT_POLICY: Policy = {
  renew: true,
  revoke: true,
  established: false,
  fallback: true,
  exclude: [],
  debounce: 2,
  backend: "auto",
  kmodTtl: 0,
  procfsCollateral: false,
  failover: true,
  failback: [17],
  failbackPolicies: {},
  failbackDelay: 0,
};

/** A failback protocol list (`udp`, `udp icmp`, `all`, `none`), or null when a word is no protocol. */
export function parseFailback(text: string): { protocols: number[] | null } | null {
  const words = text.trim().split(/[ \t,]+/).filter(Boolean);
  if (words.length === 1 && words[0] === "all") return { protocols: null };
  if (words.length === 1 && words[0] === "none") return { protocols: [] };
  const nums = words.map(protoNumber);
  return nums.length && nums.every((n) => n !== null) ? { protocols: nums } : null;
}

/** A policy and the problems found reading it. */
export interface PolicyResult {
  policy: Policy;
  warnings: string[];
}

/**
 * Reads the policy from a parsed `natnow` package. A bad value is reported
 * and replaced by its default: it never makes a plan wider.
 */
function parsePolicy(pkg: UciPackage | null): PolicyResult {
  const policy: Policy = { ...DEFAULT_POLICY, exclude: [], failbackPolicies: {} };
  const warnings: string[] = [];
  const s = pkg?.sections.find((x) => x.type === "natnow" && x.name === "main") ??
    pkg?.sections.find((x) => x.type === "natnow");
  if (!s) return { policy, warnings };
  for (const o of s.options) {
    const v = typeof o.value === "string" ? binaryToText(o.value) : o.value.map(binaryToText);
    const bad = (why: string) =>
      warnings.push(`natnow.${s.anonymous ? "@natnow[0]" : s.name}.${o.name}: ${why}, using the default`);
    const one = (): string | null => {
      if (typeof v === "string") return v;
      bad("must not be a list");
      return null;
    };
    const boolOpt = (key: "renew" | "revoke" | "established" | "fallback" | "procfsCollateral" | "failover") => {
      const x = one();
      if (x === null) return;
      const b = parseBool(x);
      if (b === null) bad(`'${x}' is not a boolean`);
      else policy[key] = b;
    };
    switch (o.name) {
      case "renew":
      case "revoke":
      case "established":
      case "fallback":
        boolOpt(o.name);
        break;
      case "procfs_collateral":
        boolOpt("procfsCollateral");
        break;
      case "failover":
        boolOpt("failover");
        break;
      case "failback": {
        const x = one();
        const p = x === null ? null : parseFailback(x);
        if (p) policy.failback = p.protocols;
        else if (x !== null) bad(`'${x}' is not 'all', 'none' or protocol names`);
        break;
      }
      case "failback_policy":
        for (const item of typeof v === "string" ? [v] : v) {
          const m = /^([A-Za-z0-9_]+)=(.+)$/.exec(item.trim());
          const p = m ? parseFailback(m[2]) : null;
          if (m && p) policy.failbackPolicies[m[1]] = p.protocols;
          else warnings.push(`natnow.${s.name}.failback_policy: '${item}' is not POLICY=PROTOCOLS, ignored`);
        }
        break;
      case "failback_delay": {
        const x = one();
        if (x === null) break;
        if (/^[0-9]+$/.test(x) && Number(x) <= 3600) policy.failbackDelay = Number(x);
        else bad(`'${x}' is not a number of seconds from 0 to 3600`);
        break;
      }
      case "exclude":
        policy.exclude = typeof v === "string" ? v.trim().split(/[ \t]+/).filter(Boolean) : v;
        break;
      case "debounce": {
        const x = one();
        if (x === null) break;
        if (/^[0-9]+(\.[0-9]+)?$/.test(x) && Number(x) <= 60) policy.debounce = Number(x);
        else bad(`'${x}' is not a number of seconds from 0 to 60`);
        break;
      }
      case "kmod_ttl": {
        const x = one();
        if (x === null) break;
        if (/^[0-9]+$/.test(x) && Number(x) <= 86400 * 5) policy.kmodTtl = Number(x);
        else bad(`'${x}' is not a number of seconds from 0 to 432000`);
        break;
      }
      case "backend": {
        const x = one();
        if (x === null) break;
        if (x === "auto" || x === "kmod" || x === "conntrack" || x === "procfs") policy.backend = x;
        else bad(`'${x}' is not one of auto, kmod, conntrack, procfs`);
        break;
      }
      default:
        warnings.push(`natnow.${s.name}: unknown option '${o.name}' ignored`);
    }
  }
  return { policy, warnings };
}

/** A policy read from the file's bytes; `error` when the file does not parse (the policy is then the defaults). */
export interface PolicyRead extends PolicyResult {
  error: string | null;
}

/**
 * Reads the policy file's bytes (null: no file). Each caller decides what a
 * file that does not parse means: the planner refuses to plan, the daemon
 * and `status` use the defaults and say so.
 */
export function readPolicy(bytes: Uint8Array | null): PolicyRead {
  let pkg: UciPackage | null = null;
  try {
    pkg = bytes === null ? null : parseUci(bytes, "natnow");
  } catch (e) {
    if (!(e instanceof UciParseError)) throw e;
    return { ...parsePolicy(null), error: e.message };
  }
  return { ...parsePolicy(pkg), error: null };
}
