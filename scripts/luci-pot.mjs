#!/usr/bin/env node
// Writes luci/luci-app-natnow/po/templates/natnow.pot: every string the
// view passes to _() and the menu titles, in the gettext template format
// LuCI's i18n-scan.pl writes (msgid per string, source references).
import { readFileSync, writeFileSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const app = join(root, "luci", "luci-app-natnow");
const view = join(app, "htdocs/luci-static/resources/view/natnow/instant.js");
const menu = join(app, "root/usr/share/luci/menu.d/luci-app-natnow.json");

/** The strings of _('...') calls, in order of first use, with their lines. */
export function translatable(source) {
  const out = new Map();
  const re = /_\('((?:[^'\\]|\\.)*)'\)/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    const s = m[1].replace(/\\'/g, "'").replace(/\\\\/g, "\\");
    const line = source.slice(0, m.index).split("\n").length;
    if (!out.has(s)) out.set(s, []);
    out.get(s).push(line);
  }
  return out;
}

const quote = (s) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
const strings = translatable(readFileSync(view, "utf8"));
const rel = relative(app, view);
for (const item of Object.values(JSON.parse(readFileSync(menu, "utf8")))) {
  if (!strings.has(item.title)) strings.set(item.title, []);
}
let pot = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';
for (const [s, lines] of [...strings].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
  pot += "\n";
  for (const l of lines) pot += `#: ${rel}:${l}\n`;
  if (!lines.length) pot += `#: ${relative(app, menu)}:3\n`;
  pot += `msgid ${quote(s)}\nmsgstr ""\n`;
}
if (process.argv[2] !== "--check") writeFileSync(join(app, "po/templates/natnow.pot"), pot);
else if (readFileSync(join(app, "po/templates/natnow.pot"), "utf8") !== pot) {
  console.error("natnow.pot is out of date: run node scripts/luci-pot.mjs");
  process.exit(1);
}
console.log(`${strings.size} strings`);
