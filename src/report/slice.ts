/**
 * Re-executing traces against a compiled model, and slicing a counterexample
 * down to the steps the violation depends on.
 *
 * The slice is computed with the model itself, not approximated from the
 * state diffs: a step is dropped if the trace without it is still a valid
 * path (every remaining action enabled where it runs) that still ends in a
 * state violating the same invariant. Removal is repeated until no single
 * step can go, so the slice is 1-minimal and, being a real path of the
 * model, checkable by `tlbcheck replay` like any other trace. What remains is
 * the fill of the stale entry, the bad access, and whatever enabled them.
 */
import type { Violation } from '../engine/check.js';
import type { CompiledModel } from '../engine/compile.js';
import type { TraceStep } from '../engine/trace.js';
import type { StateDecl, View } from '../engine/types.js';

export class TraceError extends Error {}

/** Instance id of every step after trace[0], matched by action name and arguments. */
export function instanceIdsOf(model: CompiledModel, trace: readonly Pick<TraceStep, 'action' | 'args'>[]): number[] {
  const byKey = new Map<string, number>();
  for (const inst of model.instances) byKey.set(`${inst.action}(${inst.args.join(',')})`, inst.id);
  return trace.slice(1).map((st, i) => {
    const key = `${st.action}(${st.args.join(',')})`;
    const id = byKey.get(key);
    if (id === undefined) {
      const known = model.actionNames.includes(st.action);
      throw new TraceError(
        known
          ? `step ${i + 1}: ${key} has arguments outside the model's ranges for these parameters`
          : `step ${i + 1}: the model has no action ${st.action} (actions: ${model.actionNames.join(', ')})`,
      );
    }
    return id;
  });
}

/** Does state `s` exhibit the violation (invariant false, or a deadlock)? */
export function exhibits(model: CompiledModel, s: View<StateDecl>, v: Pick<Violation, 'invariant' | 'kind'>): boolean {
  try {
    if (v.kind === 'deadlock') {
      if (model.machine.endState?.(s)) return false;
      return !model.instances.some((inst) => model.enabled(s, inst.id));
    }
    const inv = model.allInvariants.find((i) => i.name === v.invariant);
    return inv ? !inv.holds(s) : false;
  } catch {
    return false;
  }
}

/** Replay `ids` from the initial state; the final state, or undefined if some step is not enabled (or throws). */
export function runPath(model: CompiledModel, ids: readonly number[]): View<StateDecl> | undefined {
  let s = model.initial();
  try {
    for (const k of ids) {
      if (!model.enabled(s, k)) return undefined;
      s = model.apply(s, k);
    }
  } catch {
    return undefined;
  }
  return s;
}

/** Rebuild full trace steps (descriptions and states) for a path of instance ids. */
export function stepsOf(model: CompiledModel, ids: readonly number[]): TraceStep[] {
  let s = model.initial();
  const steps: TraceStep[] = [{ action: 'init', args: [], cpu: undefined, description: 'initial state', state: model.layout.toPlain(s) }];
  for (const k of ids) {
    const inst = model.instances[k]!;
    const description = model.describe(s, k);
    s = model.apply(s, k);
    steps.push({ action: inst.action, args: inst.args, cpu: inst.cpu, description, state: model.layout.toPlain(s) });
  }
  return steps;
}

export interface Slice {
  /** The sliced counterexample: a valid path of the model ending in the same violation. */
  readonly violation: Violation;
  /** Original step numbers (1-based) of the kept steps. */
  readonly kept: number[];
  /** Original step numbers of the dropped steps. */
  readonly dropped: number[];
}

export function sliceViolation(model: CompiledModel, v: Violation): Slice {
  let ids = instanceIdsOf(model, v.trace);
  let nums = ids.map((_, i) => i + 1);
  const ok = (cand: readonly number[]) => {
    const s = runPath(model, cand);
    return s !== undefined && exhibits(model, s, v);
  };
  if (!ok(ids)) throw new TraceError('the trace does not end in the violation it reports; cannot slice it');
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = ids.length - 1; i >= 0; i--) {
      const cand = ids.filter((_, j) => j !== i);
      if (ok(cand)) {
        ids = cand;
        nums = nums.filter((_, j) => j !== i);
        changed = true;
      }
    }
  }
  const trace = stepsOf(model, ids);
  const all = v.trace.slice(1).map((_, i) => i + 1);
  return { violation: { ...v, trace, reason: explainAt(model, runPath(model, ids)!, v) }, kept: nums, dropped: all.filter((n) => !nums.includes(n)) };
}

/** The invariant's explain() in state `s` (the violation's recorded reason if it has none). */
export function explainAt(model: CompiledModel, s: View<StateDecl>, v: Pick<Violation, 'invariant' | 'kind' | 'reason'>): string {
  if (v.kind === 'deadlock') return v.reason;
  const inv = model.invariants.find((i) => i.name === v.invariant);
  if (!inv?.explain) return v.reason;
  try {
    return inv.explain(s);
  } catch (e) {
    return `(explain() threw: ${(e as Error).message})`;
  }
}
