/**
 * The Host on a development machine and in tests: Node.js. Node modules are
 * imported dynamically, so the bundle never loads them under QuickJS.
 */

import type { ExecOptions, ExecResult, Host, LineStream } from "./host.ts";
import { syslogLine } from "./log.ts";

/** Creates the Node host. */
export async function createNodeHost(): Promise<Host> {
  const fs = await import("node:fs");
  const cp = await import("node:child_process");
  const path = await import("node:path");
  const timers = new Map<number, ReturnType<typeof setTimeout>>();
  let timerId = 0;

  const writeFd = (fd: number, data: Uint8Array) => {
    let off = 0;
    while (off < data.length) {
      try {
        off += fs.writeSync(fd, data, off, data.length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      }
    }
  };

  const isExecutable = (p: string) => {
    try {
      const st = fs.statSync(p);
      return st.isFile() && (st.mode & 0o111) !== 0;
    } catch {
      return false;
    }
  };

  const host: Host = {
    kind: "node",
    args: () => process.argv.slice(2),
    readFile(p) {
      try {
        return new Uint8Array(fs.readFileSync(p));
      } catch {
        return null;
      }
    },
    exists: (p) => fs.existsSync(p),
    writeFileAtomic(p, data) {
      const tmp = `${p}.tmp.${process.pid}`;
      fs.writeFileSync(tmp, data, { mode: 0o644 });
      fs.renameSync(tmp, p);
    },
    createExclusive(p, data) {
      try {
        fs.writeFileSync(p, data, { flag: "wx", mode: 0o644 });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw new Error(`cannot create '${p}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    },
    writeControl(p, chunks) {
      let fd: number;
      try {
        fd = fs.openSync(p, fs.constants.O_WRONLY);
      } catch (e) {
        return `'${p}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      }
      try {
        for (const c of chunks) fs.writeSync(fd, Buffer.from(c, "utf8"));
        return null;
      } catch (e) {
        return `'${p}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      } finally {
        fs.closeSync(fd);
      }
    },
    removeFile(p) {
      fs.rmSync(p, { force: true });
    },
    makeDirs(p) {
      fs.mkdirSync(p, { recursive: true });
    },
    writeStdout: (data) => writeFd(1, data),
    writeStderr: (data) => writeFd(2, data),
    exit(code) {
      process.exit(code);
    },
    getenv: (name) => process.env[name] ?? null,
    findProgram(name) {
      if (name.indexOf("/") >= 0) return isExecutable(name) ? name : null;
      for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
        const p = path.join(dir || ".", name);
        if (isExecutable(p)) return p;
      }
      return null;
    },
    exec(argv: string[], opts: ExecOptions = {}): ExecResult {
      const prog = host.findProgram(argv[0]);
      if (!prog) return { status: 127, stdout: "", stderr: `cannot run '${argv[0]}': not found\n` };
      const r = cp.spawnSync(prog, argv.slice(1), {
        input: opts.input ?? "",
        encoding: "utf8",
        maxBuffer: 1 << 30,
      });
      if (r.error) return { status: 127, stdout: "", stderr: `cannot run '${argv[0]}': ${r.error.message}\n` };
      const status = r.status ?? -(r.signal ? (({ SIGKILL: 9, SIGTERM: 15 }) as Record<string, number>)[r.signal] ?? 1 : 1);
      return { status, stdout: r.stdout, stderr: r.stderr };
    },
    execAll(argvs) {
      // Node's synchronous spawn runs one at a time
      return argvs.map((argv) => host.exec(argv));
    },
    spawnLines(argv, onLine, onExit): LineStream {
      const prog = host.findProgram(argv[0]);
      let stopped = false;
      if (!prog) {
        setTimeout(() => onExit(127), 0);
        return { stop() {} };
      }
      const child = cp.spawn(prog, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
      let pending = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk: string) => {
        pending += chunk;
        let i: number;
        while ((i = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, i);
          pending = pending.slice(i + 1);
          if (!stopped) onLine(line);
        }
      });
      child.on("close", (code, signal) => {
        if (pending && !stopped) onLine(pending);
        if (!stopped) onExit(code ?? (signal === "SIGTERM" ? -15 : -1));
      });
      return {
        stop() {
          if (stopped) return;
          stopped = true;
          child.kill("SIGTERM");
        },
      };
    },
    setTimeout(fn, ms) {
      const id = ++timerId;
      timers.set(id, setTimeout(() => {
        timers.delete(id);
        fn();
      }, ms));
      return id;
    },
    clearTimeout(id) {
      const t = timers.get(id);
      if (t) clearTimeout(t);
      timers.delete(id);
    },
    time: () => Date.now(),
    now: () => performance.now(),
    sleep: (ms) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    },
    pid: () => process.pid,
    log: (message) => syslogLine(host, message),
  };
  return host;
}
