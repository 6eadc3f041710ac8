/**
 * The corpus: for each program that puts NAT into the kernel, its rules as
 * that program writes them (its own tool, or the nft text it loads), one
 * change it makes while flows run, and the flows to judge. Every step runs
 * as root inside a router namespace of harness.ts (LAN br-lan with l1
 * 198.18.1.10 and l2 198.18.1.20, WAN eth1 198.19.100.2 towards w
 * 198.19.100.1). The same steps build the reference router, where the kernel
 * says what a new flow gets once the change is made.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePath, fixtureText, repoRoot } from "../../helpers/fixtures.ts";
import { type Router, swap } from "../harness.ts";

/** One UDP flow the test keeps alive from a namespace: its original tuple. */
export interface CorpusFlow {
  /** The namespace that sends it (l1, l2 or w). */
  host: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

/** One program's change. */
export interface CorpusCase {
  /** The program, for the summary table. */
  program: string;
  /** The change in words. */
  change: string;
  /** Loads the program's rules before the change (into a router with no ruleset). */
  setup(r: Router): void;
  /** Makes the change, as the program makes it. */
  apply(r: Router): void;
  /** The flows running through the change. */
  flows: CorpusFlow[];
  /**
   * The program masquerades `fully-random`: the kernel picks the reply
   * port, so two entries of one tuple differ in it and it is not compared.
   */
  randomPorts?: boolean;
}

/** Each namespace's address. */
export const HOSTS: Record<string, string> = { l1: "198.18.1.10", l2: "198.18.1.20", w: "198.19.100.1" };

/** UDP ports each namespace answers on (an echo), so that flows to them are replied. */
export const ECHO_PORTS: Record<string, number[]> = {
  l1: [53, 80, 5001, 5060, 9001],
  l2: [53, 80, 5001, 5060, 9001],
  w: [7, 53],
  r: [53],
};

/** A flow from `host`:sport to dst:dport (`"198.19.100.2:5000"`). */
const flow = (host: string, sport: number, to: string): CorpusFlow => {
  const [dst, dport] = to.split(":");
  return { host, src: HOSTS[host], sport, dst, dport: Number(dport) };
};

/** Loads a fixture of test/fixtures/corpus (or another fixture directory's, given its path parts) with `nft -f`. */
const nftFile = (r: Router, ...name: string[]): void => {
  r.in("r", "nft", "-f", name.length === 1 ? fixturePath("corpus", name[0]) : fixturePath(...name));
};

/** Loads nft text through stdin of `nft -f -` inside the router. */
function loadText(r: Router, text: string): void {
  execFileSync("ip", ["netns", "exec", r.ns("r"), "nft", "-f", "-"], { input: text, stdio: ["pipe", "pipe", "pipe"] });
}

// ---- fw4 and miniupnpd ----------------------------------------------------

/**
 * fw4's example "b" ruleset as a router with miniupnpd installed renders it:
 * the package's nftables.d snippets (net/miniupnpd/files/nftables.d:
 * table-post declares upnp_forward, upnp_prerouting, upnp_postrouting;
 * chain-post appends the jumps to forward, dstnat and srcnat), plus a wan
 * input accept for udp 5000 (a traffic rule, so that a WAN flow to that
 * port is tracked before any mapping exists).
 */
export function fw4WithUpnp(): string {
  let t = fixtureText("fw4-examples", "b", "ruleset.nft");
  t = swap(t, '\t\tiifname "eth1" jump dstnat_wan comment "!fw4: Handle wan IPv4/IPv6 dstnat traffic"\n',
    '\t\tiifname "eth1" jump dstnat_wan comment "!fw4: Handle wan IPv4/IPv6 dstnat traffic"\n' +
    '\t\tjump upnp_prerouting comment "Hook into miniupnpd prerouting chain"\n');
  t = swap(t, '\t\toifname "eth1" jump srcnat_wan comment "!fw4: Handle wan IPv4/IPv6 srcnat traffic"\n',
    '\t\toifname "eth1" jump srcnat_wan comment "!fw4: Handle wan IPv4/IPv6 srcnat traffic"\n' +
    '\t\tjump upnp_postrouting comment "Hook into miniupnpd postrouting chain"\n');
  t = swap(t, '\t\tiifname "eth1" jump forward_wan comment "!fw4: Handle wan IPv4/IPv6 forward traffic"\n',
    '\t\tiifname "eth1" jump forward_wan comment "!fw4: Handle wan IPv4/IPv6 forward traffic"\n' +
    '\t\tjump upnp_forward comment "Hook into miniupnpd forwarding chain"\n');
  t = swap(t, "\tchain input_wan {\n", '\tchain input_wan {\n\t\tudp dport 5000 counter accept comment "!fw4: Allow-Game"\n');
  const last = t.lastIndexOf("}");
  return t.slice(0, last) + "\tchain upnp_forward {\n\t}\n\n\tchain upnp_prerouting {\n\t}\n\n\tchain upnp_postrouting {\n\t}\n" + t.slice(last);
}

const TOOLS = mkdtempSync(join(tmpdir(), "natnow-corpus-"));
process.on("exit", () => rmSync(TOOLS, { recursive: true, force: true }));
let upnpTool: string | null = null;

/** test/e2e/nftnl-upnp.c, built once per test process against libnftnl and libmnl. */
export function nftnlUpnp(): string {
  if (!upnpTool) {
    const out = join(TOOLS, "nftnl-upnp");
    execFileSync("gcc", ["-O2", "-Wall", "-o", out, join(repoRoot, "test/e2e/nftnl-upnp.c"), "-lnftnl", "-lmnl"]);
    upnpTool = out;
  }
  return upnpTool;
}

/** miniupnpd's AddPortMapping: udp eport on eth1 to addr:iport (OpenWrt: table fw4, chain upnp_prerouting). */
const upnpAdd = (r: Router, eport: number, addr: string, iport: number): void => {
  r.in("r", nftnlUpnp(), "add", "fw4", "upnp_prerouting", "eth1", "udp", String(eport), addr, String(iport), `natnow corpus ${eport}`);
};

/** miniupnpd's DeletePortMapping: the mapping's rule, found by its external port, deleted by handle. */
const upnpDelete = (r: Router, eport: number): void => {
  const listing = JSON.parse(r.in("r", "nft", "-a", "-j", "list", "chain", "inet", "fw4", "upnp_prerouting")) as {
    nftables: { rule?: { handle: number; expr: { match?: { left: unknown; right: unknown } }[] } }[];
  };
  const rule = listing.nftables.map((o) => o.rule).find((x) => x?.expr.some((e) =>
    JSON.stringify(e.match?.left) === '{"payload":{"protocol":"th","field":"dport"}}' && e.match?.right === eport));
  if (!rule) throw new Error(`no miniupnpd mapping for port ${eport}`);
  r.in("r", nftnlUpnp(), "del", "fw4", "upnp_prerouting", String(rule.handle));
};

// ---- dockerd, iptables backend (iptables-nft) -----------------------------

/** dockerd's nat rules for bridge br-lan (198.18.1.0/24) and one published port, as its iptables driver issues them. */
const DOCKER_IPTABLES: string[][] = [
  ["-t", "nat", "-N", "DOCKER"],
  ["-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
  ["-t", "nat", "-A", "OUTPUT", "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
  ["-t", "nat", "-A", "POSTROUTING", "-s", "198.18.1.0/24", "!", "-o", "br-lan", "-j", "MASQUERADE"],
  ["-t", "nat", "-A", "DOCKER", "-i", "br-lan", "-j", "RETURN"],
];

/** One published port: DNAT in DOCKER and the hairpin MASQUERADE, as `docker run -p` adds them. */
const dockerPublish = (op: "-A" | "-D", port: number, addr: string, cport: number): string[][] => [
  ["-t", "nat", op, "DOCKER", "!", "-i", "br-lan", "-p", "udp", "-m", "udp", "--dport", String(port), "-j", "DNAT",
    "--to-destination", `${addr}:${cport}`],
  ["-t", "nat", op, "POSTROUTING", "-s", `${addr}/32`, "-d", `${addr}/32`, "-p", "udp", "-m", "udp", "--dport", String(cport),
    "-j", "MASQUERADE"],
];

const iptables = (r: Router, cmds: string[][]): void => {
  for (const c of cmds) r.in("r", "iptables-nft", "-w", ...c);
};

// ---- the table ------------------------------------------------------------

/** The corpus, table-driven: one row per program change. */
export const CORPUS: CorpusCase[] = [
  {
    program: "fw4",
    change: "redirect 'SIP' with reflection added (example a → b)",
    setup: (r) => nftFile(r, "fw4-examples", "a", "ruleset.nft"),
    apply: (r) => nftFile(r, "fw4-examples", "b", "ruleset.nft"),
    flows: [
      flow("l1", 4000, "198.19.100.2:5060"), // reflection: stuck on the router's own address
      flow("w", 4001, "198.19.100.2:5060"), // rejected before: no entry
      flow("l2", 4002, "198.19.100.1:7"), // masqueraded, replied: a bystander
      flow("l1", 4003, "198.19.100.1:53"),
    ],
  },
  {
    program: "miniupnpd",
    change: "port mapping udp 5000 → 198.18.1.10:5001 added (libnftnl)",
    setup: (r) => loadText(r, fw4WithUpnp()),
    apply: (r) => upnpAdd(r, 5000, "198.18.1.10", 5001),
    flows: [
      flow("w", 4200, "198.19.100.2:5000"), // accepted by the router, untranslated: stuck
      flow("w", 4201, "198.19.100.2:5060"), // fw4's SIP forward, replied: a bystander
      flow("l1", 4202, "198.19.100.1:7"),
    ],
  },
  {
    program: "miniupnpd",
    change: "port mapping udp 5002 deleted (libnftnl, by handle)",
    setup: (r) => {
      loadText(r, fw4WithUpnp());
      upnpAdd(r, 5002, "198.18.1.10", 5001);
      upnpAdd(r, 5003, "198.18.1.20", 5001);
    },
    apply: (r) => upnpDelete(r, 5002),
    flows: [
      flow("w", 4300, "198.19.100.2:5002"), // translated by the deleted mapping
      flow("w", 4301, "198.19.100.2:5003"), // the other mapping's: a bystander
    ],
  },
  {
    program: "miniupnpd",
    change: "fw4 reload flushes inet fw4: both mappings gone until miniupnpd re-adds them",
    setup: (r) => {
      loadText(r, fw4WithUpnp());
      upnpAdd(r, 5002, "198.18.1.10", 5001);
      upnpAdd(r, 5003, "198.18.1.20", 5001);
    },
    apply: (r) => loadText(r, fw4WithUpnp()),
    flows: [
      flow("w", 4400, "198.19.100.2:5002"),
      flow("w", 4401, "198.19.100.2:5003"),
      flow("l1", 4402, "198.19.100.1:7"), // masqueraded by a rule the reload re-creates unchanged
    ],
  },
  {
    program: "dockerd (iptables-nft)",
    change: "port udp 8081 published to 198.18.1.20:80",
    setup: (r) => iptables(r, [...DOCKER_IPTABLES, ...dockerPublish("-A", 8080, "198.18.1.10", 80)]),
    apply: (r) => iptables(r, dockerPublish("-A", 8081, "198.18.1.20", 80)),
    flows: [
      flow("w", 5200, "198.19.100.2:8081"), // stuck on the host's address
      flow("w", 5201, "198.19.100.2:8080"), // the other container's port: a bystander
      flow("l1", 5202, "198.19.100.1:7"), // masqueraded
    ],
  },
  {
    program: "dockerd (iptables-nft)",
    change: "container re-created: port 8080 moves from 198.18.1.10 to 198.18.1.20",
    setup: (r) => iptables(r, [...DOCKER_IPTABLES, ...dockerPublish("-A", 8080, "198.18.1.10", 80)]),
    apply: (r) => iptables(r, [...dockerPublish("-D", 8080, "198.18.1.10", 80), ...dockerPublish("-A", 8080, "198.18.1.20", 80)]),
    flows: [
      flow("w", 5300, "198.19.100.2:8080"), // on the old container
      flow("l2", 5301, "198.19.100.1:7"),
    ],
  },
  {
    program: "dockerd 29 (nftables)",
    change: "port udp 8081 published to 198.18.1.20:80",
    setup: (r) => nftFile(r, "docker-nftables.nft"),
    apply: (r) => nftFile(r, "docker-nftables-publish.nft"),
    flows: [
      flow("w", 5400, "198.19.100.2:8081"),
      flow("w", 5401, "198.19.100.2:8080"),
      flow("l2", 5402, "198.19.100.1:7"),
    ],
  },
  {
    program: "netavark",
    change: "port udp 8081 published to 198.18.1.20:80",
    setup: (r) => nftFile(r, "netavark.nft"),
    apply: (r) => nftFile(r, "netavark-publish.nft"),
    flows: [
      flow("w", 4500, "198.19.100.2:8081"),
      flow("w", 4501, "198.19.100.2:8080"),
      flow("l1", 4502, "198.19.100.1:7"),
    ],
  },
  {
    program: "kube-proxy (nftables)",
    change: "dns-a's endpoint moves to 198.18.1.20; service dns-c added",
    randomPorts: true,
    setup: (r) => nftFile(r, "kube-proxy.nft"),
    apply: (r) => nftFile(r, "kube-proxy-sync.nft"),
    flows: [
      flow("w", 4700, "198.19.200.10:53"), // on the old endpoint
      flow("w", 4701, "198.19.200.11:53"), // another service: a bystander
      flow("w", 4702, "198.19.200.12:53"), // before its service existed: stuck
    ],
  },
  {
    program: "libvirt (nftables)",
    change: "network 'default' started: guest_nat masquerades 198.18.1.0/24",
    setup: () => undefined,
    apply: (r) => nftFile(r, "libvirt.nft"),
    flows: [
      flow("l1", 4800, "198.19.100.1:7"), // never replied: w has no route back
      flow("l2", 4801, "198.19.100.1:53"),
      flow("l1", 4802, "198.18.1.1:53"), // to the host itself: a bystander
    ],
  },
  {
    program: "tailscale (nftables)",
    change: "subnet-route SNAT switched on (mark-gated masquerade)",
    setup: (r) => nftFile(r, "tailscale.nft"),
    apply: (r) => nftFile(r, "tailscale-snat.nft"),
    flows: [
      flow("l1", 4600, "198.19.100.1:7"),
      flow("l2", 4601, "198.18.1.1:53"),
    ],
  },
  {
    program: "firewalld",
    change: "forward-port udp 9000 → 198.18.1.10:9001 added to zone public",
    setup: (r) => nftFile(r, "firewalld.nft"),
    apply: (r) => nftFile(r, "firewalld-forward-port.nft"),
    flows: [
      flow("w", 4900, "198.19.100.2:9000"),
      flow("l1", 4901, "198.19.100.1:7"),
    ],
  },
  {
    program: "adblock",
    change: "DNS force on: LAN DNS redirected to the router (inet adblock, prerouting -150)",
    setup: (r) => nftFile(r, "fw4-examples", "a", "ruleset.nft"),
    apply: (r) => nftFile(r, "adblock.nft"),
    flows: [
      flow("l1", 5000, "198.19.100.1:53"), // to an outside resolver, masqueraded and replied
      flow("l2", 5001, "198.19.100.1:7"), // not DNS: a bystander
    ],
  },
  {
    program: "pbr",
    change: "DNS policy for 198.18.1.20 added in pbr_dstnat (inside inet fw4)",
    setup: (r) => {
      nftFile(r, "fw4-examples", "a", "ruleset.nft");
      loadText(r, "add chain inet fw4 pbr_dstnat\ninsert rule inet fw4 dstnat jump pbr_dstnat comment \"Jump into pbr dstnat chain\"\n");
    },
    apply: (r) => nftFile(r, "pbr-dns-policy.nft"),
    flows: [
      flow("l2", 5100, "198.19.100.1:53"),
      flow("l1", 5101, "198.19.100.1:53"), // another host's DNS: a bystander
    ],
  },
];
