/**
 * struct mmu_gather (mm/mmu_gather.c, include/asm-generic/tlb.h), one per
 * CPU whose task is inside a zap (munmap, madvise(MADV_DONTNEED), ...):
 *
 *   tlb_gather_mmu()    inc_tlb_flush_pending(mm): this zap may leave PTEs
 *                       cleared but not yet flushed;
 *   tlbZapPte()         zap_pte_range() on one PTE, under the PTL:
 *                       ptep_get_and_clear_full, tlb_remove_tlb_entry (the
 *                       page joins the gathered range), __tlb_remove_page
 *                       (the frame joins the batch, freed only after the
 *                       flush); a PTE already none adds nothing; in a
 *                       VM_PFNMAP VMA there is no page to batch
 *                       (vm_normal_page() is NULL): the frame is its
 *                       driver's, freed whenever the driver decides;
 *   tlbEndVma()         tlb_end_vma(): on x86 an empty macro until
 *                       b67fbebd4cf9 ("mmu_gather: Force tlb-flush VM_PFNMAP
 *                       vmas", 2022, the series that added
 *                       MMU_GATHER_MERGE_VMAS, which x86 selects); since it,
 *                       the gathered range is flushed at a VMA boundary only
 *                       for a VM_PFNMAP/VM_MIXEDMAP VMA (tlb->vma_pfn). The
 *                       stable backports instead flush in free_pgtables()
 *                       before unlink_file_vma() (Jann Horn, "mm: Force TLB
 *                       flush for PFNMAP mappings before unlink_file_vma()"),
 *                       and a 2025 mainline rework reportedly moved it there
 *                       too; either way munmap flushes before the VMA leaves
 *                       i_mmap, which is the order a model checks;
 *   pteFreeTlb()        free_pgtables() → free_pte_range(): pmd_clear, and
 *                       pte_free_tlb(): the gathered range grows over the
 *                       table's address (tlb_flush_pmd_range), freed_tables,
 *                       and the table is batched to be freed after the flush;
 *   tlb_finish_mmu()    when mm_tlb_flush_nested(mm) (another zap of the mm
 *                       is in flight: tlb_flush_pending > 1), flush the whole
 *                       mm (fullmm, __tlb_reset_range, freed_tables: the fix
 *                       of 99baac21e458, "mm: fix MADV_[FREE|DONTNEED] TLB
 *                       flush miss problem"); then tlb_flush_mmu(): the
 *                       flush if the range is not empty, then the batched
 *                       frames and page-table pages back to the allocator;
 *                       dec_tlb_flush_pending.
 *
 * The flush itself is the model's (`flush`): how flush_tlb_mm_range reaches
 * the other CPUs is what the models differ in.
 *
 * Ghost: a zap promises, when it returns to its caller, that the PTE
 * versions replaced before it looked at the PTE are gone from every TLB
 * (what madvise(MADV_DONTNEED) promises user space: the range reads as
 * zero-fill from now on). The promise is the flush ghost's (flush.ts):
 * flushStarted at the zap, flushReturned when tlb_finish_mmu is done.
 */
import { array, bool, int, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from '../hw/shape.js';
import type { HwView } from '../hw/walk.js';
import { flushReturned, flushStarted, TLB_FLUSH_ALL, type FlushGhostView, type FlushInfo } from './flush.js';
import { freeFrame, freeTable } from './free.js';
import { pmdClear, ptepGetAndClear, type FolioView } from './pgtable.js';
import { pmdSlotPages, tableOf } from '../hw/pagetable.js';

/** gatherVa: the whole mm (fullmm); NONE: the range is empty. */
export const GATHER_ALL = -2;

export function mmuGatherFields(sh: Pick<HwShape, 'CPU' | 'PAGE' | 'frames' | 'roots' | 'tables'>) {
  const { CPU, PAGE, frames, roots, tables } = sh;
  return {
    /** mm->tlb_flush_pending: zaps of each mm in flight. */
    tlbFlushPending: array(roots, int(0, CPU.size)),
    /** tlb->mm of each CPU's gather; NONE = no gather open. */
    gatherMm: array(CPU, int(NONE, roots - 1, { init: NONE })),
    /** The gathered range's start, GATHER_ALL (fullmm), or NONE (empty: nothing to flush). */
    gatherVa: array(CPU, int(GATHER_ALL, PAGE.size - 1, { init: NONE })),
    /** Its end (exclusive); 0 when the range is empty or the whole mm. */
    gatherVaEnd: array(CPU, int(0, PAGE.size)),
    /** The page the zap looked at (its promise: see above). */
    zapVa: array(CPU, int(0, PAGE.size - 1)),
    /** The batched frames (__tlb_remove_page), freed after the flush. */
    gatherFrames: array(CPU, array(frames, bool())),
    /** tlb->freed_tables. */
    gatherFreedTables: array(CPU, bool()),
    /** The page-table pages pte_free_tlb() batched, freed after the flush. */
    gatherTables: array(CPU, array(tables, bool())),
  };
}
export type MmuGatherView = View<ReturnType<typeof mmuGatherFields>>;
type V = MmuGatherView & HwView & FolioView & FlushGhostView;

/** __tlb_adjust_range(): the gathered range grows to cover page va. */
function adjustRange(s: MmuGatherView, c: number, va: number): void {
  const start = s.gatherVa[c]!;
  if (start === GATHER_ALL) return;
  s.gatherVa[c] = start === NONE ? va : Math.min(start, va);
  s.gatherVaEnd[c] = Math.max(s.gatherVaEnd[c]!, va + 1);
}
/** __tlb_reset_range(): nothing gathered, no table freed. */
function resetRange(s: MmuGatherView, c: number): void {
  s.gatherVa[c] = NONE;
  s.gatherVaEnd[c] = 0;
  s.gatherFreedTables[c] = false;
}
/** The flush of CPU c's gathered range: its mm, range (TLB_FLUSH_ALL for the whole mm) and freed_tables. */
export function gatheredFlush(s: MmuGatherView, c: number): FlushInfo {
  const va = s.gatherVa[c]!;
  const range = va === GATHER_ALL ? { va: TLB_FLUSH_ALL } : s.gatherVaEnd[c]! > va + 1 ? { va, vaEnd: s.gatherVaEnd[c]! } : { va };
  return { mm: s.gatherMm[c]!, ...range, newGen: 0, freedTables: s.gatherFreedTables[c]! };
}
/** Give back every id a batch holds (free it, clear it); returns the ids. */
function drainBatch(batch: boolean[], free: (id: number) => void): number[] {
  const out: number[] = [];
  for (let id = 0; id < batch.length; id++) {
    if (!batch[id]) continue;
    free(id);
    batch[id] = false;
    out.push(id);
  }
  return out;
}

/** tlb_gather_mmu(): open CPU c's gather on mm (inc_tlb_flush_pending). */
export function tlbGatherMmu(s: MmuGatherView, c: number, mm: number): void {
  s.gatherMm[c] = mm;
  resetRange(s, c);
  s.gatherFrames[c]!.fill(false);
  s.tlbFlushPending[mm] = s.tlbFlushPending[mm]! + 1;
}

/** mm_tlb_flush_nested(): another CPU's zap of mm is in flight too. */
export function mmTlbFlushNested(s: MmuGatherView, mm: number): boolean {
  return s.tlbFlushPending[mm]! > 1;
}

/**
 * zap_pte_range() on (mm, va) for CPU c's open gather, one step under the
 * PTL. Returns the phrase. Records the zap's promise (ghost, see above).
 */
export function tlbZapPte(s: V, c: number, va: number, o: { pfnmap?: boolean } = {}): string {
  const mm = s.gatherMm[c]!;
  const t = tableOf(s, mm, va);
  const info: FlushInfo = { mm, va, newGen: 0, freedTables: false };
  s.zapVa[c] = va;
  if (t === NONE || !s.ptePresent[t]![va]) {
    flushStarted(s, c, info, t === NONE ? [] : [t]);
    return `zap_pte_range va${va}: pte_none, nothing gathered`;
  }
  const ver = s.pteVer[t]![va]!;
  const frame = ptepGetAndClear(s, mm, va, c);
  flushStarted(s, c, info, [t]);
  adjustRange(s, c, va);
  if (o.pfnmap) return `zap_pte_range va${va}: ptep_get_and_clear (pfn${frame}, pte v${ver}→v${ver + 1}), tlb_remove_tlb_entry (VM_PFNMAP: no page to batch)`;
  s.gatherFrames[c]![frame] = true;
  return `zap_pte_range va${va}: ptep_get_and_clear (pfn${frame}, pte v${ver}→v${ver + 1}), tlb_remove_tlb_entry, __tlb_remove_page`;
}

export interface EndVmaOptions {
  /** The VMA just zapped is VM_PFNMAP/VM_MIXEDMAP (tlb->vma_pfn). */
  pfnmap: boolean;
  /** tlb_end_vma() flushes a VM_PFNMAP VMA's range (b67fbebd4cf9); false = the kernels before it (an empty macro on x86). */
  forcePfnFlush: boolean;
  /** The model's flush_tlb_mm_range, as for tlbFinishMmu. */
  flush: (c: number, f: FlushInfo) => string;
}

/**
 * tlb_end_vma() for CPU c's open gather, one step: with `forcePfnFlush` and a
 * VM_PFNMAP VMA, tlb_flush_mmu_tlbonly() — flush the gathered range if it is
 * not empty and reset it (__tlb_reset_range), so tlb_finish_mmu() has nothing
 * left to flush. Frames stay batched. Returns the phrase.
 */
export function tlbEndVma(s: V, c: number, o: EndVmaOptions): string {
  if (!(o.pfnmap && o.forcePfnFlush)) return `tlb_end_vma: ${o.pfnmap ? 'no-op (before b67fbebd4cf9)' : 'no-op (MMU_GATHER_MERGE_VMAS)'}`;
  if (s.gatherVa[c] === NONE) return 'tlb_end_vma: VM_PFNMAP, range empty: no flush';
  const f = o.flush(c, gatheredFlush(s, c));
  resetRange(s, c);
  return `tlb_end_vma: VM_PFNMAP, tlb_flush_mmu_tlbonly: ${f}`;
}

/**
 * free_pgtables() → free_pte_range() on PMD `slot` of CPU c's gathered mm,
 * one step: pmd_clear (a plain store), then pte_free_tlb(). Mainline's
 * pte_free_tlb() (include/asm-generic/tlb.h) first adds the table's address
 * — the first page under that PMD — to the range (tlb_flush_pmd_range), so
 * the flush reaches the PSC entry leading to the table also where INVLPG
 * drops only the entries for its address (EFER.TCE, hw/efer.ts);
 * `rangeCoversTable: false` leaves the range as the zap made it. Either way
 * freed_tables is set and the table waits in the batch for
 * tlb_finish_mmu(). Returns the phrase.
 */
export function pteFreeTlb(s: V, c: number, slot: number, o: { rangeCoversTable: boolean }): string {
  const mm = s.gatherMm[c]!;
  const t = pmdClear(s, mm, c, slot);
  if (t === NONE) throw new Error(`CPU${c} frees the page table of PMD slot ${slot} of mm${mm}, which has none`);
  const addr = pmdSlotPages(s, slot)[0]!;
  if (o.rangeCoversTable) adjustRange(s, c, addr);
  s.gatherFreedTables[c] = true;
  s.gatherTables[c]![t] = true;
  return `free_pte_range: pmd_clear (PT page ${t}), pte_free_tlb${o.rangeCoversTable ? ` (range += va${addr})` : ' (range unchanged)'}`;
}

export interface FinishOptions {
  /** The mm_tlb_flush_nested() check (the 2017 fix); false = the kernels before it. */
  nestedFlush: boolean;
  /** The model's flush_tlb_mm_range(mm, va or TLB_FLUSH_ALL, freed_tables), from CPU c, in one step; returns its phrase. */
  flush: (c: number, f: FlushInfo) => string;
  /** mm's page-table pages (the PTEs the zap's promise covers). */
  tables: readonly number[];
}

/** tlb_finish_mmu() for CPU c, as one step: returns its phrase. */
export function tlbFinishMmu(s: V, c: number, o: FinishOptions): string {
  const mm = s.gatherMm[c]!;
  const out: string[] = [];
  if (o.nestedFlush && mmTlbFlushNested(s, mm)) {
    s.gatherVa[c] = GATHER_ALL;
    s.gatherVaEnd[c] = 0;
    s.gatherFreedTables[c] = true;
    out.push(`mm_tlb_flush_nested (tlb_flush_pending=${s.tlbFlushPending[mm]}): flush all`);
  }
  if (s.gatherVa[c] === NONE) out.push('range empty: no flush');
  else out.push(o.flush(c, gatheredFlush(s, c)));
  for (const f of drainBatch(s.gatherFrames[c]!, (f) => freeFrame(s, f))) out.push(`free pfn${f}`);
  for (const t of drainBatch(s.gatherTables[c]!, (t) => freeTable(s, t))) out.push(`free PT page ${t}`);
  // The zap returns: its promise holds from here on.
  flushReturned(s, c, { mm, va: s.zapVa[c]!, newGen: 0, freedTables: false }, o.tables);
  s.tlbFlushPending[mm] = s.tlbFlushPending[mm]! - 1;
  s.gatherMm[c] = NONE;
  resetRange(s, c);
  s.zapVa[c] = 0;
  return `tlb_finish_mmu: ${out.join('; ')}; dec_tlb_flush_pending`;
}
