/**
 * Table of libuci parser rules: each input with what `uci show` prints for
 * it, or libuci's error. Every row was checked against libuci's own `uci`
 * (openwrt/uci 66127cd) when it was written.
 */
export interface UciCase {
  rule: string;
  input: string;
  /** `uci show t` output, or `error` with libuci's stderr line. */
  show?: string;
  error?: string;
}

export const uciCases: UciCase[] = [
  // commands and their one-letter forms
  { rule: "config/option long forms", input: "config a 'n'\n\toption x 'y'\n", show: "t.n=a\nt.n.x='y'\n" },
  { rule: "one-letter forms", input: "c a 'n'\n\to x 'y'\n\tl z '1'\n", show: "t.n=a\nt.n.x='y'\nt.n.z='1'\n" },
  { rule: "package line is validated then ignored", input: "package t\nconfig a\n", show: "t.@a[0]=a\n" },
  { rule: "package of another name is ignored too", input: "package other\nconfig a\n", show: "t.@a[0]=a\n" },
  { rule: "package with invalid name", input: "package 'a b'\n", error: "Parse error (invalid character in name field) at line 1, byte 14" },
  { rule: "package without name at EOF", input: "package", error: "Parse error (package without name) at line 0, byte 0" },
  { rule: "unknown command", input: "config a\nfoo bar\n", error: "Parse error (invalid command) at line 2, byte 0" },
  { rule: "command word must end at a space or tab", input: "config\n", error: "Parse error (invalid command) at line 1, byte 0" },
  { rule: "command word with CR", input: "config a\r\noption\r\n", error: "Parse error (invalid command) at line 2, byte 0" },
  { rule: "prefix of a command is invalid", input: "conf a\n", error: "Parse error (invalid command) at line 1, byte 0" },
  // quoting
  { rule: "single quotes keep backslashes", input: "config a n\n\toption x 'a\\b'\n", show: "t.n=a\nt.n.x='a\\b'\n" },
  { rule: "double quotes take backslash escapes", input: "config a n\n\toption x \"a\\\"b\\\\c\\d\"\n", show: "t.n=a\nt.n.x='a\"b\\cd'\n" },
  { rule: "unquoted backslash escapes", input: "config a n\n\toption x a\\ b\n", show: "t.n=a\nt.n.x='a b'\n" },
  { rule: "quote concatenation", input: "config a n\n\toption x 'a'\"b\"c'd e'\n", show: "t.n=a\nt.n.x='abcd e'\n" },
  { rule: "the '\\'' idiom", input: "config a n\n\toption x 'it'\\''s'\n", show: "t.n=a\nt.n.x='it'\\''s'\n" },
  { rule: "unterminated single quote", input: "config a n\n\toption x 'abc\n", error: "Parse error (EOF with unterminated ') at line 2, byte 15" },
  { rule: "unterminated double quote", input: "config a n\n\toption x \"abc\n", error: "Parse error (EOF with unterminated \") at line 2, byte 15" },
  // line continuation and multi-line strings
  { rule: "backslash-newline continues unquoted", input: "config a n\n\toption x ab\\\ncd\n", show: "t.n=a\nt.n.x='abcd'\n" },
  { rule: "backslash-CRLF continues", input: "config a n\r\n\toption x ab\\\r\ncd\r\n", show: "t.n=a\nt.n.x='abcd'\n" },
  { rule: "continuation into whitespace ends the word", input: "config a n\n\toption x ab\\\n  cd\n", error: "Parse error (too many arguments) at line 3, byte 18" },
  { rule: "backslash-newline continues a double-quoted string", input: "config a n\n\toption x \"ab\\\ncd\"\n", show: "t.n=a\nt.n.x='abcd'\n" },
  { rule: "multi-line single-quoted value keeps newlines", input: "config a n\n\toption x 'ab\ncd'\n", show: "t.n=a\nt.n.x='ab\ncd'\n" },
  { rule: "multi-line double-quoted value keeps newlines", input: "config a n\n\toption x \"ab\ncd\"\n", show: "t.n=a\nt.n.x='ab\ncd'\n" },
  { rule: "error line counts a multi-line value", input: "config a n\n\toption x 'a\nb\nc' d\n", error: "Parse error (too many arguments) at line 4, byte 20" },
  // comments
  { rule: "comment lines", input: "# hello\nconfig a n # trailing\n\t# x\n\toption x y#z\n", show: "t.n=a\nt.n.x='y'\n" },
  { rule: "# inside quotes is data", input: "config a n\n\toption x 'y#z'\n", show: "t.n=a\nt.n.x='y#z'\n" },
  // the ; rule
  { rule: "; after a space separates commands", input: "config a n ; option x y ; option z w\n", show: "t.n=a\nt.n.x='y'\nt.n.z='w'\n" },
  { rule: "; after a quote separates commands", input: "config a 'n'; option x 'y'; option z w\n", show: "t.n=a\nt.n.x='y'\nt.n.z='w'\n" },
  { rule: "unquoted a; swallows the rest of the line", input: "config a n\n\toption x y;option z w\n", show: "t.n=a\nt.n.x='y'\n" },
  { rule: "; then a newline is an invalid command", input: "config a 'n' ;\n", error: "Parse error (invalid command) at line 1, byte 14" },
  // CRLF and whitespace
  { rule: "CRLF line ends", input: "config a n\r\n\toption x y\r\n\toption z 'w'\r\n", show: "t.n=a\nt.n.x='y'\nt.n.z='w'\n" },
  { rule: "vertical tab and form feed are whitespace", input: "config a n\n\v\f option x y\n", show: "t.n=a\nt.n.x='y'\n" },
  { rule: "no newline at EOF", input: "config a n\n\toption x y", show: "t.n=a\nt.n.x='y'\n" },
  { rule: "error on an unterminated last line reports the line before", input: "config a n\n\toption x y z", error: "Parse error (too many arguments) at line 1, byte 13" },
  // empty values
  { rule: "empty option value is ignored", input: "config a n\n\toption x ''\n\toption y\n", show: "t.n=a\n" },
  { rule: "empty option value does not delete", input: "config a n\n\toption x 'v'\n\toption x ''\n", show: "t.n=a\nt.n.x='v'\n" },
  { rule: "empty list item is kept", input: "config a n\n\tlist x ''\n\tlist x 'b'\n", show: "t.n=a\nt.n.x='' 'b'\n" },
  // overwrite and conversion
  { rule: "option overwrites option in place", input: "config a n\n\toption x 1\n\toption y 2\n\toption x 3\n", show: "t.n=a\nt.n.x='3'\nt.n.y='2'\n" },
  { rule: "list after option converts in place", input: "config a n\n\toption x 1\n\toption y 2\n\tlist x 3\n", show: "t.n=a\nt.n.x='1' '3'\nt.n.y='2'\n" },
  { rule: "option after list replaces it in place", input: "config a n\n\tlist x 1\n\tlist x 2\n\toption y 2\n\toption x 3\n", show: "t.n=a\nt.n.x='3'\nt.n.y='2'\n" },
  { rule: "list values with spaces are quoted", input: "config a n\n\tlist x 'a b'\n\tlist x c\n", show: "t.n=a\nt.n.x='a b' 'c'\n" },
  // sections
  { rule: "repeated named section merges", input: "config a n\n\toption x 1\nconfig b m\nconfig a n\n\toption y 2\n", show: "t.n=a\nt.n.x='1'\nt.n.y='2'\nt.m=b\n" },
  { rule: "repeated name with another type", input: "config a n\nconfig b n\n", error: "Parse error (section of different type overwrites prior section with same name) at line 2, byte 11" },
  { rule: "anonymous section names use position and type hash", input: "config zone\nconfig rule\nconfig zone 'x'\nconfig zone\n", show: "t.@zone[0]=zone\nt.@rule[0]=rule\nt.x=zone\nt.@zone[2]=zone\n" },
  { rule: "empty quoted name is anonymous", input: "config a ''\n\toption x 1\n", show: "t.@a[0]=a\nt.@a[0].x='1'\n" },
  { rule: "naming a section like an anonymous one merges into it", input: "config zone\nconfig zone 'cfg01dc81'\n\toption x 1\n", show: "t.@zone[0]=zone\nt.@zone[0].x='1'\n" },
  { rule: "option before any section", input: "option x y\n", error: "Parse error (option/list command found before the first section) at line 1, byte 0" },
  { rule: "config without type", input: "config ''\n", error: "Parse error (insufficient arguments) at line 1, byte 10" },
  { rule: "config without name at EOF", input: "config", error: "Parse error (config without name) at line 0, byte 0" },
  { rule: "option without name at EOF", input: "config a\noption", error: "Parse error (option without name) at line 1, byte 0" },
  { rule: "option with empty name", input: "config a\n\toption '' x\n", error: "Parse error (insufficient arguments) at line 2, byte 11" },
  { rule: "too many arguments", input: "config a n x\n", error: "Parse error (too many arguments) at line 1, byte 13" },
  // name validation
  { rule: "section name with a dash", input: "config a 'my-zone'\n", error: "Parse error (invalid character in name field) at line 1, byte 19" },
  { rule: "option name with a dot", input: "config a n\n\toption x.y 1\n", error: "Parse error (invalid character in name field) at line 2, byte 12" },
  { rule: "type allows punctuation", input: "config a-b.c n\n", show: "t.n=a-b.c\n" },
  { rule: "type rejects non-ASCII", input: "config \u00e9\n", error: "Parse error (invalid character in type field) at line 1, byte 10" },
  { rule: "values keep UTF-8 bytes", input: "config a n\n\toption x '\u00e9t\u00e9'\n", show: "t.n=a\nt.n.x='\u00c3\u00a9t\u00c3\u00a9'\n" },
];
