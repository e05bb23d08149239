/**
 * flush_tlb_mm_range() for an mm with a global ASID on a CPU with INVLPGB
 * (arch/x86/mm/tlb.c broadcast_tlb_flush(), the 2025 INVLPGB series): no
 * IPIs, in two steps of the initiator.
 *
 *   broadcastTlbFlushIssue  inc_mm_tlb_gen, then INVLPGB of the range with
 *                           the mm's PCID (invlpgb_flush_user_nr_nosync),
 *                           upper-level entries included: mainline never sets
 *                           INVLPGB_FINAL_ONLY here. `finalOnly:
 *                           'unlessFreedTables'` is the proposal that did
 *                           ("x86/mm: only invalidate final translations with
 *                           INVLPGB", v11-v13 of the series, not merged);
 *   broadcastTlbSync        __tlbsync(): TLBSYNC, on the same CPU (the flush
 *                           runs with preemption off), enabled once every CPU
 *                           has done the broadcast (hw/invlpgb.ts).
 *
 * Every CPU of the model runs the mm on its global ASID: PCID `pcid` on all
 * of them (the CPUs still on a local ASID during an ASID transition, which
 * finish_asid_transition() IPIs, are not modelled). PTI's user PCID is not
 * modelled either.
 */
import { invlpgb, invlpgbIdle, type InvlpgbView } from '../hw/invlpgb.js';
import { flushPages, TLB_FLUSH_ALL, type FlushInfo } from './flush.js';
import { incMmTlbGen, type MmView } from './mm.js';

export interface BroadcastOptions {
  /** The global ASID's PCID. */
  pcid: number;
  /** 'never' (mainline), or FINAL_ONLY whenever freed_tables is not set (the unmerged proposal). Default 'never'. */
  finalOnly?: 'never' | 'unlessFreedTables';
}

/** The first step: tlb_gen++, INVLPGB of f's pages from CPU c. Returns the phrase. */
export function broadcastTlbFlushIssue(s: InvlpgbView & MmView, c: number, f: Omit<FlushInfo, 'newGen'>, o: BroadcastOptions): string {
  if (f.va === TLB_FLUSH_ALL) throw new Error('broadcastTlbFlushIssue: a TLB_FLUSH_ALL broadcast (invlpgb_flush_single_pcid_nosync) is not modelled; give the range');
  const gen = incMmTlbGen(s, f.mm, c);
  const finalOnly = o.finalOnly === 'unlessFreedTables' && !f.freedTables;
  const b = invlpgb(s, c, { pcid: o.pcid, pages: flushPages(f), finalOnly });
  return `flush_tlb_mm_range(mm${f.mm}${f.freedTables ? ' freed_tables' : ''}): tlb_gen ${gen - 1}→${gen}; broadcast_tlb_flush: ${b}`;
}

/** Whether CPU c's TLBSYNC can return now. */
export const broadcastTlbSyncDone = (s: InvlpgbView, c: number): boolean => invlpgbIdle(s, c);

/** The second step: TLBSYNC returns (the model's guard waits for broadcastTlbSyncDone). */
export function broadcastTlbSync(s: InvlpgbView, c: number): string {
  if (!invlpgbIdle(s, c)) throw new Error(`CPU${c} passes TLBSYNC with its INVLPGB still in flight: the step's guard must wait for broadcastTlbSyncDone()`);
  return '__tlbsync: TLBSYNC returns (every CPU has done the INVLPGB)';
}
