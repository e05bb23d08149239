import type { LivenessDef } from '../src/engine/model.js';
import type { Sort, StateDecl, View } from '../src/engine/types.js';

/**
 * Liveness, for each CPU c: once `inside(c)` holds it stops holding, on
 * every fair behaviour (inside(c) ~> not inside(c)). The shapes below name
 * the kernel's two: a flush that returns, a handler that is left.
 */
export function eventuallyLeaves<D extends StateDecl>(CPU: Sort, doc: string, inside: (s: View<D>, c: number) => boolean): LivenessDef<D> {
  return {
    doc,
    over: [CPU],
    from: (s, c) => inside(s, c!),
    to: (s, c) => !inside(s, c!),
  };
}

/**
 * Every flush a CPU starts returns to it ("a flush_tlb_mm_range() that
 * starts returns"). `inFlush` is the model's own notion of c being inside
 * the flush (its pc between flush_tlb_mm_range and the return). Fails on an
 * initiator that waits forever: for CSDs a CPU with IRQs off never unlocks,
 * or with IRQs off itself while another CPU waits for it.
 */
export function flushReturns<D extends StateDecl>(CPU: Sort, inFlush: (s: View<D>, c: number) => boolean): LivenessDef<D> {
  return eventuallyLeaves(CPU, 'the flush the CPU started returns', inFlush);
}

/** A CPU in the flush IPI handler leaves it: a flush it acknowledged is run (async shootdown: flush after csd_unlock). */
export function ipiHandlerLeaves<D extends StateDecl>(CPU: Sort, inHandler: (s: View<D>, c: number) => boolean): LivenessDef<D> {
  return eventuallyLeaves(CPU, 'the CPU runs the flush it acknowledged and leaves the IPI handler', inHandler);
}
