import { NONE, type StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import type { GhostView } from '../src/hw/ghost.js';

/**
 * no-text-write-after-poke: once a text poke has finished (text_poke()
 * returned), no CPU writes the kernel text page through poking_addr.
 *
 * This is no-stale-access read for the temporary-mm mapping: the poke's
 * return is the "flush has returned" event (kernel/flush.ts flushReturned()
 * on poking_mm's page-table page), after which every TLB entry filled from
 * the poke's present PTE is dead. text_mutex serialises the pokes, so no PTE
 * store lands while a poke's flush runs. hw/access.ts latches `staleUse` when
 * an access goes through such an entry. In the text-poke model the only PTE that
 * ever changes is poking_mm's PTE for poking_addr and the only stray accesses
 * are writes, so a stale use is exactly a write of the text page through
 * poking_addr after the poke that mapped it.
 */
export function noTextWriteAfterPoke<D extends StateDecl>(): InvariantDef<D> {
  const g = (s: unknown) => s as GhostView;
  return {
    doc: 'Once a poke has finished, no CPU writes the text page through poking_addr.',
    holds: (s) => g(s).staleUse === NONE,
    explain: (s) =>
      `CPU${g(s).staleUse} wrote the kernel text page through poking_addr with a TLB entry of a poke that had already finished (text_poke() returned)`,
  };
}
