import type { LivenessDef } from '../src/engine/model.js';
import type { Sort, StateDecl, View } from '../src/engine/types.js';

/**
 * Liveness: every flush a CPU starts returns to it ("flush_tlb_mm_range()
 * that starts returns"), for each CPU c: inFlush(c) ~> not inFlush(c).
 * `inFlush` is the model's own notion of c being inside the flush (its pc
 * between flush_tlb_mm_range and the return). Fails on an initiator that
 * waits forever: for CSDs a CPU with IRQs off never unlocks, or with IRQs
 * off itself while another CPU waits for it.
 */
export function flushReturns<D extends StateDecl>(CPU: Sort, inFlush: (s: View<D>, c: number) => boolean): LivenessDef<D> {
  return {
    doc: 'the flush the CPU started returns',
    over: [CPU],
    from: (s, c) => inFlush(s, c!),
    to: (s, c) => !inFlush(s, c!),
  };
}
