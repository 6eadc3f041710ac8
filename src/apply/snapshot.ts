/**
 * The router as a run sees it: the ruleset the kernel runs (`nft -j -t list
 * ruleset`, with the elements of only the sets NAT reads: ruleset/refs.ts),
 * the devices' addresses (fw4.state, `ubus call
 * network.interface dump`, `ip -j addr`/`route`), the policy, and the UCI
 * firewall config (`uci export firewall`: the switch, zone names, the
 * drift check). A tool that is missing or fails is said, with its reason:
 * uci runs without -q, because libuci's cli_perror() prints nothing under
 * -q, and a parse error's message is the only reason there is.
 */

import type { ExecResult, Host } from "../host/host.ts";
import type { LiveInput } from "../plan/live.ts";
import { parseBool } from "../firewall/values.ts";
import { parseUci } from "../uci/parse.ts";
import { utf8Decode, utf8Encode } from "../base/utf8.ts";
import type { UpnpState } from "../ruleset/upnphold.ts";
import { INCLUDE_PATH } from "../base/paths.ts";
import type { Json } from "../ruleset/nft.ts";
import type { XtablesText } from "../ruleset/xtables.ts";
import { readXtables } from "./xtsave.ts";
import { listingItems, mergeElements, type NatRefs, natReferences, parseSetListing, setKey, setListArgv, setsToRead } from "../ruleset/refs.ts";

/** Where a snapshot reads from (files given on the command line win over the router's own). */
export interface SnapshotSources {
  /** A file with `nft -j list ruleset` output, instead of running nft. */
  rulesetFile?: string | null;
  fw4StatePath: string;
  /** A file with the interface dump, instead of `ubus call network.interface dump`. */
  interfacesFile?: string | null;
  policyPath: string;
  /** A file with the firewall config, instead of `uci export firewall`. */
  configFile?: string | null;
  /** Read the router's own tools (ubus, uci) when no file is given (on OpenWrt only: detectPlatform). */
  router: boolean;
}

/** A snapshot: the live plan's inputs, or why they cannot be had. */
export interface Snapshot {
  input: Omit<LiveInput, "previous" | "boot" | "pending">;
  /** Why the ruleset could not be read (nothing is planned then). */
  error: string | null;
  /** Whether the ruleset is the kernel's own (read with nft now), not a file. */
  live: boolean;
  /** The switch (`firewall.natnow.enabled`): true, false, or null when the config does not say. */
  switchOn: boolean | null;
  /** Why the switch is unknown. */
  switchWhy: string;
  /** What could not be read, with the tool's own reason (the run goes on without it). */
  warnings: string[];
  /** The chains and sets the nat paths of the live ruleset reach (null: read from a file, or unread). */
  nat?: NatRefs | null;
  /** The system the snapshot was taken on (only a router snapshot asks; OpenWrt otherwise). */
  platform?: Platform;
}

/** What a failed command said: its status and its first line of output. */
export function failure(argv: string[], r: { status: number; stdout: string; stderr: string }): string {
  if (r.status === 127) return `${argv[0]} is not installed`;
  const said = (r.stderr.trim() || r.stdout.trim()).split("\n")[0];
  return `${argv.join(" ")} failed (status ${r.status})${said ? `: ${said}` : ""}`;
}

/**
 * The switch, natnow's include section of the firewall config: the one
 * named 'natnow', else one whose `path` is natnow's include (LuCI adds
 * anonymous sections). true (on: fw4 runs the include), false (`enabled`
 * is false, or a word fw4's parse_bool does not know), or null with why.
 */
export function switchState(config: Uint8Array): { on: boolean | null; why: string; parses: boolean } {
  let pkg;
  try {
    pkg = parseUci(config, "firewall");
  } catch (e) {
    return { on: null, why: `the firewall config does not parse: ${(e as Error).message}`, parses: false };
  }
  const value = (s: (typeof pkg.sections)[number], name: string) => {
    const o = s.options.find((x) => x.name === name);
    return o !== undefined && typeof o.value === "string" ? o.value : null;
  };
  const includes = pkg.sections.filter((x) => x.type === "include");
  const s = includes.find((x) => x.name === "natnow") ?? includes.find((x) => value(x, "path") === INCLUDE_PATH);
  if (!s) return { on: null, why: `no include section 'natnow' (path ${INCLUDE_PATH}) in /etc/config/firewall`, parses: true };
  // fw4.uc parse_include: `enabled` is a bool defaulting to 1; a value
  // parse_bool does not know ('enabled', 'On') makes fw4 ignore the
  // section, so natnow's include never runs: off
  return { on: parseBool(value(s, "enabled") ?? "1") === true, why: "", parses: true };
}

/** Which system natnow runs on: OpenWrt (fw4, uci, ubus, netifd), or plain Linux. */
export type Platform = "openwrt" | "linux";

/** OpenWrt when /etc/openwrt_release exists or uci is installed; plain Linux otherwise. */
export function detectPlatform(host: Pick<Host, "exists" | "findProgram">): Platform {
  return host.exists("/etc/openwrt_release") || host.findProgram("uci") !== null ? "openwrt" : "linux";
}

/** Why plain Linux has no switch: natnow acts whenever it runs. */
export const PLAIN_LINUX_SWITCH = "plain Linux: no fw4 include to switch; natnow acts whenever it runs";

/**
 * The switch as `status` tells it: on OpenWrt the firewall config's include
 * section (null with why when unknown); on plain Linux there is none, and
 * natnow is on (no uci to ask, nothing to warn about).
 */
export function readSwitch(host: Host): { on: boolean | null; why: string; platform: Platform } {
  if (detectPlatform(host) === "linux") return { on: true, why: PLAIN_LINUX_SWITCH, platform: "linux" };
  const fw = exportFirewall(host);
  const sw = fw.config !== null ? switchState(fw.config) : { on: null, why: `cannot read the firewall config: ${fw.error}` };
  return { on: sw.on, why: sw.why, platform: "openwrt" };
}

/** libuci's CLI asked for the firewall config (without -q: see the module comment). */
const UCI_EXPORT = ["uci", "export", "firewall"];

/** The firewall config from what `uci export firewall` answered, or why it cannot be had. */
function firewallConfig(r: ExecResult): { config: Uint8Array | null; error: string } {
  return r.status === 0 ? { config: utf8Encode(r.stdout), error: "" } : { config: null, error: failure(UCI_EXPORT, r) };
}

/** The firewall config through libuci's CLI (`uci export firewall`), or why it cannot be had. */
function exportFirewall(host: Host): { config: Uint8Array | null; error: string } {
  return firewallConfig(host.exec(UCI_EXPORT));
}

/** The terse listing: every object of the ruleset, no named set's elements (those are read by setsToRead). */
const NFT_TERSE = ["nft", "-j", "-t", "list", "ruleset"];

/**
 * The live ruleset as a full listing prints what NAT reads: the terse
 * listing, with the elements of the sets the nat paths reach (and natnow's
 * hold sets) read one set at a time and merged in. A verdict map's
 * elements can reach more chains, and so more sets: read until none is left.
 */
export function readLiveRuleset(host: Host, terse: string): { ruleset: string; nat: NatRefs } | { error: string } {
  let items: Json[];
  try {
    items = listingItems(terse, NFT_TERSE.join(" "));
  } catch (e) {
    return { error: (e as Error).message };
  }
  const elements = new Map<string, Json[]>();
  for (let refs = setsToRead(items, elements); refs.length; refs = setsToRead(items, elements)) {
    const results = host.execAll(refs.map(setListArgv));
    for (const [i, ref] of refs.entries()) {
      const r = results[i];
      if (r.status !== 0) return { error: `cannot read ${ref.kind} ${setKey(ref)}: ${failure(setListArgv(ref), r)}` };
      try {
        elements.set(setKey(ref), parseSetListing(r.stdout, ref));
      } catch (e) {
        return { error: (e as Error).message };
      }
    }
  }
  return { ruleset: mergeElements(items, elements), nat: natReferences(items, elements) };
}

/** miniupnpd's config as OpenWrt's init writes it, and the lease file its upnpd config names by default. */
const UPNP_CONF = "/var/etc/miniupnpd.conf";
const UPNP_LEASES = "/var/run/miniupnpd.leases";

/** miniupnpd's lease file (`lease_file=` of its config) and whether it runs; null without a lease file. */
function readUpnp(host: Host): UpnpState | null {
  const conf = host.readFile(UPNP_CONF);
  const named = conf === null ? null : /^lease_file=(.+)$/m.exec(utf8Decode(conf));
  const leases = host.readFile(named ? named[1].trim() : UPNP_LEASES);
  if (leases === null) return null;
  const r = host.exec(["pidof", "miniupnpd"]);
  return { leases: utf8Decode(leases), running: r.status === 0 && r.stdout.trim() !== "" };
}

/** Takes the snapshot. */
export function takeSnapshot(host: Host, src: SnapshotSources): Snapshot {
  const file = (p: string | null | undefined) => (p ? host.readFile(p) : null);
  const text = (b: Uint8Array | null) => (b === null ? null : utf8Decode(b));
  let error: string | null = null;
  const warnings: string[] = [];
  // plain Linux has no uci, ubus or fw4: nothing of theirs is read, or missed
  const platform = src.router ? detectPlatform(host) : "openwrt";
  const router = src.router && platform === "openwrt";

  // the tools' reads are independent: run side by side
  const NFT = NFT_TERSE;
  const UBUS = ["ubus", "call", "network.interface", "dump"];
  // every table: a default route of wg-quick or pbr counts (devices.ts parseKernelView)
  const IP = [["ip", "-j", "addr"], ["ip", "-j", "-4", "route", "show", "table", "all"], ["ip", "-j", "-6", "route", "show", "table", "all"]];
  const argvs = [...IP];
  if (!src.rulesetFile) argvs.push(NFT);
  if (!src.interfacesFile && router) argvs.push(UBUS);
  if (!src.configFile && router) argvs.push(UCI_EXPORT);
  const results = host.execAll(argvs);
  const result = (argv: string[]) => results[argvs.indexOf(argv)];

  let ruleset = "";
  let nat: NatRefs | null = null;
  if (src.rulesetFile) {
    const b = file(src.rulesetFile);
    if (b === null) error = `cannot read the ruleset file '${src.rulesetFile}'`;
    else ruleset = utf8Decode(b);
  } else {
    const r = result(NFT);
    const live = r.status === 0 ? readLiveRuleset(host, r.stdout) : { error: failure(NFT, r) };
    if ("error" in live) error = `cannot read the live ruleset: ${live.error}`;
    else ({ ruleset, nat } = live);
  }
  // rules iptables-nft wrote (nft shows their xt without parameters) and iptables-legacy NAT
  let xtables: XtablesText | null = null;
  if (!src.rulesetFile && error === null) {
    const xt = readXtables(host, ruleset);
    xtables = xt.xtables;
    warnings.push(...xt.warnings);
  }

  // miniupnpd's leases where its chain is in fw4's table: a fw4 reload flushes its mappings (ruleset/upnphold.ts)
  const upnp = ruleset.indexOf('"upnp_prerouting"') >= 0 ? readUpnp(host) : null;

  let interfaces: string | null = null;
  if (src.interfacesFile) interfaces = text(file(src.interfacesFile));
  else if (router) {
    const r = result(UBUS);
    if (r.status === 0) interfaces = r.stdout;
    else if (r.status !== 127) warnings.push(`cannot read the interfaces: ${failure(UBUS, r)}`);
  }

  const [addr, r4, r6] = IP.map(result);
  const kernel = addr.status === 0 && r4.status === 0 && r6.status === 0
    ? { addr: addr.stdout, routes: [r4.stdout, r6.stdout] }
    : null;
  // ip is optional on OpenWrt (netifd's facts come first); one that fails is said
  if (kernel === null && addr.status !== 127) {
    const bad = IP.find((a) => result(a).status !== 0) as string[];
    warnings.push(`cannot read the kernel's addresses and routes: ${failure(bad, result(bad))}`);
  }

  let config: Uint8Array | null = null;
  let switchOn: boolean | null = null;
  let switchWhy = "no firewall config was read";
  // why the firewall config cannot be read although libuci is there: fw4 then
  // loads no zones, and the plan holds fw4's table (live.ts configBroken)
  let configBroken: string | null = null;
  if (src.configFile) config = file(src.configFile);
  else if (router) {
    const r = result(UCI_EXPORT);
    const x = firewallConfig(r);
    config = x.config;
    if (config === null) switchWhy = `cannot read the firewall config: ${x.error}`;
    if (config === null && r.status !== 127) configBroken = x.error;
  }
  if (config !== null) {
    const s = switchState(config);
    switchOn = s.on;
    switchWhy = s.why;
    // a config that does not parse loses the drift check and zone names, and holds fw4's table
    if (!s.parses) {
      config = null;
      configBroken = s.why;
    }
  }
  if (platform === "linux" && !src.configFile) {
    switchOn = true;
    switchWhy = PLAIN_LINUX_SWITCH;
  }
  if (switchOn === null && (src.configFile || router)) warnings.push(`switch unknown: ${switchWhy}`);
  return {
    input: {
      ruleset,
      fw4State: text(file(src.fw4StatePath)),
      interfaces,
      kernel,
      policy: file(src.policyPath),
      config,
      configBroken,
      xtables,
      upnp,
    },
    error,
    live: !src.rulesetFile,
    switchOn,
    switchWhy,
    warnings,
    nat,
    platform,
  };
}
