/**
 * How tlb_finish_mmu() gives an unhooked page-table page back
 * (mm/mmu_gather.c, tlb_remove_table and friends), for lockless walkers
 * such as gup_fast (gup-fast.ts) that read page tables with IRQs off:
 *
 *   direct    free it after the flush returns (native x86 until 2020: the
 *             flush IPI cannot be delivered to a CPU with IRQs off, so the
 *             flush returning means no walker that started before it is
 *             still walking);
 *   rcu       tlb_remove_table() → call_rcu (MMU_GATHER_RCU_TABLE_FREE):
 *             freed after an RCU-sched grace period, that is once every CPU
 *             that was in an IRQs-off section when it was queued has left
 *             it (local_irq_enable is a quiescent state). Needed once the
 *             flush no longer interrupts the walkers: paravirt flushes
 *             (9e52fc2b50de, "x86/mm: Enable RCU based page table freeing",
 *             for Hyper-V's hypercall flush);
 *   ipi-sync  tlb_remove_table_sync_one(): IPI every other CPU and wait
 *             for each to run an empty handler (it can only once its IRQs
 *             are on), then free (the fallback when no batch page can be
 *             allocated).
 */
import { array, int, NONE, setOf, bits } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from '../hw/shape.js';
import type { CpuView } from '../hw/cpu.js';
import type { HwView } from '../hw/walk.js';
import { freeTable } from './free.js';

export type TableFree = 'direct' | 'rcu' | 'ipi-sync';

export function tableFreeFields(sh: Pick<HwShape, 'CPU' | 'tables'>) {
  const { CPU, tables } = sh;
  return {
    /** The page-table page CPU c queued (call_rcu or a sync IPI round); NONE = none. */
    tableQueued: array(CPU, int(NONE, tables - 1, { init: NONE })),
    /** The CPUs c's queued free still waits for (in an IRQs-off section at call_rcu / not yet through the sync IPI). */
    tableWaitsFor: array(CPU, setOf(CPU)),
  };
}
export type TableFreeView = View<ReturnType<typeof tableFreeFields>>;
type V = TableFreeView & CpuView & HwView;

/** tlb_remove_table() of page-table page t by CPU c, after its flush returned. Returns the phrase. */
export function tlbRemoveTable(s: V, c: number, t: number, how: TableFree): string {
  if (t === NONE) return '';
  if (how === 'direct') {
    freeTable(s, t);
    return `free PT page ${t}`;
  }
  if (s.tableQueued[c] !== NONE) throw new Error(`tlb_remove_table: CPU${c} already has PT page ${s.tableQueued[c]} queued (one queued free per CPU: the model must let it run first)`);
  let wait = 0;
  for (let o = 0; o < s.irqOff.length; o++) if (o !== c && (how === 'ipi-sync' || s.irqOff[o])) wait = bits.add(wait, o);
  s.tableQueued[c] = t;
  s.tableWaitsFor[c] = wait;
  return how === 'rcu' ? `tlb_remove_table: call_rcu (PT page ${t})` : `tlb_remove_table_sync_one: IPI all, wait (PT page ${t})`;
}

/**
 * CPU o passes a quiescent state for every queued RCU free (it enables IRQs:
 * call it from local_irq_enable/restore). Sync IPIs are not answered here:
 * see tableSyncIpi.
 */
export function rcuQuiescent(s: V, o: number, how: TableFree): void {
  if (how !== 'rcu') return;
  for (let c = 0; c < s.tableQueued.length; c++) if (s.tableQueued[c] !== NONE) s.tableWaitsFor[c] = bits.del(s.tableWaitsFor[c]!, o);
}

/** CPU o, IRQs on, takes c's sync IPI (an empty handler). */
export function tableSyncIpiDeliverable(s: V, c: number, o: number): boolean {
  return s.tableQueued[c] !== NONE && bits.has(s.tableWaitsFor[c]!, o) && !s.irqOff[o];
}
export function tableSyncIpi(s: V, c: number, o: number): void {
  s.tableWaitsFor[c] = bits.del(s.tableWaitsFor[c]!, o);
}

/** c's queued free may run: its grace period ended / every sync IPI was taken. */
export function tableFreeReady(s: V, c: number): boolean {
  return s.tableQueued[c] !== NONE && s.tableWaitsFor[c] === 0;
}
/** The RCU callback (tlb_remove_table_rcu) or the end of the sync wait: free the page. */
export function tableFreeRun(s: V, c: number): string {
  const t = s.tableQueued[c]!;
  freeTable(s, t);
  s.tableQueued[c] = NONE;
  return `free PT page ${t}`;
}
