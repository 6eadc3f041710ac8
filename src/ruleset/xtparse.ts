/**
 * `iptables-save` text (iptables-nft-save, ip6tables-nft-save, the legacy
 * ones) as tables, chains and rules in order, each rule's arguments split
 * the way iptables-restore splits them: words separated by blanks, `"`
 * quoting, `\` escaping the next character inside quotes (xtables'
 * save_string quotes a comment with blanks or quotes and escapes `"`, `'`
 * and `\`). Nothing is interpreted here beyond the argument structure:
 * the addresses, interfaces and protocol iptables itself matches, each
 * `-m` match with its options, and the target.
 */

/** Why save text could not be read. */
export class XtSaveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XtSaveError";
  }
}

/** One word of a rule line, and whether it was quoted (a quoted word is always a value). */
interface Word {
  text: string;
  quoted: boolean;
}

/** One `--option value...` of a match or target, with a `!` before it. */
export interface XtOption {
  name: string;
  neg: boolean;
  values: string[];
}

/** A `-m name` match or the `-j name` target with its options. */
export interface XtExtension {
  name: string;
  options: XtOption[];
}

/** A match iptables itself does (`-s`, `-d`, `-i`, `-o`, `-p`), with `!`. */
export interface XtBasic {
  value: string;
  neg: boolean;
}

/** One rule as iptables-save printed it. */
export interface XtRule {
  chain: string;
  /** Position in its chain, from 0 (nft lists a chain's rules in the same order). */
  index: number;
  src: XtBasic | null;
  dst: XtBasic | null;
  iif: XtBasic | null;
  oif: XtBasic | null;
  proto: XtBasic | null;
  /** `-f` (or `! -f`): nft shows the fragment test natively. */
  fragment: boolean;
  matches: XtExtension[];
  /** `-j NAME` (its options) or `-g CHAIN`; null when the rule has neither. */
  target: (XtExtension & { goto: boolean }) | null;
  /** The line as printed, for messages. */
  line: string;
}

/** One table of the save output. */
export interface XtTable {
  name: string;
  /** Chains in the order printed (built-in ones first). */
  chains: string[];
  rules: XtRule[];
}

/** A save output: the tables it printed, and those it calls incompatible (nft-only expressions). */
export interface XtSave {
  /** `ip` (iptables-save) or `ip6` (ip6tables-save), from the header when there is one. */
  family: "ip" | "ip6" | null;
  tables: XtTable[];
  /** Tables iptables-nft-save would not print ("Table `nat' is incompatible, use 'nft' tool."). */
  incompatible: string[];
}

/** Splits a rule line into words as iptables-restore does. */
export function splitWords(line: string, what: string): Word[] {
  const out: Word[] = [];
  let cur = "";
  let inWord = false;
  let quoted = false;
  let inQuote = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === "\\" && i + 1 < line.length) {
        cur += line[++i];
      } else if (c === '"') {
        inQuote = false;
      } else {
        cur += c;
      }
      continue;
    }
    if (c === '"') {
      inQuote = true;
      inWord = true;
      quoted = true;
    } else if (c === " " || c === "\t") {
      if (inWord) out.push({ text: cur, quoted });
      cur = "";
      inWord = false;
      quoted = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inQuote) throw new XtSaveError(`${what}: unterminated quote`);
  if (inWord) out.push({ text: cur, quoted });
  return out;
}

const BASIC: Record<string, "src" | "dst" | "iif" | "oif" | "proto"> = {
  "-s": "src", "--source": "src", "-d": "dst", "--destination": "dst",
  "-i": "iif", "--in-interface": "iif", "-o": "oif", "--out-interface": "oif", "-p": "proto", "--protocol": "proto",
};

/** Whether a word starts the next part of a rule (a new match, the target, a basic match). */
function isPart(w: Word): boolean {
  return !w.quoted && (w.text === "-m" || w.text === "--match" || w.text === "-j" || w.text === "--jump" ||
    w.text === "-g" || w.text === "--goto" || w.text in BASIC || w.text === "-f" || w.text === "--fragment");
}

/** Reads one `-A CHAIN ...` line (without the `-A`). */
function parseRule(words: Word[], index: number, line: string, what: string): XtRule {
  const chain = words[0].text;
  const rule: XtRule = {
    chain, index, src: null, dst: null, iif: null, oif: null, proto: null, fragment: false, matches: [], target: null, line,
  };
  let neg = false;
  let ext: XtExtension | null = null;
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (!w.quoted && w.text === "!") {
      if (neg) throw new XtSaveError(`${what}: '!' twice`);
      neg = true;
      continue;
    }
    if (!w.quoted && w.text in BASIC) {
      const v = words[++i];
      if (!v) throw new XtSaveError(`${what}: ${w.text} without a value`);
      rule[BASIC[w.text]] = { value: v.text, neg };
      neg = false;
      ext = null;
      continue;
    }
    if (!w.quoted && (w.text === "-f" || w.text === "--fragment")) {
      rule.fragment = true;
      neg = false;
      ext = null;
      continue;
    }
    if (!w.quoted && (w.text === "-m" || w.text === "--match" || w.text === "-j" || w.text === "--jump" ||
      w.text === "-g" || w.text === "--goto")) {
      const v = words[++i];
      if (!v) throw new XtSaveError(`${what}: ${w.text} without a name`);
      if (neg) throw new XtSaveError(`${what}: '!' before ${w.text}`);
      ext = { name: v.text, options: [] };
      if (w.text === "-m" || w.text === "--match") rule.matches.push(ext);
      else {
        if (rule.target) throw new XtSaveError(`${what}: two targets`);
        rule.target = { ...ext, goto: w.text === "-g" || w.text === "--goto" };
        ext = rule.target;
      }
      continue;
    }
    if (!w.quoted && w.text.startsWith("--") && ext) {
      const values: string[] = [];
      while (i + 1 < words.length && (words[i + 1].quoted || !(words[i + 1].text.startsWith("--") ||
        words[i + 1].text === "!" || isPart(words[i + 1])))) {
        values.push(words[++i].text);
      }
      ext.options.push({ name: w.text, neg, values });
      neg = false;
      continue;
    }
    throw new XtSaveError(`${what}: unexpected '${w.text}'`);
  }
  if (neg) throw new XtSaveError(`${what}: '!' at the end`);
  return rule;
}

/**
 * Parses iptables-save output: every `*table` up to its COMMIT. Lines are
 * checked for shape; a line that is not a comment, chain, rule or COMMIT
 * is an error with its line number.
 */
export function parseXtSave(text: string): XtSave {
  const out: XtSave = { family: null, tables: [], incompatible: [] };
  let table: XtTable | null = null;
  const counts = new Map<string, number>();
  text.split("\n").forEach((raw, n) => {
    const line = raw.replace(/\r$/, "");
    const where = `line ${n + 1}`;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const gen = /^# Generated by (ip6?)tables-/.exec(line);
      if (gen) out.family = gen[1] === "ip6" ? "ip6" : "ip";
      const inc = /^# Table `([^']*)' is incompatible/.exec(line);
      if (inc) out.incompatible.push(inc[1]);
      return;
    }
    if (line.startsWith("*")) {
      if (table) throw new XtSaveError(`${where}: table '${line.slice(1)}' before COMMIT of '${table.name}'`);
      table = { name: line.slice(1).trim(), chains: [], rules: [] };
      counts.clear();
      return;
    }
    if (!table) throw new XtSaveError(`${where}: outside a table`);
    if (line === "COMMIT") {
      out.tables.push(table);
      table = null;
      return;
    }
    if (line.startsWith(":")) {
      const name = line.slice(1).split(" ")[0];
      if (!name) throw new XtSaveError(`${where}: chain without a name`);
      table.chains.push(name);
      return;
    }
    // `-c` counters come first when asked for (`[p:b] -A ...`)
    const body = line.replace(/^\[[0-9]+:[0-9]+\] /, "");
    if (!body.startsWith("-A ")) throw new XtSaveError(`${where}: unexpected '${line.slice(0, 40)}'`);
    const words = splitWords(body.slice(3), `${table.name} ${where}`);
    if (!words.length) throw new XtSaveError(`${where}: -A without a chain`);
    const chain = words[0].text;
    if (table.chains.indexOf(chain) < 0) throw new XtSaveError(`${where}: chain '${chain}' was not declared`);
    const index = counts.get(chain) ?? 0;
    counts.set(chain, index + 1);
    table.rules.push(parseRule(words, index, body, `${table.name} ${chain} rule ${index + 1}`));
  });
  if (table !== null) throw new XtSaveError(`table '${(table as XtTable).name}' has no COMMIT`);
  return out;
}
