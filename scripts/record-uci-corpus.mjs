#!/usr/bin/env node
// Records what a real `uci` binary (libuci's CLI) prints for a corpus of
// generated config files, as test/fixtures/uci/libuci-corpus.json. Run it
// where a real `uci` is on PATH (an OpenWrt device, or libuci built locally);
// the tests then hold natnow's parser and printers to those recordings.
//
//   node scripts/record-uci-corpus.mjs [SEED] [COUNT] > test/fixtures/uci/libuci-corpus.json

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const atoms = [
  "config", "c", "option", "o", "list", "l", "package", "p", "zone", "'a b'", '"x\\"y"',
  "'", '"', "\\", "\\\n", ";", " ; ", "#", "# c", " ", "\t", "\n", "\r\n", "\r", "name",
  "lan", "'it'\\''s'", "''", '""', "foo", "a-b", "a.b", "@x", "cfg01e63d", "x;y",
  '"multi\nline"', "'m\nl'", "\v", "\u00e9", "\\x", "o\\", "opt", "configx",
];
let seed = Number(process.argv[2] ?? 1);
const count = Number(process.argv[3] ?? 400);
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return (seed >>> 16) % n;
};
const pick = (a) => a[rnd(a.length)];

function generate() {
  let s = "";
  const lines = 1 + rnd(8);
  for (let i = 0; i < lines; i++) {
    const kind = i === 0 && rnd(8) ? 0 : rnd(10);
    if (kind < 3) {
      s += `config ${pick(["zone", "rule", "a", "b"])}`;
      if (rnd(2)) s += " " + pick(["'n'", "n", "''", "m", "'n' ;"]);
    } else if (kind < 7) {
      s += `\t${pick(["option", "list", "o", "l"])} ${pick(["x", "y", "name", "z"])} `;
      s += pick(["'v'", "w", "''", "'a b'", '"q"', "a;option y 2", "'a';option y 2", "'a' ; option y 2"]);
    }
    const extra = rnd(3) ? 0 : 1 + rnd(3);
    for (let j = 0; j < extra; j++) s += pick(atoms);
    s += rnd(10) ? "\n" : "";
  }
  return s;
}

function uci(dir, args) {
  const r = spawnSync("uci", ["-c", dir, ...args], { encoding: "latin1" });
  if (r.error) throw new Error(`cannot run uci: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const dir = mkdtempSync(join(tmpdir(), "uci-corpus-"));
try {
  const cases = [];
  for (let i = 0; i < count; i++) {
    const input = generate();
    writeFileSync(join(dir, "t"), input, "utf8");
    cases.push({
      input,
      show: uci(dir, ["show", "t"]),
      showX: uci(dir, ["-X", "show", "t"]),
      export: uci(dir, ["export", "t"]),
    });
  }
  process.stdout.write(JSON.stringify({ package: "t", encoding: "latin1", cases }, null, 1) + "\n");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
