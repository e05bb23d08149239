/**
 * get_user_pages_fast() (mm/gup.c, gup_fast()): a lockless software walk
 * of the current mm's page tables with IRQs off, so that a page-table page
 * cannot be freed under it (table-free.ts says how the freeing side
 * waits). One step each:
 *
 *   begin     local_irq_save();
 *   pmd       READ_ONCE(*pmd): pmd_none → give up (the slow path takes the
 *             locks); else the PT page it points to;
 *   pte       READ_ONCE of the PTE in that page: a page already freed is the
 *             ghost freedTableWalk (properties/no-freed-table-walk.ts);
 *   end       local_irq_restore(): an RCU-sched quiescent state.
 */
import { array, enumOf, int, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { latch } from '../hw/ghost.js';
import { pmdSeen, pmdSlotOf, pteSeen } from '../hw/pagetable.js';
import type { HwShape } from '../hw/shape.js';
import type { HwView } from '../hw/walk.js';
import { rcuQuiescent, type TableFree, type TableFreeView } from './table-free.js';

export function gupFastFields(sh: Pick<HwShape, 'CPU' | 'tables'>) {
  return {
    gupStage: array(sh.CPU, enumOf(['idle', 'irqs-off', 'pmd-read', 'done'])),
    /** The PT page gup_fast read from the PMD. */
    gupTable: array(sh.CPU, int(NONE, sh.tables - 1, { init: NONE })),
  };
}
export type GupFastView = View<ReturnType<typeof gupFastFields>>;
type V = GupFastView & HwView & TableFreeView;

export function gupFastBegin(s: V, c: number): string {
  s.irqOff[c] = true;
  s.gupStage[c] = 'irqs-off';
  return 'gup_fast: local_irq_save';
}

/** gup_fast_pmd_range(): READ_ONCE of the PMD that maps va (the range gup_fast walks stays under it). */
export function gupFastReadPmd(s: V, c: number, mm: number, va: number): string {
  const t = pmdSeen(s, c, mm, pmdSlotOf(s, va));
  s.gupTable[c] = t;
  s.gupStage[c] = t === NONE ? 'done' : 'pmd-read';
  return t === NONE ? 'gup_fast: pmd_none, fall back to the slow path' : `gup_fast: READ_ONCE(pmd) → PT page ${t}`;
}

export function gupFastReadPte(s: V, c: number, va: number): string {
  // The block keeps the table it read, not which PMD: one PMD per root only.
  if (s.pmd[0]!.length > 1) throw new Error('gup_fast block: models with several PMDs per root are not supported (the PMD read is not kept)');
  const t = s.gupTable[c]!;
  s.gupStage[c] = 'done';
  if (s.tableFreed[t]) {
    s.freedTableWalk = latch(s.freedTableWalk, c);
    return `gup_fast: READ_ONCE(pte va${va}) in PT page ${t}: reads FREED page-table page`;
  }
  const p = pteSeen(s, c, t, va);
  return `gup_fast: READ_ONCE(pte va${va}) → ${p.present ? `pfn${p.frame}, get_page` : 'none'}`;
}

export function gupFastEnd(s: V, c: number, how: TableFree): string {
  s.irqOff[c] = false;
  s.gupStage[c] = 'idle';
  s.gupTable[c] = NONE;
  rcuQuiescent(s, c, how);
  return 'gup_fast: local_irq_restore';
}
