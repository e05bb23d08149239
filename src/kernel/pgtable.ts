/**
 * The kernel's page-table updates (mm/memory.c zap path, free_pgtables) and
 * the folio dirty flag they feed.
 * - ptep_get_and_clear(): atomic xchg of the PTE with 0; the old D bit is
 *   transferred to the folio (zap_pte_range: if pte_dirty → folio_mark_dirty).
 * - pmd_clear() + pte_free_tlb(): unhook the page-table page; it is freed only
 *   after the TLB flush (tlb_finish_mmu → tlb_remove_table), see free.ts.
 */
import { array, bool, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from '../hw/shape.js';
import { pmdSeen, pmdSlotOf, pmdStoreBy, pteSeen, pteStore, pteStoreBy, slotOrOnly, tableOf, type PageTableView } from '../hw/pagetable.js';

export function folioFields(sh: HwShape) {
  return {
    /** PG_dirty of the folio in each data frame (the kernel's knowledge that it must be written back). */
    pageDirty: array(sh.frames, bool()),
  };
}
export type FolioView = View<ReturnType<typeof folioFields>>;

/**
 * ptep_get_and_clear(mm, va): returns the old frame, or NONE if nothing was
 * mapped. An xchg (LOCK implied): given the CPU `c`, under TSO it drains c's
 * store buffer first.
 */
export function ptepGetAndClear(s: PageTableView & FolioView, mm: number, va: number, c?: number): number {
  const t = c === undefined ? tableOf(s, mm, va) : pmdSeen(s, c, mm, pmdSlotOf(s, va));
  if (t === NONE) return NONE;
  const old = c === undefined ? null : pteSeen(s, c, t, va);
  if (!(old ? old.present : s.ptePresent[t]![va])) return NONE;
  const frame = old ? old.frame : s.pteFrame[t]![va]!;
  if (old ? old.dirty : s.pteDirty[t]![va]) s.pageDirty[frame] = true;
  const none = { present: false, writable: false, accessed: false, dirty: false, frame: 0 };
  if (c === undefined) pteStore(s, t, va, none);
  else pteStoreBy(s, c, t, va, none, 'locked');
  return frame;
}

/**
 * free_pgtables → pmd_clear: unhook mm's page-table page under PMD `slot`
 * (which may be left out when the root has one PMD); returns it (to be freed after the flush). A plain
 * store (native_pmd_clear): buffered under TSO when the CPU `c` is given.
 */
export function pmdClear(s: PageTableView, mm: number, c?: number, slot?: number): number {
  const k = slotOrOnly(s, mm, slot, 'pmd_clear');
  const t = c === undefined ? s.pmd[mm]![k]! : pmdSeen(s, c, mm, k);
  if (c === undefined) s.pmd[mm]![k] = NONE;
  else pmdStoreBy(s, c, mm, k, NONE);
  return t;
}

/** No PTE of the page-table page is present any more (free_pgtables may unhook it). */
export function tableEmpty(s: PageTableView, t: number): boolean {
  return !s.ptePresent[t]!.includes(true);
}
