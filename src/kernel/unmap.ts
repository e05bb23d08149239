/**
 * munmap()/zap of one page as the flush operations of the models use it:
 *   unmap_region(): zap_pte_range → ptep_get_and_clear (old D → folio dirty);
 *                   free_pgtables → pmd_clear if the page-table page is now empty
 *                   (only when `freeTables`);
 *   tlb_finish_mmu(): flush_tlb_mm_range(mm, va, va+PAGE, freed_tables), then free
 *                   the data frame and the unhooked page-table page.
 * The initiator's per-CPU record of the operation in flight lives here.
 */
import { array, int, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from '../hw/shape.js';
import type { HwView } from '../hw/walk.js';
import { pmdSlotOf, tableOf } from '../hw/pagetable.js';
import type { FlushInfo } from './flush.js';
import { freeFrame, freeTable } from './free.js';
import type { MmView } from './mm.js';
import { ptepGetAndClear, pmdClear, tableEmpty, type FolioView } from './pgtable.js';
import { tlbRemoveTable, type TableFree, type TableFreeView } from './table-free.js';
import type { CpuView } from '../hw/cpu.js';

export function unmapOpFields(sh: HwShape, OPS: number) {
  const { CPU, PAGE, tables, frames } = sh;
  return {
    /** Flush operations left in this run (the budget). */
    opsLeft: int(0, OPS, { init: OPS }),
    opVa: array(CPU, int(0, PAGE.size - 1)),
    opFrame: array(CPU, int(NONE, frames - 1, { init: NONE })),
    opTable: array(CPU, int(NONE, tables - 1, { init: NONE })),
  };
}
export type UnmapOpView = View<ReturnType<typeof unmapOpFields>>;
type V = HwView & FolioView & UnmapOpView;

/** va is mapped in mm (the munmap has something to do). */
export function mapped(s: HwView, mm: number, va: number): boolean {
  const t = tableOf(s, mm, va);
  return t !== NONE && s.ptePresent[t]![va]!;
}

/** unmap_region() up to (not including) tlb_finish_mmu(). Returns whether tables were freed. */
export function unmapZap(s: V, c: number, mm: number, va: number, freeTables: boolean): boolean {
  s.opsLeft = s.opsLeft - 1;
  s.opVa[c] = va;
  s.opFrame[c] = ptepGetAndClear(s, mm, va, c);
  const t = tableOf(s, mm, va);
  if (freeTables && t !== NONE && tableEmpty(s, t)) {
    s.opTable[c] = pmdClear(s, mm, c, pmdSlotOf(s, va));
    return true;
  }
  return false;
}

/**
 * The flush_tlb_info of CPU c's munmap of mm (read before inc_mm_tlb_gen):
 * its page, the generation the flush will publish, and freed_tables when the
 * page-table page was unhooked.
 */
export function munmapFlushInfo(s: UnmapOpView & MmView, mm: number, c: number): FlushInfo {
  return { mm, va: s.opVa[c]!, newGen: s.tlbGen[mm]! + 1, freedTables: s.opTable[c] !== NONE };
}

export function describeZap(s: V, mm: number, va: number, freeTables: boolean): string {
  const t = tableOf(s, mm, va);
  const frame = s.pteFrame[t]![va]!;
  const d = s.pteDirty[t]![va]! ? 'D=1 → folio dirty' : 'D=0';
  const others = s.ptePresent[t]!.filter((x, i) => x && i !== va).length;
  const pt = freeTables && others === 0 ? `; free_pgtables: pmd_clear (PT page ${t})` : '';
  return `munmap va${va}: ptep_get_and_clear (pfn${frame}, ${d}, pte v${s.pteVer[t]![va]}→v${s.pteVer[t]![va]! + 1})${pt}`;
}

/** The part of tlb_finish_mmu() after the flush: free the frame and the page-table page. */
export function tlbFinishMmuFree(s: V, c: number): string {
  const f = s.opFrame[c]!;
  const t = s.opTable[c]!;
  freeFrame(s, f);
  freeTable(s, t);
  s.opVa[c] = 0;
  s.opFrame[c] = NONE;
  s.opTable[c] = NONE;
  return `tlb_finish_mmu: free pfn${f}${t !== NONE ? ` and PT page ${t}` : ''}`;
}

/** tlbFinishMmuFree, with the page-table page given back as `how` says (table-free.ts). */
export function tlbFinishMmuFreeWith(s: V & TableFreeView & CpuView, c: number, how: TableFree): string {
  if (how === 'direct') return tlbFinishMmuFree(s, c);
  const f = s.opFrame[c]!;
  const t = s.opTable[c]!;
  freeFrame(s, f);
  const table = tlbRemoveTable(s, c, t, how);
  s.opVa[c] = 0;
  s.opFrame[c] = NONE;
  s.opTable[c] = NONE;
  return `tlb_finish_mmu: free pfn${f}${table ? `; ${table}` : ''}`;
}
