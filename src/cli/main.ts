/** natnow's entry point: the same bundle runs under `qjs --std` and `node`. */

import { createHost } from "../host/index.ts";
import { utf8Encode } from "../base/utf8.ts";
import { run } from "./run.ts";
import { EXIT_SOFTWARE } from "../base/exit.ts";

void createHost().then((host) => {
  let code: number | null;
  try {
    code = run(host, host.args());
  } catch (e) {
    const msg = e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e);
    host.writeStderr(utf8Encode(`natnow: internal error: ${msg}\n`));
    code = EXIT_SOFTWARE;
  }
  // null: a service that goes on running on its event loop (the daemon)
  if (code !== null) host.exit(code);
});
