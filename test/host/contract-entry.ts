/** Bundled and run inside the QuickJS engine: the contract against the QuickJS host. */
import { createQjsHost } from "../../src/host/qjs.ts";
import { utf8Encode } from "../../src/base/utf8.ts";
import { runContract } from "./contract.ts";

const host = createQjsHost();
const dir = host.getenv("NATNOW_CONTRACT_DIR") ?? "/tmp";
runContract(host, dir).then((res) => {
  host.writeStdout(utf8Encode(JSON.stringify(res)));
  host.exit(0);
});
