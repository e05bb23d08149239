import type { StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import type { GhostView } from '../src/hw/ghost.js';
import type { PageTableView } from '../src/hw/pagetable.js';
import type { FolioView } from '../src/kernel/pgtable.js';

/**
 * no-lost-dirty: every data frame that has been written is known dirty —
 * either its folio is marked dirty (PG_dirty, set when the kernel harvested a
 * PTE with D=1) or a present PTE maps it with D=1 (to be harvested later).
 * (Reviewer's guarantee (b): every effect of an access through an old entry,
 * the dirty bit in particular, is visible by the time the flush returns and
 * the kernel acts on the old PTE's A/D bits.)
 *
 * Violated e.g. when a write through a clean TLB entry sets D in a PTE that
 * the kernel has already cleared and harvested (no `dirtySetRechecksPte`).
 */
export function noLostDirty<D extends StateDecl>(): InvariantDef<D> {
  const g = (s: unknown) => s as GhostView & PageTableView & FolioView;
  const lost = (s: unknown): number => {
    const v = g(s);
    for (let f = 0; f < v.frameWritten.length; f++) {
      if (!v.frameWritten[f] || v.pageDirty[f]) continue;
      let mapped = false;
      for (let t = 0; t < v.ptePresent.length && !mapped; t++)
        for (let va = 0; va < v.ptePresent[t]!.length; va++)
          if (v.ptePresent[t]![va] && v.pteFrame[t]![va] === f && v.pteDirty[t]![va] && !v.tableFreed[t]) mapped = true;
      if (!mapped) return f;
    }
    return -1;
  };
  return {
    doc: 'Every written data frame is marked dirty in its folio or in a present PTE.',
    holds: (s) => lost(s) < 0,
    explain: (s) => `pfn${lost(s)} was written but neither its folio nor any present PTE is dirty: the write will never be written back`,
  };
}
