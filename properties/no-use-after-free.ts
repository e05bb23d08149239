import { NONE, type StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import type { GhostView } from '../src/hw/ghost.js';

/**
 * no-use-after-free: no CPU ever reads or writes a data frame after the
 * kernel freed it (tlb_finish_mmu after the flush), through any translation.
 *
 * Ghost: hw/access.ts latches `uafUse` when the frame of the entry it uses has
 * `frameFreed` set (kernel/free.ts freeFrame()).
 */
export function noUseAfterFree<D extends StateDecl>(): InvariantDef<D> {
  const g = (s: unknown) => s as GhostView;
  return {
    doc: 'No access touches a data frame after it has been freed.',
    holds: (s) => g(s).uafUse === NONE,
    explain: (s) => `CPU${g(s).uafUse} accessed a data frame that had already been freed`,
  };
}
