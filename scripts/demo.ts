/**
 * The newcomer's demo (`npm run demo`): a namespace router running fw4's
 * own rulesets, a phone whose flow gets stuck when a port forward is added,
 * and natnow fixing it, narrated with the numbers. Needs root. Everything
 * it creates is removed at the end, also when it fails.
 */
import { spawnSync } from "node:child_process";
import { formatIp } from "../src/net/ip.ts";
import { fixturePath } from "../test/helpers/fixtures.ts";
import { nowNs, Router, sleep } from "../test/e2e/harness.ts";
import { natnowArgv } from "../test/helpers/qjs.ts";
import type { Flow } from "../src/conntrack/flow.ts";

const PHONE = "198.18.1.50";
const PBX = "198.18.1.20";
const WAN = "198.19.100.2";

const say = (text = "") => console.log(text);
const indent = (text: string) => text.trimEnd().split("\n").map((l) => `     ${l}`).join("\n");

function describeEntry(f: Flow | undefined): string {
  if (!f) return "no entry";
  const translated = formatIp(f.reply.src) !== formatIp(f.orig.dst);
  return `udp ${formatIp(f.orig.src)}:${f.orig.sport} -> ${formatIp(f.orig.dst)}:${f.orig.dport}` +
    `${f.replied ? "" : " [UNREPLIED]"}, answered from ${formatIp(f.reply.src)}:${f.reply.sport}` +
    (translated ? ` (DNAT to the PBX; the reply goes back via ${formatIp(f.reply.dst)}: reflection)` : " (not translated: the router itself)");
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error("the demo builds network namespaces: run it as root");
    return 1;
  }
  for (const t of ["nft", "conntrack", "gcc", "ip"]) {
    if (spawnSync(t, ["--version"]).error) {
      console.error(`'${t}' is missing: run 'bash scripts/setup.sh --demo' first`);
      return 1;
    }
  }
  const started = Date.now();
  const r = new Router({ phone: PHONE, pbx: PBX });
  try {
    say("natnow demo: a port forward added while a phone is already sending");
    say();
    say(`  phone ${PHONE} ─┐`);
    say(`                     ├─ br-lan 198.18.1.1 [router] ${WAN} eth1 ── upstream 198.19.100.1`);
    say(`  PBX   ${PBX} ─┘`);
    say("  Network namespaces on this machine, running the rulesets OpenWrt's firewall4 generates.");
    say();
    r.load("a");
    const pbx = r.traffic("pbx", ["-b", "5060", "-d", "7", "-r", r.path("pbx")]);
    const phone = r.traffic("phone", ["-b", "4000", "-t", WAN, "-p", "5060", "-i", "20", "-d", "6.5"]);
    await sleep(700);
    const entry = () => r.table().find((f) => f.orig.sport === 4000 && f.orig.dport === 5060);
    say(`1. The phone sends a SIP packet every 20 ms to the router's public address ${WAN}:5060.`);
    say("   There is no port forward yet, so the router takes the packets itself. Its conntrack entry:");
    say(`     ${describeEntry(entry())}`);
    say();

    r.load("b");
    const tRule = nowNs();
    say("2. You add the port forward 'SIP' (udp 5060 -> PBX 198.18.1.20:5060) and fw4 reloads.");
    await sleep(2000);
    const stuck = r.received("pbx").filter((x) => x.t > tRule).length;
    say(`   In the 2 seconds after the reload the PBX received ${stuck} of the phone's ~100 packets.`);
    say("   The phone's flow is stuck: conntrack decided its NAT when the flow began, and the entry lives");
    say("   as long as the phone keeps sending. Its entry is unchanged:");
    say(`     ${describeEntry(entry())}`);
    say();

    say("3. natnow compares the NAT rules the kernel runs now with the ones it saw before the reload,");
    say("   and resets only the flows the change concerns:");
    const ifaces = fixturePath("fw4-examples", "a", "interfaces.json");
    const plan = spawnSync("ip", ["netns", "exec", r.ns("r"), ...natnowArgv("apply", "--dry-run",
      "--previous-ruleset", r.path("previous.json"), "--interfaces", ifaces, "--state-dir", r.path("dry"))], { encoding: "utf8" });
    say("   $ natnow apply --dry-run --previous-ruleset BEFORE.json --interfaces DUMP");
    say(indent(plan.stdout));
    say("   $ natnow apply --previous-ruleset BEFORE.json --interfaces DUMP");
    const tApply = nowNs();
    const run = r.apply();
    say(indent(run.stdout + run.stderr));
    await sleep(1000);
    const got = r.received("pbx").filter((x) => x.t > tApply);
    const first = got.length ? Number(got[0].t - tApply) / 1e6 : null;
    say();
    say(`4. The PBX receives the phone: the first packet arrived ${first === null ? "never" : `${first.toFixed(0)} ms`} after natnow started,`);
    say(`   and ${got.filter((x) => x.t < tApply + 1_000_000_000n).length} packets in the second after it (the phone sends 50 per second).`);
    say("   The phone's new entry:");
    say(`     ${describeEntry(entry())}`);
    await Promise.all([pbx, phone]);
    say();
    say(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s. The namespaces are removed. Try 'npm run bench' for the numbers at scale.`);
    return stuck === 0 && first !== null ? 0 : 1;
  } finally {
    r.close();
  }
}

process.exit(await main());
