/**
 * `natnow daemon`, run by procd: listens with `ubus listen` (a line stream
 * read as it comes, never a blocking read), debounces bursts, and for each
 * burst takes a snapshot of the router (`uci -q export firewall`, so
 * uncommitted changes count as fw4 sees them; /var/run/fw4.state; `ubus call
 * network.interface dump`), plans against the config it last applied and
 * applies. Its first run after boot (no applied config under /var/run yet)
 * renews never-replied flows under every NAT rule. One syslog line per run.
 */

import type { Host } from "../host/host.ts";
import { utf8Decode, utf8Encode } from "../uci/bytes.ts";
import { Debouncer, describeEvent, EVENT_TYPES, parseListenLine } from "./events.ts";
import { appliedConfig, type RunOutcome, runOnce } from "./run.ts";
import { parsePolicy } from "../plan/policy.ts";
import { parseUci } from "../uci/parse.ts";

/** Where the daemon reads and writes. */
export interface DaemonOptions {
  stateDir: string;
  policyPath: string;
  fw4StatePath: string;
  /** Seconds of quiet before a run; null: the policy's `debounce`. */
  debounce: number | null;
}

/** The run's syslog line: trigger, changes, flows, backend, duration, errors. */
export function logLine(trigger: string, o: RunOutcome): string {
  const r = o.run;
  const counts = r.result ? `renewed ${r.result.renewed}, revoked ${r.result.revoked}` +
      (r.result.armed ? `, armed ${r.result.armed}` : "") : "nothing reset";
  const errors = [...r.errors, ...o.stateErrors];
  return `${trigger}: ${r.changes.length} change(s)${r.changes.length ? ` (${r.changes.join("; ")})` : ""}, ${counts}, ` +
    `backend ${r.backend ?? "none"}, ${r.durationMs} ms` + (errors.length ? `, errors: ${errors.join("; ")}` : "");
}

/**
 * The switch, the include section 'natnow' of the firewall config: true
 * (on), false (`enabled '0'`), or null (no such section, or a config that
 * does not parse: the run reports that).
 */
export function switchState(config: Uint8Array): boolean | null {
  try {
    const s = parseUci(config, "firewall").sections.find((x) => x.name === "natnow" && x.type === "include");
    if (!s) return null;
    const e = s.options.find((o) => o.name === "enabled");
    return !(e !== undefined && typeof e.value === "string" && ["0", "no", "off", "false", "disabled"].indexOf(e.value) >= 0);
  } catch {
    return null;
  }
}

/** Takes the router's snapshot and runs once (a dry run changes nothing and records nothing). */
export function runFromSnapshot(host: Host, opts: DaemonOptions, trigger: string, dryRun = false): RunOutcome | null {
  const uci = host.exec(["uci", "-q", "export", "firewall"]);
  if (uci.status === 0 && switchState(utf8Encode(uci.stdout)) === false) return null;
  const dump = host.exec(["ubus", "call", "network.interface", "dump"]);
  const fw4 = host.readFile(opts.fw4StatePath);
  // what natnow applied last is the previous config; none yet (an empty /var/run) is a boot
  const previous = appliedConfig(host, opts.stateDir);
  const boot = previous === null;
  const o = runOnce(host, {
    input: {
      config: utf8Encode(uci.status === 0 ? uci.stdout : ""),
      previous,
      fw4State: fw4 === null ? null : utf8Decode(fw4),
      interfaces: dump.status === 0 ? dump.stdout : null,
      policy: host.readFile(opts.policyPath),
      boot,
    },
    inputError: uci.status === 0 ? undefined : `uci export firewall failed (status ${uci.status}): ${uci.stderr.trim()}`,
    dryRun,
    trigger: boot ? `${trigger} (boot)` : trigger,
    stateDir: opts.stateDir,
  });
  return o;
}

/** The debounce the policy asks for, in seconds. */
function policyDebounce(host: Host, path: string): number {
  const b = host.readFile(path);
  try {
    return parsePolicy(b === null ? null : parseUci(b, "natnow")).policy.debounce;
  } catch {
    return parsePolicy(null).policy.debounce;
  }
}

/** Runs the daemon until the process is stopped. */
export function startDaemon(host: Host, opts: DaemonOptions): void {
  host.makeDirs(opts.stateDir);
  host.writeFileAtomic(`${opts.stateDir}/daemon.pid`, utf8Encode(`${host.pid()}\n`));
  const debounceS = opts.debounce ?? policyDebounce(host, opts.policyPath);
  const fire = (triggers: string[]) => {
    const trigger = triggers.join(", ");
    try {
      const o = runFromSnapshot(host, opts, trigger);
      if (o) host.log(logLine(trigger, o));
    } catch (e) {
      // never die on one run: procd would respawn, but the events of the burst would be lost
      host.log(`${trigger}: internal error: ${(e as Error).message}`);
    }
  };
  const debouncer = new Debouncer(host, debounceS * 1000, Math.max(10_000, debounceS * 5000), fire);
  const listen = () => {
    host.spawnLines(["ubus", "listen", ...EVENT_TYPES], (line) => {
      const e = parseListenLine(line);
      if (e) debouncer.poke(describeEvent(e));
    }, (status) => {
      // ubusd restarted or ubus is missing: listen again in a moment
      host.log(`ubus listen ended (status ${status}); listening again in 2 s`);
      host.setTimeout(listen, 2000);
    });
  };
  listen();
  debouncer.poke("start");
}
