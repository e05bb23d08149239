/**
 * arch/x86/mm/tlb.c: switch_mm_irqs_off(), choose_new_asid(),
 * load_new_mm_cr3(), and enter_lazy_tlb() (asm/tlbflush.h), recent tree
 * (docs/x86-semantics-review.md §2.3-2.4), without PTI and global ASIDs.
 * Runs with IRQs off; modelled as one atomic step (the LOADED_MM_SWITCHING
 * window is not interleaved with remote should_flush_tlb() reads here).
 */
import { bits } from '../engine/types.js';
import { cr3Write } from '../hw/invalidate.js';
import type { HwView } from '../hw/walk.js';
import type { MmView } from './mm.js';
import { ctxIdOf, initMm, type KernelShape } from './shape.js';
import type { TlbStateView } from './tlbstate.js';

export type KView = HwView & MmView & TlbStateView;

/** choose_new_asid(): reuse the slot holding next's ctx_id, else take next_asid round-robin. */
export function chooseNewAsid(s: KView, c: number, next: number, gen: number): { asid: number; needFlush: boolean } {
  const n = s.ctxCtxId[c]!.length;
  for (let a = 0; a < n; a++) if (s.ctxCtxId[c]![a] === ctxIdOf(next)) return { asid: a, needFlush: s.ctxTlbGen[c]![a]! < gen };
  const a = s.nextAsid[c]!;
  s.nextAsid[c] = (a + 1) % n;
  return { asid: a, needFlush: true };
}

/** load_new_mm_cr3(): CR3 = next's pgd | kPCID, with bit 63 (no flush) unless need_flush. */
export function loadNewMmCr3(s: KView, c: number, mm: number, asid: number, flush: boolean): void {
  cr3Write(s, c, mm, asid, !flush);
}

/** switch_mm_irqs_off(NULL, next): returns a trace phrase. */
export function switchMmIrqsOff(
  s: KView,
  c: number,
  next: number,
  k: Pick<KernelShape, 'mms'>,
  hooks: { onFlushingLoad?: (s: KView, c: number, asid: number) => void } = {},
): string {
  const prev = s.loadedMm[c]!;
  const prevAsid = s.loadedAsid[c]!;
  const wasLazy = s.isLazy[c]!;
  if (wasLazy) s.isLazy[c] = false;
  let ns: { asid: number; needFlush: boolean };
  let gen: number;
  if (prev === next) {
    if (!wasLazy) return `switch_mm(mm${next}): same mm, not lazy: nothing`;
    gen = s.tlbGen[next]!; // after smp_mb()
    if (s.ctxTlbGen[c]![prevAsid] === gen) return `switch_mm(mm${next}): leave lazy, tlb_gen ${gen} unchanged: no flush`;
    ns = { asid: prevAsid, needFlush: true };
  } else {
    // loaded_mm = LOADED_MM_SWITCHING; set our mm_cpumask bit (or smp_mb()); read tlb_gen
    if (next !== initMm(k)) s.mmCpumask[next] = bits.add(s.mmCpumask[next]!, c);
    gen = s.tlbGen[next]!;
    ns = chooseNewAsid(s, c, next, gen);
  }
  if (ns.needFlush) {
    s.ctxCtxId[c]![ns.asid] = ctxIdOf(next);
    s.ctxTlbGen[c]![ns.asid] = gen;
  }
  if (ns.needFlush) hooks.onFlushingLoad?.(s, c, ns.asid); // load_new_mm_cr3: invalidate_user_asid() under PTI
  loadNewMmCr3(s, c, next, ns.asid, ns.needFlush);
  s.loadedMm[c] = next; // after the CR3 write
  s.loadedAsid[c] = ns.asid;
  const name = next === initMm(k) ? 'init_mm' : `mm${next}`;
  return `switch_mm(${name}): asid ${ns.asid}, CR3 write ${ns.needFlush ? `flushing pcid${ns.asid} (ctxs.tlb_gen=${gen})` : 'no-flush'}`;
}

/** enter_lazy_tlb(): keep CR3 (and so speculative walks of the old mm), just mark lazy. */
export function enterLazyTlb(s: KView, c: number, k: Pick<KernelShape, 'mms'>): void {
  if (s.loadedMm[c] === initMm(k)) return;
  s.isLazy[c] = true;
}
