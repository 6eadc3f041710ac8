/**
 * Test-only: the Node host for running natnow's commands in-process, with
 * captured output, without conntrack, the kernel module or procfs consent,
 * and with the kernel's view (`ip -j`) of the fixture router rather than of
 * the machine running the tests.
 */
import { createNodeHost } from "../../src/host/node.ts";
import type { Host } from "../../src/host/host.ts";
import { utf8Decode } from "../../src/base/utf8.ts";
import { fixtureText } from "./fixtures.ts";

/** A captured host: the host, what it printed, and a way to forget that. */
export interface CapturedHost {
  h: Host;
  out: () => string;
  err: () => string;
  reset: () => void;
}

/** The host; `missing` names programs that are not installed, `openwrt` makes /etc/openwrt_release exist. */
export async function fixtureHost(missing: string[] = [], openwrt = false): Promise<CapturedHost> {
  const base = await createNodeHost();
  let o = "";
  let e = "";
  const ip: Record<string, string> = {
    addr: fixtureText("ruleset", "ip-addr.json"), "-4": fixtureText("ruleset", "ip-route4.json"), "-6": fixtureText("ruleset", "ip-route6.json"),
  };
  const h: Host = {
    ...base,
    writeStdout: (d) => void (o += utf8Decode(d)),
    writeStderr: (d) => void (e += utf8Decode(d)),
    findProgram: (n) => (n === "conntrack" || missing.indexOf(n) >= 0 ? null : base.findProgram(n)),
    readFile: (p) => (p === "/proc/net/natnow" ? null : base.readFile(p)),
    exists: (p) => (openwrt && p === "/etc/openwrt_release") || base.exists(p),
    exec: (argv, opts) => {
      if (missing.indexOf(argv[0]) >= 0) return { status: 127, stdout: "", stderr: `${argv[0]}: not found` };
      if (argv[0] === "ip" && argv[1] === "-j") return { status: 0, stdout: ip[argv[2]] ?? "[]", stderr: "" };
      return base.exec(argv, opts);
    },
    execAll: (argvs) => argvs.map((a) => h.exec(a)),
  };
  return { h, out: () => o, err: () => e, reset: () => void (o = e = "") };
}
