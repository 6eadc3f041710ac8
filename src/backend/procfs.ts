/**
 * The last-resort backend: OpenWrt's writable `/proc/net/nf_conntrack`
 * (target/linux/generic/hack-KVER/600-netfilter_conntrack_flush.patch).
 *
 * The patch's `ct_file_write()` reads one request per write: text with a
 * ':' is parsed as an IPv6 address, text with a '.' as an IPv4 address, and
 * `kill_matching()` then destroys every entry of that family whose original
 * or reply tuple has the address as source or destination. Anything else
 * (the documented `f`) flushes the whole table. So natnow only ever writes
 * one formatted address per write, checks each before it goes out, and uses
 * this backend only for selectors whose flows all share one address that
 * is not the router's own, and only when the policy accepts that other
 * entries of that address go too.
 */

import { choose, type Flow } from "../conntrack/flow.ts";
import { parseTable } from "../conntrack/parse.ts";
import type { Host } from "../host/host.ts";
import { formatIp, type IpBytes, parseIp, parsePrefix } from "../net/ip.ts";
import type { AddrMatch } from "../net/match.ts";
import { describeSelector, type Selector } from "../plan/selector.ts";
import { utf8Decode } from "../base/utf8.ts";
import { type BackendResult, countChange, emptyResult } from "./result.ts";
import { PROCFS_PATH } from "../base/paths.ts";

/** What `kill_matching()` does with one address: whether it destroys this entry. */
function killedBy(addr: IpBytes, f: Flow): boolean {
  const same = (a: IpBytes) => a.length === addr.length && a.every((x, i) => x === addr[i]);
  return same(f.orig.src) || same(f.orig.dst) || same(f.reply.src) || same(f.reply.dst);
}

/** A write the patch reads as one address and never as a flush; null when it is not one. */
export function addressWrite(addr: string): string | null {
  const a = parseIp(addr);
  if (!a) return null;
  const text = formatIp(a);
  if (text.indexOf(text.indexOf(":") >= 0 ? ":" : ".") < 0 || text.length > 45) return null;
  return `${text}\n`;
}

/** The selector's single address, or why it has none. */
export interface Reduction {
  selector: Selector;
  address: string | null;
  why: string | null;
}

function singleHost(m: AddrMatch, router: ReadonlySet<string>): string | null {
  if (m.pos.length !== 1) return null;
  const p = parsePrefix(m.pos[0]);
  if (!p || p.bits !== p.addr.length * 8) return null;
  const a = formatIp(p.addr);
  return router.has(a) ? null : a;
}

/**
 * Reduces each selector to one address that every flow it selects has:
 * the old target of a forward (reply source), else a single host on the
 * original side. The router's own addresses are refused: every NATed flow
 * has one.
 */
export function reduce(selectors: readonly Selector[], routerAddresses: readonly string[]): Reduction[] {
  const router = new Set(routerAddresses.map((p) => {
    const x = parsePrefix(p);
    return x ? formatIp(x.addr) : p;
  }));
  return selectors.map((s) => {
    for (const m of [s.replySrc, s.origSrc, s.origDst, s.replyDst]) {
      const a = singleHost(m, router);
      if (a !== null) return { selector: s, address: a, why: null };
    }
    return { selector: s, address: null, why: `not one address: ${s.action} ${describeSelector(s)}` };
  });
}

/** How the procfs backend runs. */
export interface ProcfsOptions {
  /** The policy's `procfs_collateral`: other entries of the address may go. */
  collateral: boolean;
  /** The router's own addresses (never written). */
  routerAddresses: readonly string[];
  dryRun?: boolean;
  /** The file (tests point it elsewhere). */
  path?: string;
}

/** Runs the selectors through the patched `/proc/net/nf_conntrack`. */
export function applyProcfs(host: Host, selectors: readonly Selector[], opts: ProcfsOptions): BackendResult {
  const result = emptyResult("procfs");
  if (!selectors.length) return result;
  const path = opts.path ?? PROCFS_PATH;
  if (!opts.collateral) {
    result.errors.push(
      "the procfs backend deletes every entry of an address; set procfs_collateral '1' in /etc/config/natnow to allow it",
    );
    return result;
  }
  const text = host.readFile(path);
  if (text === null) {
    result.errors.push(`cannot read ${path}: is conntrack running?`);
    return result;
  }
  const flows = parseTable(utf8Decode(text)).flows;
  const writes: string[] = [];
  const addrs: IpBytes[] = [];
  const usable: Selector[] = [];
  for (const r of reduce(selectors, opts.routerAddresses)) {
    if (r.address === null) {
      result.errors.push(`procfs backend skips a selector, ${r.why}`);
      continue;
    }
    const w = addressWrite(r.address);
    if (w === null) throw new Error(`internal: '${r.address}' is not a safe procfs write`);
    if (writes.indexOf(w) < 0) {
      writes.push(w);
      addrs.push(parseIp(r.address) as IpBytes);
    }
    usable.push(r.selector);
  }
  // each flow counts once, for the first selector in plan order that takes it
  const chosen = choose(flows, usable);
  for (const s of usable) {
    for (const c of chosen) {
      if (c.selector !== s) continue;
      const what = s.action === "renew" ? "renewed" : "revoked";
      result[what]++;
      countChange(result, s.reason, what);
    }
  }
  const taken = new Set(chosen.map((c) => c.flow));
  result.matched = taken.size;
  result.collateral = flows.filter((f) => !taken.has(f) && addrs.some((a) => killedBy(a, f))).length;
  if (opts.dryRun || !writes.length) {
    if (opts.dryRun) {
      result.renewed = result.revoked = 0;
      result.byChange = [];
    }
    return result;
  }
  const err = host.writeControl(path, writes);
  if (err !== null) {
    result.errors.push(`writing ${path} failed: ${err}`);
    result.failed = result.matched;
    result.renewed = result.revoked = 0;
    result.byChange = [];
  }
  return result;
}
