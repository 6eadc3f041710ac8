/**
 * The only door to the operating system. Everything outside `src/host/`
 * gets a Host and never touches files, processes or timers itself.
 */

/** What a finished command returned. */
export interface ExecResult {
  /** Exit status; 127 when the program could not be run; -N when killed by signal N. */
  status: number;
  stdout: string;
  stderr: string;
}

/** Options of a command run to completion. */
export interface ExecOptions {
  /** Text fed to the command's standard input. */
  input?: string;
}

/** A running command whose output is read line by line. */
export interface LineStream {
  /** Stops reading and kills the command (SIGTERM). */
  stop(): void;
}

/** The operating system, as natnow needs it. */
export interface Host {
  /** Which implementation this is. */
  readonly kind: "qjs" | "node";
  /** Command-line arguments after the script name. */
  args(): string[];
  /** A file's bytes, or null when it does not exist or cannot be read. */
  readFile(path: string): Uint8Array | null;
  /** Whether a path exists (without reading it: /proc/net/nf_conntrack can be hundreds of MB). */
  exists(path: string): boolean;
  /** Writes a file atomically (temporary file, then rename); throws on failure. */
  writeFileAtomic(path: string, data: Uint8Array): void;
  /**
   * Writes each chunk with a single write() to an existing file opened
   * write-only, without truncating or creating it: one command per write to
   * a control file such as /proc/net/natnow. Returns null, or what failed
   * (`'/proc/net/natnow': EINVAL`).
   */
  writeControl(path: string, chunks: readonly string[]): string | null;
  /**
   * Creates a file that must not exist yet (O_CREAT|O_EXCL) with `data`:
   * true when this call created it, false when it already existed; throws
   * on any other failure. What one-run-at-a-time locks are made of.
   */
  createExclusive(path: string, data: Uint8Array): boolean;
  /** Removes a file; missing is fine. */
  removeFile(path: string): void;
  /** Creates a directory and its parents; existing is fine. */
  makeDirs(path: string): void;
  /** Writes raw bytes to standard output. */
  writeStdout(data: Uint8Array): void;
  /** Writes raw bytes to standard error. */
  writeStderr(data: Uint8Array): void;
  /** Ends the program with an exit status (after pending output). */
  exit(code: number): void;
  /** An environment variable, or null. */
  getenv(name: string): string | null;
  /** Full path of a program found in PATH (or given with a slash), or null. */
  findProgram(name: string): string | null;
  /** Runs a command to completion (no shell); a missing program gives status 127. */
  exec(argv: string[], opts?: ExecOptions): ExecResult;
  /**
   * Runs commands side by side (no input) and waits for all; results in the
   * order given. What independent table walks are run with (qjs runs them
   * at once; Node one after the other).
   */
  execAll(argvs: readonly string[][]): ExecResult[];
  /** Starts a command and calls `onLine` for each line it prints, `onExit` when it ends. */
  spawnLines(argv: string[], onLine: (line: string) => void, onExit: (status: number) => void): LineStream;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(id: number): void;
  /** Blocks for `ms` milliseconds (only for short waits outside the event loop, such as a lock). */
  sleep(ms: number): void;
  /** Milliseconds from an arbitrary fixed point (monotonic where the platform allows). */
  now(): number;
  /** Wall-clock time in milliseconds since the epoch (for records, never for intervals). */
  time(): number;
  /** The process id. */
  pid(): number;
  /**
   * One line to the system log, tagged `natnow` (`logger -t natnow`, as
   * OpenWrt's services do); to standard error when there is no logger.
   */
  log(message: string): void;
}
