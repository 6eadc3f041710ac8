/** What a backend reports after carrying out a plan. */

/** The backends natnow has. */
export type BackendName = "kmod" | "conntrack" | "procfs";

/** What one change's selectors did (`revoked` null: the kernel module counts kills per run only). */
export interface ChangeCounts {
  /** The change in words, as the plan names it (`redirect 'SIP' removed`). */
  change: string;
  renewed: number;
  revoked: number | null;
  /** Renew scopes armed in the kernel module. */
  armed: number;
}

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
  /** The counts per change, in the plan's order of changes. */
  byChange: ChangeCounts[];
  /** The commands written (kmod) or that would be (a dry run). */
  commands: string[];
  errors: string[];
}

/** A result with nothing done yet. */
export function emptyResult(backend: BackendName): BackendResult {
  return { backend, matched: 0, renewed: 0, revoked: 0, gone: 0, failed: 0, collateral: 0, armed: 0, byChange: [], commands: [], errors: [] };
}

/** A change's counts in a result, added (all zero) when it has none yet. */
export function changeEntry(result: BackendResult, change: string): ChangeCounts {
  let c = result.byChange.find((x) => x.change === change);
  if (!c) {
    c = { change, renewed: 0, revoked: 0, armed: 0 };
    result.byChange.push(c);
  }
  return c;
}

/** Counts one flow (or kmod scope) for the change a selector comes from. */
export function countChange(result: BackendResult, change: string, what: "renewed" | "revoked" | "armed"): void {
  const c = changeEntry(result, change);
  c[what] = (c[what] ?? 0) + 1;
}
