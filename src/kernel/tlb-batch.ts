/**
 * Page reclaim's batched TLB flush (mm/rmap.c, CONFIG_ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH;
 * arch/x86/include/asm/tlbbatch.h, arch/x86/mm/tlb.c arch_tlbbatch_flush()):
 *   setTlbUbcFlushPending   try_to_unmap_one() after ptep_get_and_clear():
 *                           set_tlb_ubc_flush_pending() → arch_tlbbatch_add_pending()
 *                           (inc_mm_tlb_gen, the CPU's tlb_ubc gathers mm_cpumask) and
 *                           mm->tlb_flush_batched = true; nothing is flushed yet
 *   tryToUnmapFlush         try_to_unmap_flush() → arch_tlbbatch_flush(): every CPU of the
 *                           gathered mask flushes; only then are the pages freed
 *   flushTlbBatchedPending  flush_tlb_batched_pending(mm), which mprotect, munmap, mremap and
 *                           madvise call under the PTE lock since 3ea277194daa ("mm,
 *                           mprotect: flush TLB if potentially racing with a parallel
 *                           reclaim leaving stale TLB entries", 2017): if
 *                           mm->tlb_flush_batched, flush_tlb_mm(mm) and clear it
 * The flushes run every target's flush_tlb_func() within one step.
 */
import { array, bits, bool, int, setOf } from '../engine/types.js';
import { pteSeen } from '../hw/pagetable.js';
import type { HwShape } from '../hw/shape.js';
import type { View } from '../engine/types.js';
import { flushTlbFunc, flushTlbMmRange, TLB_FLUSH_ALL, type FlushInfo } from './flush.js';
import { incMmTlbGen } from './mm.js';
import type { KernelShape } from './shape.js';
import type { KView } from './switch.js';

export function tlbBatchFields(sh: Pick<HwShape, 'CPU' | 'PAGE' | 'tables' | 'versions'>, k: Pick<KernelShape, 'mms'>) {
  return {
    /** Each CPU's tlb_ubc: the CPUs its pending batch must flush (empty = nothing pending). */
    ubcMask: array(sh.CPU, setOf(sh.CPU)),
    /** mm->tlb_flush_batched: a reclaim left a batched flush of this mm pending. */
    tlbFlushBatched: array(k.mms, bool()),
    /** ghost: the PTE versions the pending batch covers, as of set_tlb_ubc_flush_pending() (0 = none). */
    ubcVer: array(sh.CPU, array(sh.tables, array(sh.PAGE, int(0, sh.versions)))),
  };
}
export type TlbBatchView = KView & View<ReturnType<typeof tlbBatchFields>>;

/**
 * Ghost: the batch promises the PTE versions as of now, when tlb_gen is
 * bumped. A CPU that switches to mm later reads the new tlb_gen and flushes
 * then, so it holds nothing older; a later PTE store is its writer's to flush.
 */
export function setTlbUbcFlushPending(s: TlbBatchView, c: number, mm: number, tables: readonly number[]): void {
  incMmTlbGen(s, mm, c);
  s.ubcMask[c] = s.ubcMask[c]! | s.mmCpumask[mm]!;
  s.tlbFlushBatched[mm] = true;
  for (const t of tables)
    for (let va = 0; va < s.ubcVer[c]![t]!.length; va++) s.ubcVer[c]![t]![va] = Math.max(s.ubcVer[c]![t]![va]!, pteSeen(s, c, t, va).ver);
}

/**
 * try_to_unmap_flush() on CPU c: arch_tlbbatch_flush() runs flush_tlb_func()
 * with TLB_FLUSH_ALL on c (if in the batch's mask) and on every other CPU of
 * the mask that is not lazy (a lazy one catches up through tlb_gen when it
 * switches back). Returns the phrase.
 */
export function tryToUnmapFlush(s: TlbBatchView, c: number, mm: number, k: Pick<KernelShape, 'mms'>, tables: readonly number[]): string {
  const f: FlushInfo = { mm, va: TLB_FLUSH_ALL, newGen: 0, freedTables: false };
  const who: string[] = [];
  for (let t = 0; t < s.loadedMm.length; t++)
    if (bits.has(s.ubcMask[c]!, t) && (t === c || !s.isLazy[t])) {
      flushTlbFunc(s, t, f, k);
      who.push(`CPU${t}`);
    }
  for (const t of tables)
    for (let va = 0; va < s.ubcVer[c]![t]!.length; va++) {
      if (s.ubcVer[c]![t]![va]! > s.flushedUpTo[t]![va]!) s.flushedUpTo[t]![va] = s.ubcVer[c]![t]![va]!;
      s.ubcVer[c]![t]![va] = 0;
    }
  s.ubcMask[c] = 0;
  return `try_to_unmap_flush: flush ${who.join(', ') || 'nobody'}`;
}

/** flush_tlb_batched_pending(mm) on CPU c: flush_tlb_mm(mm) if a batch of it is pending. Returns the phrase. */
export function flushTlbBatchedPending(s: TlbBatchView, c: number, mm: number, k: Pick<KernelShape, 'mms'>, tables: readonly number[]): string {
  if (!s.tlbFlushBatched[mm]) return 'flush_tlb_batched_pending: none pending';
  const flush = flushTlbMmRange(s, c, { mm, va: TLB_FLUSH_ALL, freedTables: false }, k, tables);
  s.tlbFlushBatched[mm] = false;
  return `flush_tlb_batched_pending: reclaim's flush pending → ${flush}`;
}
