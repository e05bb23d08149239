/**
 * The independent check of a liveness counterexample (a lasso): replayed
 * step by step with the model's guards and effects, with no use of the
 * graph that found it. `check-liveness.ts` runs it on every lasso it
 * reports, and `tlbcheck replay` on a recorded one. A lasso shows `from ~>
 * to` fails when
 *   - every step is enabled where it is taken;
 *   - the loop closes: the last state is the state after `loopStart` steps
 *     (or, with no step after it, no action instance is enabled there: the
 *     run stays in it forever);
 *   - from some state on, `to` never holds (on the rest of the stem and the
 *     whole loop), and `from` holds in one of those states (no `from`: `to`
 *     never holds at all);
 *   - the loop is fair: each weakly fair instance enabled in every state of
 *     the loop is taken on it, and each strongly fair instance enabled in
 *     some state of the loop is taken on it.
 */
import type { CompiledLiveness, CompiledModel } from './compile.js';
import { STRONG, WEAK } from './liveness.js';
import type { StateDecl, View } from './types.js';

/** A liveness property case's name: `name`, or `name(args)` for a case of its `over`. */
export const caseLabel = (name: string, args: readonly number[]) => (args.length ? `${name}(${args.join(',')})` : name);

export interface LivenessCase {
  readonly p: CompiledLiveness;
  readonly args: readonly number[];
  readonly label: string;
}

/** Every case of these properties (one per argument tuple of its `over`), with its label. */
export function livenessCases(props: readonly CompiledLiveness[]): LivenessCase[] {
  return props.flatMap((p) => p.cases.map((args) => ({ p, args, label: caseLabel(p.name, args) })));
}

/** The property case a label names (`name` or `name(a,b)`), or undefined. */
export function livenessCase(model: CompiledModel, label: string): LivenessCase | undefined {
  return livenessCases(model.liveness).find((c) => c.label === label);
}

/** Why the lasso (instance ids, loop after `loopStart` steps) does not show `label` failing; undefined when it does. */
export function lassoFault(model: CompiledModel, label: string, ids: readonly number[], loopStart: number): string | undefined {
  const c = livenessCase(model, label);
  if (!c) return `the model has no liveness property ${label}`;
  if (loopStart < 0 || loopStart > ids.length) return `loopStart ${loopStart} is outside the trace`;
  const { layout } = model;
  const states: View<StateDecl>[] = [model.initial()];
  for (let i = 0; i < ids.length; i++) {
    const s = states[i]!;
    const k = ids[i]!;
    if (!model.enabled(s, k)) return `step ${i + 1} is not enabled`;
    states.push(model.apply(s, k));
  }
  const enabledIn = (s: View<StateDecl>) => model.instances.filter((inst) => model.enabled(s, inst.id)).map((inst) => inst.id);
  const last = states[states.length - 1]!;
  if (loopStart === ids.length) {
    if (enabledIn(last).length) return 'the trace ends without a loop in a state where steps are enabled';
  } else {
    const a = new Uint32Array(layout.words);
    const b = new Uint32Array(layout.words);
    layout.pack(states[loopStart]!, a, 0);
    layout.pack(last, b, 0);
    if (a.some((w, i) => w !== b[i])) return `the loop does not close: the last state is not the state after step ${loopStart}`;
  }
  const to = (s: View<StateDecl>) => Boolean(c.p.to(s, ...c.args));
  // The first state from which `to` never holds again.
  let from = states.length;
  while (from > 0 && !to(states[from - 1]!)) from--;
  if (from > loopStart) return `${label}: its goal holds on the loop`;
  if (c.p.from ? !states.slice(from).some((s) => c.p.from!(s, ...c.args)) : from !== 0) return `${label}: no state of the trace starts the obligation that is never met`;
  // Fairness of the loop (its states: after loopStart .. before the last, which repeats the first).
  if (loopStart < ids.length) {
    const loopStates = states.slice(loopStart, states.length - 1);
    const taken = new Set(ids.slice(loopStart));
    const count = new Map<number, number>();
    for (const s of loopStates) for (const k of enabledIn(s)) count.set(k, (count.get(k) ?? 0) + 1);
    for (const [k, n] of count) {
      if (taken.has(k)) continue;
      const f = model.fairness[k];
      const inst = model.instances[k]!;
      if (f === STRONG) return `the loop is not fair: ${inst.action}(${inst.args.join(',')}) is strongly fair, enabled on the loop and never taken`;
      if (f === WEAK && n === loopStates.length) return `the loop is not fair: ${inst.action}(${inst.args.join(',')}) is weakly fair, enabled all along the loop and never taken`;
    }
  }
  return undefined;
}
