import { NONE, type StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import type { GhostView } from '../src/hw/ghost.js';

/**
 * no-stale-access: no CPU ever accesses memory (read or write, user mode,
 * uaccess or NMI) through a TLB entry filled from a PTE version v of a page
 * once a flush covering that page has returned to its initiator, if the PTE
 * had reached a version > v when that flush started. (Reviewer's guarantee
 * (a) in the async thread: after flush_tlb_mm_range() returns, no later access
 * uses an entry replaced before it.)
 *
 * Ghost: hw/access.ts latches `staleUse` with the CPU of the first such access,
 * comparing the entry's (page-table page, version) with `flushedUpTo`:
 * kernel/flush.ts flushStarted() records the version when the flush starts
 * and flushReturned() stamps it when the initiator's flush returns.
 */
export function noStaleAccess<D extends StateDecl>(): InvariantDef<D> {
  const g = (s: unknown) => s as GhostView;
  return {
    doc: 'No access uses a TLB entry from a PTE version that a returned flush declared dead.',
    holds: (s) => g(s).staleUse === NONE,
    explain: (s) => `CPU${g(s).staleUse} accessed memory through a TLB entry whose PTE was replaced and whose flush had already returned`,
  };
}
