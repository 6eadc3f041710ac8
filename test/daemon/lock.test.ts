/** One run at a time: the lock file under the state directory. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LOCK_FILE, tryLock, unlock, withLock } from "../../src/daemon/lock.ts";
import { createNodeHost } from "../../src/host/node.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "natnow-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the run lock", () => {
  it("is taken once, holds this process's pid, and is released", async () => {
    const h = await createNodeHost();
    expect(tryLock(h, dir)).toBe(true);
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(`${process.pid}\n`);
    unlock(h, dir);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
  it("is not taken while a living process holds it, and is taken over from a dead one", async () => {
    const h = await createNodeHost();
    writeFileSync(join(dir, LOCK_FILE), "1\n"); // init: alive
    expect(tryLock(h, dir)).toBe(false);
    unlock(h, dir); // not ours: left alone
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe("1\n");
    writeFileSync(join(dir, LOCK_FILE), "4194305\n"); // above pid_max: no such process
    expect(tryLock(h, dir)).toBe(true);
    writeFileSync(join(dir, LOCK_FILE), "garbage");
    expect(tryLock(h, dir)).toBe(true);
  });
  it("withLock waits, then gives up with null, running nothing", async () => {
    const h = await createNodeHost();
    writeFileSync(join(dir, LOCK_FILE), "1\n");
    let ran = false;
    const t0 = Date.now();
    expect(withLock(h, dir, 300, () => (ran = true))).toBeNull();
    expect(ran).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    rmSync(join(dir, LOCK_FILE));
    expect(withLock(h, dir, 300, () => 42)).toBe(42);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});
