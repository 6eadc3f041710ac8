/** `natnow uci show|export`: libuci's CLI output for one file. */

import type { Host } from "../host/host.ts";
import { parseUci, validatePackage } from "../uci/parse.ts";
import { exportPackage, showPackage } from "../uci/print.ts";
import { UciParseError } from "../uci/types.ts";
import { parseArgs, UsageError } from "./args.ts";
import { err, outBytes } from "./output.ts";

/** Usage of the `uci` command. */
export const UCI_USAGE = "natnow uci show [-X] --file PATH | natnow uci export --file PATH";

/** Runs `natnow uci ...`; returns the exit status. Errors are printed like the `uci` CLI prints them. */
export function uciCommand(host: Host, argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub !== "show" && sub !== "export") throw new UsageError(`unknown uci command '${sub ?? ""}'`);
  const { options, positional } = parseArgs(rest, {
    "-X": { value: false },
    "--file": { value: true },
  });
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const file = options["--file"];
  if (typeof file !== "string") throw new UsageError("--file PATH is required");
  if (sub === "export" && options["-X"]) throw new UsageError("-X goes with show only");
  const name = file.slice(file.lastIndexOf("/") + 1);
  // libuci asserts a valid package name (UCI_ERR_INVAL), then reports a
  // missing file as UCI_ERR_NOTFOUND
  if (!validatePackage(name)) {
    err(host, "uci: Invalid argument\n");
    return 1;
  }
  const bytes = host.readFile(file);
  if (bytes === null) {
    err(host, "uci: Entry not found\n");
    return 1;
  }
  try {
    const pkg = parseUci(bytes, name);
    outBytes(host, sub === "show" ? showPackage(pkg, !options["-X"]) : exportPackage(pkg));
    return 0;
  } catch (e) {
    if (!(e instanceof UciParseError)) throw e;
    err(host, `uci: ${e.message}\n`);
    return 1;
  }
}
