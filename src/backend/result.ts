/** What a backend reports after carrying out a plan. */

/** The backends natnow has. */
export type BackendName = "kmod" | "conntrack" | "procfs";

/** What an apply did, in counts; `errors` says what went wrong, each with its context. */
export interface BackendResult {
  backend: BackendName;
  /** Flows some selector chose (for kmod: renew scopes armed, flows killed). */
  matched: number;
  renewed: number;
  revoked: number;
  /** Chosen flows that were gone before their delete (done, not failed). */
  gone: number;
  failed: number;
  /** Entries destroyed that no selector chose (procfs by address; a race with a new entry). */
  collateral: number;
  /** Renew scopes armed in the kernel module (it renews their flows as packets come). */
  armed: number;
  /** The commands written (kmod) or that would be (a dry run). */
  commands: string[];
  errors: string[];
}

/** A result with nothing done yet. */
export function emptyResult(backend: BackendName): BackendResult {
  return { backend, matched: 0, renewed: 0, revoked: 0, gone: 0, failed: 0, collateral: 0, armed: 0, commands: [], errors: [] };
}
