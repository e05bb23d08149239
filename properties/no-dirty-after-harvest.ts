import type { StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import { NONE } from '../src/engine/types.js';
import { accessGhostsFor } from '../src/hw/ghost.js';

/**
 * no-dirty-after-harvest (INV-DIRTY): every write through a clean TLB entry
 * sets D in a present PTE that maps the written frame. A write whose D
 * update lands in a PTE the kernel has already cleared (ptep_get_and_clear
 * harvested its D into the folio), in a PTE that now maps another frame, or
 * nowhere (the walk finds no PTE) dirties the frame behind the kernel's
 * back: writeback will miss it. This is the write-time form of
 * no-lost-dirty, which checks the consequence in every state.
 *
 * Ghost (hw/ghost.ts accessGhostFields, which the model must declare):
 * hw/access.ts latches `dirtyLost` with the first such writer.
 */
export function noDirtyAfterHarvest<D extends StateDecl>(): InvariantDef<D> {
  const g = accessGhostsFor('no-dirty-after-harvest');
  return {
    doc: 'Every write through a clean TLB entry sets D in a present PTE that maps the written frame.',
    holds: (s) => g(s).dirtyLost === NONE,
    explain: (s) => `CPU${g(s).dirtyLost} wrote through a clean TLB entry, and its D bit landed in no present PTE mapping the frame: the PTE's dirty state had already been harvested`,
  };
}
