/**
 * The Host contract: cases both implementations must pass with the same
 * results. Runs under Node (host.test.ts) and, bundled, inside the QuickJS
 * engine (contract-entry.ts).
 */
import type { Host } from "../../src/host/host.ts";
import { utf8Decode, utf8Encode } from "../../src/base/utf8.ts";

/** One contract case: what it does, and what it must return. */
export interface ContractCase {
  name: string;
  run(host: Host, dir: string): unknown | Promise<unknown>;
  expect: unknown;
}

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

function lines(host: Host, argv: string[], stopAfter = -1): Promise<{ lines: string[]; status: number | "stopped" }> {
  return new Promise((resolve) => {
    const got: string[] = [];
    const s = host.spawnLines(argv, (l) => {
      got.push(l);
      if (got.length === stopAfter) {
        s.stop();
        host.setTimeout(() => resolve({ lines: got, status: "stopped" }), 100);
      }
    }, (status) => resolve({ lines: got, status }));
  });
}

/** The cases. */
export const contractCases: ContractCase[] = [
  { name: "readFile of a missing file is null", run: (h, d) => h.readFile(`${d}/nope`), expect: null },
  {
    name: "writeFileAtomic and readFile keep every byte",
    run: (h, d) => {
      h.writeFileAtomic(`${d}/bytes`, allBytes);
      return Array.from(h.readFile(`${d}/bytes`) ?? []);
    },
    expect: Array.from(allBytes),
  },
  {
    name: "writeFileAtomic replaces and leaves no temporary file",
    run: (h, d) => {
      h.writeFileAtomic(`${d}/f`, utf8Encode("one"));
      h.writeFileAtomic(`${d}/f`, utf8Encode("two"));
      const ls = h.exec(["ls", "-A", d]).stdout.split("\n").filter((x) => x.startsWith("f"));
      return [utf8Decode(h.readFile(`${d}/f`) ?? new Uint8Array()), ls];
    },
    expect: ["two", ["f"]],
  },
  {
    name: "makeDirs creates parents; existing is fine",
    run: (h, d) => {
      h.makeDirs(`${d}/a/b/c`);
      h.makeDirs(`${d}/a/b/c`);
      h.writeFileAtomic(`${d}/a/b/c/x`, utf8Encode("x"));
      return utf8Decode(h.readFile(`${d}/a/b/c/x`) ?? new Uint8Array());
    },
    expect: "x",
  },
  {
    name: "exists sees files and directories, not missing paths",
    run: (h, d) => {
      h.writeFileAtomic(`${d}/e`, utf8Encode("e"));
      return [h.exists(`${d}/e`), h.exists(d), h.exists(`${d}/none`)];
    },
    expect: [true, true, false],
  },
  {
    name: "writeControl writes each chunk in place, neither truncating nor creating",
    run: (h, d) => {
      h.writeFileAtomic(`${d}/ctl`, utf8Encode("xxxxxxxx"));
      const r = h.writeControl(`${d}/ctl`, ["ab", "cd"]);
      const missing = h.writeControl(`${d}/none`, ["x"]);
      return [r, utf8Decode(h.readFile(`${d}/ctl`) ?? new Uint8Array()), (missing ?? "").replace(d, "D"), h.readFile(`${d}/none`)];
    },
    expect: [null, "abcdxxxx", "'D/none': ENOENT", null],
  },
  {
    name: "writeControl reports a refused write by its errno name",
    run: (h) => h.writeControl("/dev/full", ["f\n"]),
    expect: "'/dev/full': ENOSPC",
  },
  {
    name: "removeFile removes; missing is fine",
    run: (h, d) => {
      h.writeFileAtomic(`${d}/r`, utf8Encode("r"));
      h.removeFile(`${d}/r`);
      h.removeFile(`${d}/r`);
      return h.readFile(`${d}/r`);
    },
    expect: null,
  },
  { name: "exec captures stdout and status", run: (h) => h.exec(["printf", "a\\nb"]), expect: { status: 0, stdout: "a\nb", stderr: "" } },
  { name: "exec returns the exit status", run: (h) => h.exec(["sh", "-c", "exit 3"]).status, expect: 3 },
  { name: "exec captures stderr", run: (h) => h.exec(["sh", "-c", "echo e >&2"]), expect: { status: 0, stdout: "", stderr: "e\n" } },
  { name: "exec feeds input", run: (h) => h.exec(["cat"], { input: "hello\nwörld\n" }).stdout, expect: "hello\nwörld\n" },
  {
    name: "exec takes more output than a pipe holds",
    run: (h) => {
      const r = h.exec(["seq", "1", "100000"]);
      return [r.status, r.stdout.length, r.stdout.slice(-7)];
    },
    expect: [0, 588895, "100000\n"],
  },
  {
    name: "exec of a missing program is status 127, with a reason",
    run: (h) => {
      const r = h.exec(["natnow-no-such-program", "x"]);
      return [r.status, r.stderr.includes("natnow-no-such-program") && r.stderr.includes("not found")];
    },
    expect: [127, true],
  },
  { name: "exec reports a signal as its negative number", run: (h) => h.exec(["sh", "-c", "kill -9 $$"]).status, expect: -9 },
  {
    name: "execAll runs every command and answers in the order given",
    run: (h) => h.execAll([["sh", "-c", "sleep 0.2; echo slow"], ["sh", "-c", "echo fast >&2; exit 4"], ["natnow-no-such-program"], ["seq", "1", "50000"]])
      .map((r) => [r.status, r.stdout.length > 20 ? r.stdout.split("\n").length : r.stdout, r.stderr.slice(0, 30)]),
    expect: [[0, "slow\n", ""], [4, "", "fast\n"], [127, "", "cannot run 'natnow-no-such-pro"], [0, 50001, ""]],
  },
  {
    name: "findProgram looks in PATH",
    run: (h) => [h.findProgram("sh") !== null, h.findProgram("natnow-no-such-program"), h.findProgram("/bin/sh")],
    expect: [true, null, "/bin/sh"],
  },
  {
    name: "spawnLines delivers lines as they come, and the status",
    run: (h) => lines(h, ["sh", "-c", "echo one; sleep 0.05; printf 'two\\nthree'"]),
    expect: { lines: ["one", "two", "three"], status: 0 },
  },
  { name: "spawnLines reports the exit status", run: (h) => lines(h, ["sh", "-c", "echo x; exit 5"]), expect: { lines: ["x"], status: 5 } },
  {
    name: "spawnLines stop ends the command and further lines",
    run: (h) => lines(h, ["sh", "-c", "while true; do echo y; sleep 0.01; done"], 2),
    expect: { lines: ["y", "y"], status: "stopped" },
  },
  {
    name: "spawnLines of a missing program exits 127",
    run: (h) => lines(h, ["natnow-no-such-program"]),
    expect: { lines: [], status: 127 },
  },
  {
    name: "timers fire in time order; cleared ones never",
    run: (h) =>
      new Promise((resolve) => {
        const order: number[] = [];
        h.setTimeout(() => order.push(30), 30);
        h.setTimeout(() => order.push(10), 10);
        const x = h.setTimeout(() => order.push(99), 20);
        h.setTimeout(() => order.push(20), 20);
        h.clearTimeout(x);
        h.setTimeout(() => resolve(order), 60);
      }),
    expect: [10, 20, 30],
  },
  {
    name: "now is monotonic and in milliseconds",
    run: (h) =>
      new Promise((resolve) => {
        const t0 = h.now();
        h.setTimeout(() => {
          const dt = h.now() - t0;
          resolve(dt >= 45 && dt < 1000);
        }, 50);
      }),
    expect: true,
  },
  { name: "time is the wall clock in milliseconds", run: (h) => Math.abs(h.time() - Date.now()) < 5000 && h.time() > 1.7e12, expect: true },
  { name: "getenv reads the environment", run: (h) => [h.getenv("NATNOW_CONTRACT_ENV"), h.getenv("NATNOW_NO_SUCH_VAR")], expect: ["xyz", null] },
  { name: "args are the arguments after the script", run: (h) => h.args(), expect: ["contract", "--flag"] },
  { name: "pid is a process id", run: (h) => h.pid() > 1, expect: true },
  {
    // PATH holds a fake `logger` (test/fixtures/bin) that appends its arguments to $NATNOW_FAKE_LOG
    name: "log sends one line to logger -t natnow",
    run: (h) => {
      h.log("apply: 2 renewed\nsecond line");
      const f = h.getenv("NATNOW_FAKE_LOG") ?? "";
      return utf8Decode(h.readFile(f) ?? new Uint8Array()).split("\n").filter(Boolean).slice(-1);
    },
    expect: ["-t natnow -- apply: 2 renewed second line"],
  },
];

/** Runs every case and returns name → result. */
export async function runContract(host: Host, dir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const c of contractCases) {
    try {
      out[c.name] = await c.run(host, dir);
    } catch (e) {
      out[c.name] = { threw: String(e) };
    }
  }
  return out;
}
