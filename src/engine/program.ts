/**
 * Straight-line kernel code as steps of a per-CPU program. A model keeps
 * each CPU's place in its code in a field `pc` (an enum per CPU); a step is
 * enabled when the CPU is at `from` (and `when` holds), runs `run`, then
 * moves the CPU to `to`. `run` returns the step's phrase; the trace shows it
 * by running `run` on a copy of the state before the step.
 */
import type { ActionDef } from './model.js';
import type { Sort, StateDecl, View } from './types.js';

/** The values of a model's `pc` field. */
export type PcOf<D extends StateDecl> = View<D> extends { pc: readonly (infer P)[] } ? P : never;

export interface PcStepOptions<D extends StateDecl> {
  /** A further condition (a lock that must be free, a budget left). */
  when?: (s: View<D>, c: number) => boolean;
}

export function pcStep<D extends StateDecl>(
  CPU: Sort,
  from: PcOf<D>,
  to: PcOf<D> | ((s: View<D>, c: number) => PcOf<D>),
  run: (s: View<D>, c: number) => string,
  o: PcStepOptions<D> = {},
): ActionDef<D> {
  const pc = (s: View<D>) => (s as unknown as { pc: PcOf<D>[] }).pc;
  const next = typeof to === 'function' ? (to as (s: View<D>, c: number) => PcOf<D>) : () => to;
  const when = o.when;
  return {
    over: [CPU],
    guard: when ? (s, c: number) => pc(s)[c] === from && when(s, c) : (s, c: number) => pc(s)[c] === from,
    effect: (s, c: number) => {
      run(s, c);
      pc(s)[c] = next(s, c);
    },
    describe: (s, c: number) => run(structuredClone(s), c),
  };
}
