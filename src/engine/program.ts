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

/** pcStep for one CPU sort, with `when` as a fourth argument: `const step = pcSteps<S>(CPU)`. */
export function pcSteps<D extends StateDecl>(CPU: Sort) {
  return (from: PcOf<D>, to: PcOf<D> | ((s: View<D>, c: number) => PcOf<D>), run: (s: View<D>, c: number) => string, when?: (s: View<D>, c: number) => boolean): ActionDef<D> =>
    pcStep<D>(CPU, from, to, run, { when });
}

/** The CPU that performs a step with these arguments: its `cpu`, else its first argument over a CPU sort; null if it has none. */
export function performer<D extends StateDecl>(a: ActionDef<D>): ((args: number[]) => number) | null {
  const cpu = a.cpu;
  if (cpu) return (args) => cpu(...args);
  const i = (a.over ?? []).findIndex((r) => typeof r !== 'number' && (r as Sort).role === 'cpu');
  return i < 0 ? null : (args) => args[i]!;
}

/**
 * The same steps, each enabled only while `may(s, cpu)` holds for the CPU
 * that performs it (a CPU in an NMI handler, a vCPU that is not running, do
 * not run their code). A step with no CPU is returned as it is.
 */
export function whileCpu<D extends StateDecl, K extends string>(actions: Record<K, ActionDef<D>>, may: (s: View<D>, cpu: number) => boolean): Record<K, ActionDef<D>> {
  const out = {} as Record<K, ActionDef<D>>;
  for (const name of Object.keys(actions) as K[]) {
    const a = actions[name];
    const who = performer(a);
    const guard = a.guard;
    out[name] = who ? { ...a, guard: (s, ...args) => may(s, who(args)) && (guard ? guard(s, ...args) : true) } : a;
  }
  return out;
}
