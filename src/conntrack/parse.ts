/**
 * Parses `conntrack -L -f FAMILY -o extended,id` (conntrack-tools 1.4.x)
 * into flows. The text output is chosen over `-o xml` because it carries
 * everything natnow matches on, is stable across 1.4.x, and parses in a few
 * lines without an XML parser in QuickJS. It does not print the NAT status
 * bits; they are what the kernel sets when a tuple was translated, so they
 * are inferred the same way: DNAT when the reply source differs from the
 * original destination, SNAT when the reply destination differs from the
 * original source.
 *
 *   ipv4 2 udp 17 29 src=A dst=B sport=1 dport=2 [UNREPLIED] src=B dst=A
 *   sport=2 dport=1 mark=0 zone=7 delta-time=0 use=1 id=123
 *
 * An entry a flowtable has offloaded (fw4's flow_offloading) is dumped by
 * ctnetlink without its timeout and protocol state, and printed with
 * `[OFFLOAD]` (`[HW_OFFLOAD]` once the hardware holds it) where `[ASSURED]`
 * would be:
 *
 *   ipv4 2 udp 17 src=A dst=B sport=1 dport=2 [UNREPLIED] src=B dst=C
 *   sport=2 dport=9 [OFFLOAD] mark=0 use=2 id=124
 *
 * A line without a timeout is read only when it says it is offloaded. A
 * flow offloaded before its first answer stays `[UNREPLIED]` however many
 * answers the fast path forwards; with conntrack accounting on (OpenWrt
 * turns it on) fw4's flowtable counts them in the reply tuple's `packets=`,
 * so a flow with reply packets counts as replied.
 */

import { parseIp } from "../net/ip.ts";
import type { Flow, Tuple } from "./flow.ts";

/** A line conntrack printed that natnow could not read. */
export interface ParseProblem {
  line: number;
  text: string;
  reason: string;
}

/** Flows and the lines that could not be read. */
export interface ParsedTable {
  flows: Flow[];
  problems: ParseProblem[];
}

/** The tuple keys that hold ports. */
type PortKey = "sport" | "dport";
const TUPLE_KEYS = new Set(["src", "dst", "sport", "dport", "type", "code", "id", "packets", "bytes"]);

function tuple(kv: Map<string, string>, what: string): Tuple {
  const src = parseIp(kv.get("src") ?? "");
  const dst = parseIp(kv.get("dst") ?? "");
  if (!src || !dst) throw new Error(`${what} tuple has no valid src/dst`);
  const port = (k: PortKey) => {
    const v = kv.get(k);
    if (v === undefined) return null;
    if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) throw new Error(`${what} ${k} '${v}' is not a port`);
    return Number(v);
  };
  return { src, dst, sport: port("sport"), dport: port("dport") };
}

/** The status words that say a flowtable has the entry, and where. */
const OFFLOAD_FLAGS: Readonly<Record<string, "software" | "hardware">> = { OFFLOAD: "software", HW_OFFLOAD: "hardware" };

/** The entry's conntrack mark (`mark=`, decimal as conntrack-tools prints it), when the listing has one. */
function markOf(v: string | undefined): { mark?: number } {
  return v !== undefined && /^[0-9]{1,10}$/.test(v) && Number(v) <= 0xffffffff ? { mark: Number(v) } : {};
}

/** Parses one line; throws with a reason when it is not a conntrack entry. */
export function parseLine(text: string): Flow {
  const words = text.trim().split(/\s+/);
  const [l3, l3num, , l4num, timeout] = words;
  if (l3 !== "ipv4" && l3 !== "ipv6") throw new Error("no ipv4/ipv6 family");
  if (l3num !== (l3 === "ipv4" ? "2" : "10")) throw new Error(`family number '${l3num}' does not match ${l3}`);
  if (!/^[0-9]{1,3}$/.test(l4num ?? "")) throw new Error("no protocol number");
  // an offloaded entry has no timeout: its tuples follow the protocol number
  const timed = /^[0-9]+$/.test(timeout ?? "");
  // the rest: [STATE] orig-tuple [UNREPLIED] reply-tuple [ASSURED] fields...
  // A tuple lasts until a key repeats or a non-tuple key comes: so ICMP's
  // "id=" stays in its tuple and the entry's own "id=" (last) does not.
  const dirs: Map<string, string>[] = [new Map<string, string>(), new Map<string, string>()];
  const rest = new Map<string, string>();
  const flags = new Set<string>();
  let dir = -1;
  let open = false;
  for (const w of words.slice(timed ? 5 : 4)) {
    if (/^\[[A-Z_]+\]$/.test(w)) {
      flags.add(w.slice(1, -1));
      continue;
    }
    const eq = w.indexOf("=");
    if (eq <= 0) continue; // a TCP/SCTP/DCCP state word such as ESTABLISHED
    const k = w.slice(0, eq);
    const v = w.slice(eq + 1);
    if (k === "src" && dir < 1 && (dir < 0 || dirs[dir].has("src"))) {
      dir++;
      open = true;
    }
    if (open && TUPLE_KEYS.has(k) && !dirs[dir].has(k)) {
      dirs[dir].set(k, v);
      continue;
    }
    open = false;
    rest.set(k, v);
  }
  const offload = [...flags].map((f) => OFFLOAD_FLAGS[f]).find((x) => x !== undefined);
  if (!timed && !offload) throw new Error("no timeout, and not offloaded");
  if (dir < 1) throw new Error("no reply tuple");
  const num = (k: string, def: number) => {
    const v = rest.get(k);
    return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : def;
  };
  const orig = tuple(dirs[0], "original");
  const reply = tuple(dirs[1], "reply");
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const flow: Flow = {
    family: l3 === "ipv4" ? 4 : 6,
    proto: Number(l4num),
    orig,
    reply,
    // a flowtable's fast path forwards answers without setting IPS_SEEN_REPLY; its counter counts them
    replied: !flags.has("UNREPLIED") || /^[1-9][0-9]*$/.test(dirs[1].get("packets") ?? ""),
    dnat: !same(reply.src, orig.dst) || reply.sport !== orig.dport,
    snat: !same(reply.dst, orig.src) || reply.dport !== orig.sport,
    zone: num("zone", 0),
    id: rest.has("id") ? num("id", 0) : null,
    ...markOf(rest.get("mark")),
  };
  if (offload) flow.offload = offload;
  return flow;
}

/** Parses a whole listing; lines that are not entries are reported, never guessed. */
export function parseTable(text: string): ParsedTable {
  const flows: Flow[] = [];
  const problems: ParseProblem[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim() || /^conntrack v[0-9.]+ \(conntrack-tools\)/.test(line)) return;
    try {
      flows.push(parseLine(line));
    } catch (e) {
      problems.push({ line: i + 1, text: line, reason: (e as Error).message });
    }
  });
  return { flows, problems };
}
