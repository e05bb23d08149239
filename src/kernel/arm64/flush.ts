/**
 * arm64 mmu_gather flush (arch/arm64/include/asm/tlb.h tlb_flush(),
 * asm/tlbflush.h __flush_tlb_range()): `last_level = !tlb->freed_tables`,
 * then dsb(ishst), the TLBIs of __flush_tlb_range_op() (VALE1IS when
 * last_level, else VAE1IS; range ops with FEAT_TLBIRANGE), and dsb(ish).
 * In two steps of the initiator: the TLBIs, then the DSB ISH, which waits
 * until every PE has done them (hw/arm64/tlbi.ts). flush_tlb_range() never
 * uses last-level TLBIs ("We cannot use leaf-only invalidation here, since
 * we may be invalidating table entries as part of collapsing hugepages or
 * moving page tables").
 */
import { flushPages, TLB_FLUSH_ALL, type FlushInfo } from '../flush.js';
import { tlbiIs, tlbiRangeOps, type TlbiView } from '../../hw/arm64/tlbi.js';

export interface Arm64FlushOptions {
  /** The mm's ASID (the PCID index). */
  asid: number;
  /** FEAT_TLBIRANGE: range TLBIs where the loop can use them. */
  rangeSupported: boolean;
  /** Last-level TLBIs even when page tables were freed: what `last_level = !tlb->freed_tables` rules out. */
  leafOnlyAlways?: boolean;
}

/** tlb_flush() → __flush_tlb_range() up to the DSB: the TLBIs of f's range from PE c. Returns the phrase. */
export function arm64TlbFlushIssue(s: TlbiView, c: number, f: Omit<FlushInfo, 'newGen'>, o: Arm64FlushOptions): string {
  if (f.va === TLB_FLUSH_ALL) throw new Error('arm64TlbFlushIssue: a whole-mm flush (flush_tlb_mm, TLBI ASIDE1IS) is not modelled; give the range');
  const pages = flushPages(f);
  const lastLevel = o.leafOnlyAlways === true || !f.freedTables;
  const tlbis = tlbiIs(s, c, o.asid, tlbiRangeOps(pages[0]!, pages.length, o.rangeSupported), lastLevel);
  return `tlb_flush: last_level=${lastLevel ? 1 : 0}${f.freedTables ? ' (freed_tables)' : ''}; dsb(ishst); ${tlbis}`;
}
