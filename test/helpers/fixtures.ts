/** Paths and loaders for test fixtures. */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root directory. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Absolute path of a file under test/fixtures. */
export function fixturePath(...parts: string[]): string {
  return join(repoRoot, "test", "fixtures", ...parts);
}

/** Raw bytes of a fixture file. */
export function fixtureBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(...parts)));
}

/** A fixture file as text. */
export function fixtureText(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), "utf8");
}

/** A fixture file as a byte string (latin1: one char per byte). */
export function fixtureBinary(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), "latin1");
}

/** Names of the real-world config fixtures (test/fixtures/configs/NN-name). */
export function configFixtures(): string[] {
  return readdirSync(fixturePath("configs")).filter((d) => /^\d\d-/.test(d)).sort();
}
