/**
 * FAKE `std`/`os` for the real QuickJS engine (npm quickjs-emscripten).
 *
 * The engine is Bellard's QuickJS compiled to wasm; what it lacks is
 * quickjs-libc, the `std` and `os` modules `qjs --std` adds. This layer
 * provides the subset natnow's QuickJS host uses, backed by Node, following
 * quickjs-libc.c's behaviour: negative errno returns, `[obj, err]` from
 * `os.stat`, `[pid, status]` from `os.waitpid` with a raw wait status,
 * blocking `os.read` on pipes, `setReadHandler`/`setTimeout` driven by an
 * event loop that ends when nothing is pending (js_std_loop), and
 * `scriptArgs` with the script name first.
 */
import { getQuickJS, type QuickJSHandle } from "quickjs-emscripten";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";

/** What a program run in the engine did. */
export interface QjsRun {
  status: number;
  stdout: Buffer;
  stderr: Buffer;
}

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleepBuf, 0, 0, ms);
}

/** In-VM glue: turns host calls that return fresh buffers into quickjs-libc's (fd, buf, pos, len) calls. */
const GLUE = `
(function () {
  const h = globalThis.__fake; delete globalThis.__fake;
  const copyIn = (buf, pos, r) => { new Uint8Array(buf, pos, r.byteLength).set(new Uint8Array(r)); return r.byteLength; };
  const file = (fd) => ({
    write(buf, pos, len) { return h.writeStd(fd, buf.slice(pos, pos + len)); },
    puts(s) { h.putsStd(fd, String(s)); },
    flush() {},
  });
  const std = {
    out: file(1), err: file(2),
    exit(code) { h.exit(code | 0); },
    getenv(name) { return h.getenv(String(name)); },
  };
  const os = Object.assign({}, h.constants, {
    open: (p, f, m) => h.open(p, f, m === undefined ? 0o666 : m),
    close: (fd) => h.close(fd),
    read(fd, buf, pos, len) {
      if (pos + len > buf.byteLength) throw new RangeError("read/write array buffer overflow");
      const r = h.read(fd, len);
      return typeof r === "number" ? r : copyIn(buf, pos, r);
    },
    write(fd, buf, pos, len) {
      if (pos + len > buf.byteLength) throw new RangeError("read/write array buffer overflow");
      return h.write(fd, buf.slice(pos, pos + len));
    },
    rename: (a, b) => h.rename(a, b),
    remove: (p) => h.remove(p),
    mkdir: (p, m) => h.mkdir(p, m === undefined ? 0o777 : m),
    stat: (p) => h.stat(p),
    exec: (args, opts) => h.exec(args.map(String), opts || {}),
    waitpid: (pid, options) => h.waitpid(pid, options),
    pipe: () => h.pipe(),
    kill: (pid, sig) => h.kill(pid, sig),
    setReadHandler: (fd, fn) => h.setReadHandler(fd, fn || null),
    setTimeout: (fn, ms) => h.setTimeout(fn, ms),
    clearTimeout: (t) => h.clearTimeout(t),
    now: () => h.now(),
    sleep: (ms) => h.sleep(ms),
    getpid: () => h.getpid(),
  });
  globalThis.std = std;
  globalThis.os = os;
})();
`;

interface Child {
  proc: ChildProcess;
  status: number | null;
}

/**
 * Runs `code` (a script, as `qjs --std FILE ARGS` would) in the QuickJS
 * engine with the fake std/os, until it exits or nothing is pending.
 */
export async function runInQuickJS(
  code: string,
  args: string[],
  opts: { timeoutMs?: number; scriptName?: string } = {},
): Promise<QjsRun> {
  const QuickJS = await getQuickJS();
  const runtime = QuickJS.newRuntime();
  runtime.setMemoryLimit(512 * 1024 * 1024);
  runtime.setMaxStackSize(4 * 1024 * 1024);
  const vm = runtime.newContext();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let exitCode: number | null = null;
  const children = new Map<number, Child>();
  const pending = new Map<number, Buffer>();
  const eofs = new Set<number>();
  const handlers = new Map<number, QuickJSHandle>();
  const timers = new Map<number, { due: number; fn: QuickJSHandle }>();
  let timerSeq = 0;

  const errno = (e: unknown) => -((e as NodeJS.ErrnoException).errno !== undefined
    ? Math.abs((e as NodeJS.ErrnoException).errno as number)
    : 5);
  const num = (h: QuickJSHandle) => vm.getNumber(h);
  const str = (h: QuickJSHandle) => vm.getString(h);
  const buffer = (h: QuickJSHandle) => {
    const lt = vm.getArrayBuffer(h);
    const b = Buffer.from(lt.value);
    lt.dispose();
    return b;
  };
  /** setProp, then dispose the value handle (setProp does not take it over). */
  const put = (o: QuickJSHandle, k: string | number, v: QuickJSHandle) => {
    vm.setProp(o, k, v);
    v.dispose();
  };
  const arr = (xs: number[]) => {
    const a = vm.newArray();
    xs.forEach((x, i) => put(a, i, vm.newNumber(x)));
    return a;
  };
  class Exit extends Error {}

  const fake = vm.newObject();
  const def = (name: string, fn: (...a: QuickJSHandle[]) => QuickJSHandle | undefined) => {
    const f = vm.newFunction(name, fn);
    vm.setProp(fake, name, f);
    f.dispose();
  };
  const c = fs.constants;
  const constants = vm.newObject();
  const consts: Record<string, number> = {
    O_RDONLY: c.O_RDONLY, O_WRONLY: c.O_WRONLY, O_RDWR: c.O_RDWR, O_CREAT: c.O_CREAT, O_TRUNC: c.O_TRUNC,
    O_APPEND: c.O_APPEND, O_EXCL: c.O_EXCL, S_IFMT: c.S_IFMT, S_IFREG: c.S_IFREG, S_IFDIR: c.S_IFDIR,
    S_IFIFO: c.S_IFIFO, S_IFLNK: c.S_IFLNK, WNOHANG: 1, SIGTERM: osConstants.signals.SIGTERM,
    SIGKILL: osConstants.signals.SIGKILL, SIGINT: osConstants.signals.SIGINT,
  };
  for (const [k, v] of Object.entries(consts)) put(constants, k, vm.newNumber(v));
  vm.setProp(fake, "constants", constants);
  constants.dispose();

  def("writeStd", (fd, b) => {
    const data = buffer(b);
    (num(fd) === 1 ? stdout : stderr).push(data);
    return vm.newNumber(data.length);
  });
  def("putsStd", (fd, s) => {
    (num(fd) === 1 ? stdout : stderr).push(Buffer.from(str(s), "utf8"));
    return undefined;
  });
  def("exit", (code) => {
    exitCode = num(code);
    throw new Exit(`exit ${exitCode}`);
  });
  def("getenv", (n) => {
    const v = process.env[str(n)];
    return v === undefined ? vm.undefined : vm.newString(v);
  });
  def("open", (p, f, m) => {
    try {
      return vm.newNumber(fs.openSync(str(p), num(f), num(m)));
    } catch (e) {
      return vm.newNumber(errno(e));
    }
  });
  def("close", (fd) => {
    const n = num(fd);
    pending.delete(n);
    eofs.delete(n);
    try {
      fs.closeSync(n);
      return vm.newNumber(0);
    } catch (e) {
      return vm.newNumber(errno(e));
    }
  });
  const rawRead = (fd: number, len: number): Buffer | number => {
    const b = Buffer.alloc(len);
    for (;;) {
      try {
        const n = fs.readSync(fd, b, 0, len, null);
        return b.subarray(0, n);
      } catch (e) {
        // a pipe's read end is non-blocking here; quickjs's read blocks
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
          sleepMs(1);
          continue;
        }
        return errno(e);
      }
    }
  };
  def("read", (fdH, lenH) => {
    const fd = num(fdH);
    const len = num(lenH);
    const p = pending.get(fd);
    if (p && p.length) {
      const take = p.subarray(0, len);
      pending.set(fd, p.subarray(take.length));
      return vm.newArrayBuffer(take.buffer.slice(take.byteOffset, take.byteOffset + take.length));
    }
    if (eofs.has(fd)) return vm.newNumber(0);
    const r = rawRead(fd, len);
    if (typeof r === "number") return vm.newNumber(r);
    if (r.length === 0) return vm.newNumber(0);
    return vm.newArrayBuffer(r.buffer.slice(r.byteOffset, r.byteOffset + r.length));
  });
  def("write", (fd, b) => {
    try {
      return vm.newNumber(fs.writeSync(num(fd), buffer(b)));
    } catch (e) {
      return vm.newNumber(errno(e));
    }
  });
  const status0 = (f: () => void) => {
    try {
      f();
      return vm.newNumber(0);
    } catch (e) {
      return vm.newNumber(errno(e));
    }
  };
  def("rename", (a, b) => status0(() => fs.renameSync(str(a), str(b))));
  def("remove", (p) => status0(() => fs.rmSync(str(p))));
  def("mkdir", (p, m) => status0(() => fs.mkdirSync(str(p), num(m))));
  def("stat", (p) => {
    const out = vm.newArray();
    try {
      const st = fs.statSync(str(p));
      const o = vm.newObject();
      for (const k of ["dev", "ino", "mode", "nlink", "uid", "gid", "rdev", "size", "blocks"] as const) {
        put(o, k, vm.newNumber(st[k]));
      }
      put(o, "mtime", vm.newNumber(st.mtimeMs));
      put(out, 0, o);
      put(out, 1, vm.newNumber(0));
    } catch (e) {
      vm.setProp(out, 0, vm.null);
      put(out, 1, vm.newNumber(-errno(e)));
    }
    return out;
  });
  def("exec", (argsH, optsH) => {
    const argv = vm.dump(argsH) as string[];
    const o = vm.dump(optsH) as { block?: boolean; usePath?: boolean; stdin?: number; stdout?: number; stderr?: number };
    const cmd = argv[0];
    if (o.usePath === false && !fs.existsSync(cmd)) return vm.newNumber(o.block === false ? -1 : 127);
    const stdio: ("pipe" | "ignore" | number)[] = [
      o.stdin ?? "ignore", o.stdout ?? "pipe", o.stderr ?? "pipe",
    ];
    if (o.block !== false) {
      const r = spawnSync(cmd, argv.slice(1), { stdio });
      if (r.error) return vm.newNumber(127);
      if (r.stdout) stdout.push(r.stdout);
      if (r.stderr) stderr.push(r.stderr);
      if (r.status !== null) return vm.newNumber(r.status);
      return vm.newNumber(-(osConstants.signals[r.signal as NodeJS.Signals] ?? 1));
    }
    const proc = spawn(cmd, argv.slice(1), { stdio });
    proc.stdout?.on("data", (d: Buffer) => stdout.push(d));
    proc.stderr?.on("data", (d: Buffer) => stderr.push(d));
    const child: Child = { proc, status: null };
    proc.on("exit", (code, signal) => {
      // raw wait status, as waitpid(2) returns it
      child.status = code !== null ? (code & 0xff) << 8 : (osConstants.signals[signal as NodeJS.Signals] ?? 1) & 0x7f;
    });
    children.set(proc.pid as number, child);
    return vm.newNumber(proc.pid as number);
  });
  def("waitpid", (pidH, optH) => {
    const ch = children.get(num(pidH));
    if (!ch) return arr([-10, 0]); // -ECHILD
    if (ch.status === null) {
      if (num(optH) & 1) return arr([0, 0]);
      throw new Error("fake os.waitpid: blocking wait on a running child is not supported");
    }
    children.delete(num(pidH));
    return arr([num(pidH), ch.status]);
  });
  def("pipe", () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "qjs-pipe-"));
    const path = join(dir, "fifo");
    spawnSync("mkfifo", [path]);
    const r = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const w = fs.openSync(path, fs.constants.O_WRONLY);
    fs.rmSync(dir, { recursive: true, force: true });
    return arr([r, w]);
  });
  def("kill", (pid, sig) => status0(() => process.kill(num(pid), num(sig))));
  def("setReadHandler", (fdH, fnH) => {
    const fd = num(fdH);
    handlers.get(fd)?.dispose();
    handlers.delete(fd);
    if (vm.typeof(fnH) === "function") handlers.set(fd, fnH.dup());
    return undefined;
  });
  def("setTimeout", (fnH, msH) => {
    const id = ++timerSeq;
    timers.set(id, { due: performance.now() + num(msH), fn: fnH.dup() });
    return vm.newNumber(id);
  });
  def("clearTimeout", (idH) => {
    const t = timers.get(num(idH));
    t?.fn.dispose();
    timers.delete(num(idH));
    return undefined;
  });
  def("now", () => vm.newNumber(performance.now()));
  def("sleep", (ms) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, num(ms));
    return undefined;
  });
  def("getpid", () => vm.newNumber(process.pid));
  vm.setProp(vm.global, "__fake", fake);
  fake.dispose();
  const sa = vm.newArray();
  [opts.scriptName ?? "natnow.js", ...args].forEach((a, i) => put(sa, i, vm.newString(a)));
  vm.setProp(vm.global, "scriptArgs", sa);
  sa.dispose();
  vm.unwrapResult(vm.evalCode(GLUE, "<fake-std-os>")).dispose();

  const report = (what: string, r: { error?: QuickJSHandle; value?: QuickJSHandle }) => {
    if (r.error) {
      const e = vm.dump(r.error) as { message?: string; stack?: string } | string;
      r.error.dispose();
      if (exitCode !== null) return;
      stderr.push(Buffer.from(`[fake qjs] uncaught in ${what}: ${typeof e === "string" ? e : `${e.message}\n${e.stack}`}\n`));
      exitCode = 1;
    } else r.value?.dispose();
  };
  const jobs = () => {
    const r = runtime.executePendingJobs();
    if (r.error) report("job", { error: r.error });
  };

  // as a module, the way `qjs --std -m` runs the bundle: its top-level
  // names stay in the module (as a script, a minified `var os` replaced the global os)
  report("script", vm.evalCode(code, opts.scriptName ?? "natnow.js", { type: "module" }));
  const deadline = performance.now() + (opts.timeoutMs ?? 30_000);
  try {
    while (exitCode === null) {
      jobs();
      if (exitCode !== null) break;
      if (!timers.size && !handlers.size && !runtime.hasPendingJob()) break;
      if (performance.now() > deadline) {
        stderr.push(Buffer.from("[fake qjs] timed out\n"));
        exitCode = 124;
        break;
      }
      let did = false;
      const now = performance.now();
      const due = [...timers.entries()].filter(([, t]) => t.due <= now).sort((a, b) => a[1].due - b[1].due);
      for (const [id, t] of due) {
        timers.delete(id);
        report("timer", vm.callFunction(t.fn, vm.undefined));
        t.fn.dispose();
        did = true;
        jobs();
        if (exitCode !== null) break;
      }
      for (const [fd, fn] of [...handlers.entries()]) {
        if (exitCode !== null) break;
        if (!(pending.get(fd)?.length) && !eofs.has(fd)) {
          const b = Buffer.alloc(65536);
          try {
            const n = fs.readSync(fd, b, 0, b.length, null);
            if (n === 0) eofs.add(fd);
            else pending.set(fd, b.subarray(0, n));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EAGAIN") eofs.add(fd);
          }
        }
        if (pending.get(fd)?.length || eofs.has(fd)) {
          report("read handler", vm.callFunction(fn, vm.undefined));
          did = true;
          jobs();
        }
      }
      if (!did) await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    for (const t of timers.values()) t.fn.dispose();
    for (const h of handlers.values()) h.dispose();
    for (const ch of children.values()) if (ch.status === null) ch.proc.kill("SIGKILL");
    vm.dispose();
    runtime.dispose();
  }
  return { status: exitCode ?? 0, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
}
