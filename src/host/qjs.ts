/**
 * The Host on the router: Bellard's QuickJS `qjs --std`, which provides the
 * `std` and `os` modules as globals (quickjs-libc.c). Only the calls below
 * are used; their types follow quickjs-libc's documented behaviour.
 */

import { utf8Decode, utf8Encode } from "../base/utf8.ts";
import type { ExecOptions, ExecResult, Host, LineStream } from "./host.ts";
import { syslogLine } from "./log.ts";

/** quickjs-libc FILE object (the subset natnow uses). */
export interface QjsFile {
  write(buf: ArrayBuffer, pos: number, len: number): number;
  flush(): void;
}

/** quickjs-libc `std` module (the subset natnow uses). */
export interface QjsStd {
  out: QjsFile;
  err: QjsFile;
  exit(code: number): never;
  getenv(name: string): string | undefined;
}

/** quickjs-libc `os` module (the subset natnow uses). */
export interface QjsOs {
  O_RDONLY: number;
  O_WRONLY: number;
  O_RDWR: number;
  O_CREAT: number;
  O_EXCL: number;
  O_TRUNC: number;
  WNOHANG: number;
  S_IFMT: number;
  S_IFREG: number;
  S_IFDIR: number;
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): number;
  read(fd: number, buf: ArrayBuffer, pos: number, len: number): number;
  write(fd: number, buf: ArrayBuffer, pos: number, len: number): number;
  rename(from: string, to: string): number;
  remove(path: string): number;
  mkdir(path: string, mode?: number): number;
  stat(path: string): [{ mode: number; size: number } | null, number];
  exec(args: string[], opts?: {
    block?: boolean;
    usePath?: boolean;
    stdin?: number;
    stdout?: number;
    stderr?: number;
  }): number;
  waitpid(pid: number, options: number): [number, number];
  pipe(): [number, number] | null;
  kill(pid: number, sig: number): number;
  setReadHandler(fd: number, fn: (() => void) | null): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  sleep(ms: number): void;
  getpid(): number;
}

interface QjsGlobals {
  std?: QjsStd;
  os?: QjsOs;
  scriptArgs?: string[];
}

/** Whether this is `qjs --std` (the router's engine). */
export function isQjs(): boolean {
  const g = globalThis as unknown as QjsGlobals;
  return typeof g.std === "object" && typeof g.os === "object";
}

/** An ArrayBuffer holding exactly these bytes. */
function toBuffer(data: Uint8Array): ArrayBuffer {
  const ab = new ArrayBuffer(data.length);
  new Uint8Array(ab).set(data);
  return ab;
}

/** errno names for the failures a control-file write reports (Linux numbers). */
/** errno EEXIST (the same number on every Linux architecture OpenWrt runs on). */
const EEXIST = 17;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 7: "E2BIG", 12: "ENOMEM", 13: "EACCES", 16: "EBUSY", 17: "EEXIST",
  21: "EISDIR", 22: "EINVAL", 28: "ENOSPC", 30: "EROFS", 95: "EOPNOTSUPP",
};

/** An errno as Node names it (`EINVAL`), for identical messages on both hosts. */
function errnoName(n: number): string {
  return ERRNO_NAMES[n] ?? `errno ${n}`;
}

/** Decodes a raw wait status (waitpid) like qjs's os.exec does. */
function exitStatus(status: number): number {
  if ((status & 0x7f) === 0) return (status >> 8) & 0xff;
  return -(status & 0x7f);
}

/** Creates the QuickJS host from the `std`/`os` globals. */
export function createQjsHost(): Host {
  const g = globalThis as unknown as QjsGlobals;
  const std = g.std as QjsStd;
  const os = g.os as QjsOs;
  let tmpCounter = 0;
  const timers = new Map<number, unknown>();
  let timerId = 0;

  const readFd = (fd: number): Uint8Array => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const ab = new ArrayBuffer(65536);
    for (;;) {
      const n = os.read(fd, ab, 0, ab.byteLength);
      if (n <= 0) break;
      chunks.push(new Uint8Array(ab.slice(0, n)));
      total += n;
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  };

  const writeAll = (fd: number, data: Uint8Array): boolean => {
    const ab = toBuffer(data);
    let off = 0;
    while (off < data.length) {
      const n = os.write(fd, ab, off, data.length - off);
      if (n <= 0) return false;
      off += n;
    }
    return true;
  };

  const isFile = (path: string, exec: boolean): boolean => {
    const [st, err] = os.stat(path);
    if (err !== 0 || !st) return false;
    if ((st.mode & os.S_IFMT) !== os.S_IFREG) return false;
    return !exec || (st.mode & 0o111) !== 0;
  };

  const tmpName = (hint: string) => `/tmp/.natnow.${os.getpid()}.${tmpCounter++}.${hint}`;

  /**
   * Starts a command with its output going to temporary files, not pipes (a
   * command printing more than a pipe holds can never block on us): its
   * result when it could not start or `block` ran it to the end, else a
   * `finish` that waits for it and reads what it printed.
   */
  const start = (argv: string[], input: string | undefined, block: boolean): ExecResult | { finish(): ExecResult } => {
    const prog = host.findProgram(argv[0]);
    if (!prog) return { status: 127, stdout: "", stderr: `cannot run '${argv[0]}': not found\n` };
    const names = [tmpName("in"), tmpName("out"), tmpName("err")];
    const fds = names.map((n) => os.open(n, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600));
    const cleanup = () => {
      for (const fd of fds) if (fd >= 0) os.close(fd);
      for (const n of names) os.remove(n);
    };
    if (fds.some((fd) => fd < 0)) {
      cleanup();
      return { status: 127, stdout: "", stderr: `cannot run '${argv[0]}': no temporary file\n` };
    }
    if (input !== undefined) {
      writeAll(fds[0], utf8Encode(input));
      os.close(fds[0]);
      fds[0] = os.open(names[0], os.O_RDONLY);
    }
    const text = (i: number) => {
      os.close(fds[i]);
      fds[i] = os.open(names[i], os.O_RDONLY);
      return utf8Decode(readFd(fds[i]));
    };
    const opts = { block, usePath: false, stdin: fds[0], stdout: fds[1], stderr: fds[2] };
    const ret = os.exec([prog, ...argv.slice(1)], opts);
    const finish = (status: number): ExecResult => {
      try {
        return { status, stdout: text(1), stderr: text(2) };
      } finally {
        cleanup();
      }
    };
    if (block) return finish(ret);
    return {
      finish() {
        const [pid, st] = os.waitpid(ret, 0);
        return finish(pid < 0 ? 127 : exitStatus(st));
      },
    };
  };

  const host: Host = {
    kind: "qjs",
    args: () => (g.scriptArgs ?? []).slice(1),
    readFile(path) {
      const fd = os.open(path, os.O_RDONLY);
      if (fd < 0) return null;
      try {
        return readFd(fd);
      } finally {
        os.close(fd);
      }
    },
    exists(path) {
      return os.stat(path)[1] === 0;
    },
    writeFileAtomic(path, data) {
      const tmp = `${path}.tmp.${os.getpid()}`;
      const fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644);
      if (fd < 0) throw new Error(`cannot write '${tmp}': error ${-fd}`);
      const ok = writeAll(fd, data);
      os.close(fd);
      if (!ok) {
        os.remove(tmp);
        throw new Error(`cannot write '${tmp}'`);
      }
      const r = os.rename(tmp, path);
      if (r !== 0) {
        os.remove(tmp);
        throw new Error(`cannot rename '${tmp}' to '${path}': error ${-r}`);
      }
    },
    createExclusive(path, data) {
      const fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644);
      if (fd === -EEXIST) return false;
      if (fd < 0) throw new Error(`cannot create '${path}': ${errnoName(-fd)}`);
      const ok = writeAll(fd, data);
      os.close(fd);
      if (!ok) throw new Error(`cannot write '${path}'`);
      return true;
    },
    writeControl(path, chunks) {
      const fd = os.open(path, os.O_WRONLY);
      if (fd < 0) return `'${path}': ${errnoName(-fd)}`;
      try {
        for (const c of chunks) {
          const data = utf8Encode(c);
          const n = os.write(fd, toBuffer(data), 0, data.length);
          if (n < 0) return `'${path}': ${errnoName(-n)}`;
        }
        return null;
      } finally {
        os.close(fd);
      }
    },
    removeFile(path) {
      os.remove(path);
    },
    makeDirs(path) {
      let cur = "";
      for (const part of path.split("/")) {
        cur = cur === "" && path.startsWith("/") ? `/${part}` : cur ? `${cur}/${part}` : part;
        if (part === "") continue;
        os.mkdir(cur, 0o755);
      }
    },
    writeStdout(data) {
      std.out.write(toBuffer(data), 0, data.length);
      std.out.flush();
    },
    writeStderr(data) {
      std.err.write(toBuffer(data), 0, data.length);
      std.err.flush();
    },
    exit(code) {
      std.out.flush();
      std.err.flush();
      std.exit(code);
    },
    getenv: (name) => std.getenv(name) ?? null,
    findProgram(name) {
      if (name.indexOf("/") >= 0) return isFile(name, true) ? name : null;
      for (const dir of (std.getenv("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
        const p = `${dir || "."}/${name}`;
        if (isFile(p, true)) return p;
      }
      return null;
    },
    exec(argv: string[], opts: ExecOptions = {}): ExecResult {
      const run = start(argv, opts.input, true);
      return "status" in run ? run : run.finish();
    },
    execAll(argvs) {
      const runs = argvs.map((argv) => start(argv, undefined, false));
      return runs.map((run) => ("status" in run ? run : run.finish()));
    },
    spawnLines(argv, onLine, onExit): LineStream {
      const prog = host.findProgram(argv[0]);
      let stopped = false;
      if (!prog) {
        host.setTimeout(() => onExit(127), 0);
        return { stop() {} };
      }
      const p = os.pipe();
      if (!p) {
        host.setTimeout(() => onExit(127), 0);
        return { stop() {} };
      }
      const [r, w] = p;
      const pid = os.exec([prog, ...argv.slice(1)], { block: false, usePath: false, stdout: w });
      os.close(w);
      let pending = new Uint8Array(0);
      const buf = new ArrayBuffer(16384);
      // reap without blocking the event loop: a child may close its output
      // a little before it exits
      const reap = () => {
        const [done, st] = os.waitpid(pid, os.WNOHANG);
        if (done === 0) {
          os.setTimeout(reap, 10);
          return;
        }
        if (!stopped) onExit(done < 0 ? 127 : exitStatus(st));
      };
      const finish = () => {
        os.setReadHandler(r, null);
        os.close(r);
        if (pending.length && !stopped) onLine(utf8Decode(pending));
        reap();
      };
      os.setReadHandler(r, () => {
        const n = os.read(r, buf, 0, buf.byteLength);
        if (n <= 0) return finish();
        const chunk = new Uint8Array(buf.slice(0, n));
        const all = new Uint8Array(pending.length + n);
        all.set(pending);
        all.set(chunk, pending.length);
        let start = 0;
        for (let i = 0; i < all.length; i++) {
          if (all[i] === 0x0a) {
            if (!stopped) onLine(utf8Decode(all.subarray(start, i)));
            start = i + 1;
          }
        }
        pending = all.slice(start);
      });
      return {
        stop() {
          if (stopped) return;
          stopped = true;
          os.kill(pid, 15);
        },
      };
    },
    setTimeout(fn, ms) {
      const id = ++timerId;
      timers.set(id, os.setTimeout(() => {
        timers.delete(id);
        fn();
      }, ms));
      return id;
    },
    clearTimeout(id) {
      const h = timers.get(id);
      if (h !== undefined) os.clearTimeout(h);
      timers.delete(id);
    },
    time: () => Date.now(),
    now: () => os.now(),
    sleep: (ms) => os.sleep(ms),
    pid: () => os.getpid(),
    log: (message) => syslogLine(host, message),
  };
  return host;
}
