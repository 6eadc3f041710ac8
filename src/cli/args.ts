/** A small strict parser for natnow's command-line options. */

/** What an option takes. */
export interface OptionSpec {
  /** true: the option takes a value (`--file PATH`). */
  value: boolean;
}

/** Parsed options and the remaining positional arguments. */
export interface ParsedArgs {
  options: Record<string, string | true>;
  positional: string[];
}

/** A usage error, shown with the command's usage line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses `--name VALUE`, `--name=VALUE`, `--flag` and short `-X` flags; unknown options are errors. */
export function parseArgs(argv: string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const options: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    const sp = spec[name];
    if (!sp) throw new UsageError(`unknown option '${name}'`);
    if (!sp.value) {
      if (eq > 0) throw new UsageError(`option '${name}' takes no value`);
      options[name] = true;
      continue;
    }
    if (eq > 0) options[name] = a.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`option '${name}' needs a value`);
      options[name] = argv[++i];
    }
  }
  return { options, positional };
}

/** The value of an option that takes one; null when it was not given. */
export function optionValue(options: ParsedArgs["options"], name: string): string | null {
  const v = options[name];
  return typeof v === "string" ? v : null;
}
