// The README's examples, run: each ```sh block with `$Q --std -m
// dist/natnow.js ...` lines is followed by a plain ``` block holding what
// they print. `--write` refreshes those blocks from the real output (after
// `npm run build`); the unit test test/docs/readme.test.ts checks them, so
// the examples cannot drift from what natnow prints. Timings ("in 40 ms")
// are compared as numbers of any value.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const readme = join(root, "README.md");
const FENCE = /^```(\w*)\n([\s\S]*?)^```\n/gm;
const CMD = /^\$Q --std -m dist\/natnow\.js /;

/** The examples: the command lines (continuations joined) and the output block's place in the text. */
export function examples(text = readFileSync(readme, "utf8")) {
  const blocks = [...text.matchAll(FENCE)].map((m) => ({ lang: m[1], body: m[2], start: m.index, end: m.index + m[0].length }));
  const out = [];
  for (let i = 0; i + 1 < blocks.length; i++) {
    const [cmd, shown] = [blocks[i], blocks[i + 1]];
    if (cmd.lang !== "sh" || shown.lang !== "" || text.slice(cmd.end, shown.start).trim() !== "") continue;
    const lines = cmd.body.replace(/\\\n\s*/g, "").split("\n").filter((l) => CMD.test(l));
    if (lines.length) out.push({ commands: lines, shown: shown.body, at: shown.start, end: shown.end });
  }
  return out;
}

/** Splits a command line the way sh would for these plain words. */
function words(line) {
  return line.trim().split(/\s+/).slice(1);
}

/** What the commands print, run in the router's engine ($NATNOW_QJS or setup.sh's qjs) from the checkout. */
export function run(commands) {
  const qjs = process.env.NATNOW_QJS ?? join(process.env.NATNOW_CACHE ?? "/var/cache/natnow", "tools", "qjs");
  let printed = "";
  for (const c of commands) {
    try {
      printed += execFileSync(qjs, words(c), { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      printed += e.stdout ?? "";
    }
  }
  return printed;
}

/** The text with its timings masked, for comparing. */
export const masked = (s) => s.replace(/\b[0-9]+ ms\b/g, "N ms");

if (process.argv[2] === "--write") {
  let text = readFileSync(readme, "utf8");
  for (const ex of examples(text).reverse()) {
    text = `${text.slice(0, ex.at)}\`\`\`\n${run(ex.commands)}\`\`\`\n${text.slice(ex.end)}`;
  }
  writeFileSync(readme, text);
} else if (process.argv[2] === "--check") {
  let bad = 0;
  for (const ex of examples()) {
    if (masked(run(ex.commands)) !== masked(ex.shown)) {
      bad++;
      console.error(`README example out of date: ${ex.commands[0]}`);
    }
  }
  process.exit(bad ? 1 : 0);
}
