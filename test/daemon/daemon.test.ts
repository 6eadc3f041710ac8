/**
 * The daemon's ears on plain Linux (src/daemon/daemon.ts), with a FAKE
 * host: `nft monitor` and `ip -o monitor route` print the lines the real
 * tools printed (test/fixtures/monitor, test/fixtures/kernel), and nft
 * answers with the terse fixture's listings. A run is counted by the
 * ruleset listing it takes.
 */
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startDaemon } from "../../src/daemon/daemon.ts";
import type { ExecResult, Host } from "../../src/host/host.ts";
import { clock } from "../helpers/clock.ts";
import { fixturePath, fixtureText } from "../helpers/fixtures.ts";

const ok = (stdout: string): ExecResult => ({ status: 0, stdout, stderr: "" });
const dir = ["ruleset", "terse"];
const answers: Record<string, ExecResult> = {
  "nft -j -t list ruleset": ok(fixtureText(...dir, "terse.json")),
  "ip -j addr": ok("[]"), "ip -j -4 route show table all": ok("[]"), "ip -j -6 route show table all": ok("[]"),
  ...Object.fromEntries(readdirSync(fixturePath(...dir, "sets")).map((f) =>
    [`nft -j list ${f.replace(/\.json$/, "").split("+").join(" ")}`, ok(fixtureText(...dir, "sets", f))])),
};

function world() {
  const c = clock();
  const files = new Map<string, Uint8Array>();
  const monitors = new Map<string, (line: string) => void>();
  let runs = 0;
  const exec = (argv: string[]): ExecResult => {
    const k = argv.join(" ");
    if (k === "nft -j -t list ruleset") runs++;
    return answers[k] ?? { status: 127, stdout: "", stderr: "" };
  };
  const host = {
    ...c.timing,
    kind: "node",
    pid: () => 42,
    time: () => 0,
    log: () => {},
    exec,
    execAll: (argvs: string[][]) => argvs.map(exec),
    findProgram: (p: string) => (["nft", "ip"].includes(p) ? `/usr/sbin/${p}` : null),
    exists: (p: string) => files.has(p),
    readFile: (p: string) => files.get(p) ?? null,
    writeFileAtomic: (p: string, d: Uint8Array) => void files.set(p, d),
    createExclusive: (p: string, d: Uint8Array) => (files.has(p) ? false : (files.set(p, d), true)),
    removeFile: (p: string) => void files.delete(p),
    makeDirs: () => {},
    spawnLines(argv: string[], onLine: (l: string) => void) {
      monitors.set(argv.join(" "), onLine);
      return { stop() {} };
    },
  } as unknown as Host;
  startDaemon(host, { stateDir: "/run/natnow", policyPath: "/none", fw4StatePath: "/none", debounce: 0.5 });
  c.advance(1000);
  /** Prints a line on a monitor, then lets 2 s pass: the runs it made. */
  const say = (monitor: string, line: string) => {
    const before = runs;
    const on = monitors.get(monitor);
    if (!on) throw new Error(`${monitor} is not running`);
    on(line);
    c.advance(2000);
    return runs - before;
  };
  return { say, runs: () => runs };
}

const nftLine = (start: string) => fixtureText("monitor", "nft-monitor.txt").split("\n").find((l) => l.startsWith(start)) as string;

describe("the daemon wakes for what NAT reads, and only for that", () => {
  it("runs once at start", () => {
    expect(world().runs()).toBe(1);
  });
  it.each([
    ["nft monitor", nftLine("add element inet t bl "), 1],
    ["nft monitor", nftLine("add element inet t inner "), 1],
    ["nft monitor", nftLine("add element ip bltab bl "), 0],
    ["nft monitor", nftLine("add element inet t unused "), 0],
    ["nft monitor", nftLine("add rule inet fw4 input_wan "), 0],
    ["nft monitor", nftLine("add rule inet t pre "), 1],
    ["nft monitor", nftLine("add chain ip other post "), 1],
    ["ip -o monitor route", "default via 198.18.101.1 dev wan2 table 100 ", 1],
    ["ip -o monitor route", "198.18.20.0/24 via 198.18.100.1 dev wan ", 0],
  ])("%s: %s", (monitor, line, want) => {
    expect(world().say(monitor, line)).toBe(want);
  });
});
