/**
 * Counterexample reconstruction: follow parent links from the violating state
 * back to the initial state, then replay the recorded action instances from
 * the initial state, checking at each step that the action is enabled and
 * that the replayed state packs to exactly the stored one (a model whose
 * guards or effects are not deterministic functions of the state is caught
 * here rather than producing a bogus trace).
 */
import type { CompiledModel } from './compile.js';
import { ModelError } from './compile.js';
import type { StateStore } from './store.js';
import type { StateDecl, View } from './types.js';

export interface TraceStep {
  /** Action name; the first step of a trace is the initial state, action 'init'. */
  readonly action: string;
  readonly args: readonly number[];
  readonly cpu: number | undefined;
  /** Kernel-vocabulary phrase supplied by the model. */
  readonly description: string;
  /** Full state after the step. */
  readonly state: Record<string, unknown>;
}

export function pathTo(store: StateStore, id: number): number[] {
  const acts: number[] = [];
  for (let cur = id; store.parentOf(cur) >= 0; cur = store.parentOf(cur)) acts.push(store.actionOf(cur));
  return acts.reverse();
}

/** Replay instance ids from the initial state; optionally compare against stored states. */
export function replayInstances(model: CompiledModel, instanceIds: readonly number[], verify?: { store: StateStore; stateId: number }): {
  steps: TraceStep[];
  last: View<StateDecl>;
} {
  const { layout } = model;
  let s = model.initial();
  const steps: TraceStep[] = [{ action: 'init', args: [], cpu: undefined, description: 'initial state', state: layout.toPlain(s) }];
  for (const k of instanceIds) {
    const inst = model.instances[k]!;
    if (!model.enabled(s, k)) throw new ModelError(`replay: ${inst.action}(${inst.args.join(',')}) is not enabled at step ${steps.length}`);
    const description = model.describe(s, k);
    s = model.apply(s, k);
    steps.push({ action: inst.action, args: inst.args, cpu: inst.cpu, description, state: layout.toPlain(s) });
  }
  if (verify) {
    const a = new Uint32Array(layout.words);
    const r = layout.pack(s, a, 0);
    const tab = verify.store.table();
    const off = verify.store.offsetOf(verify.stateId);
    if (r >= 0 || a.some((w, i) => w !== tab[off + i]))
      throw new ModelError('replaying the counterexample did not reach the stored state: are the guards and effects deterministic functions of the state?');
  }
  return { steps, last: s };
}

/** Which leaves differ between two plain states (for "what changed" output). */
export function changedPaths(model: CompiledModel, before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const l of model.layout.leaves) {
    let a: unknown = before[l.field];
    let b: unknown = after[l.field];
    for (const i of l.indices) {
      a = (a as unknown[])[i];
      b = (b as unknown[])[i];
    }
    if (a !== b) out.push(l.path);
  }
  return out;
}

export function valueAt(state: Record<string, unknown>, path: string, model: CompiledModel): unknown {
  const l = model.layout.leaves.find((x) => x.path === path);
  if (!l) return undefined;
  let x: unknown = state[l.field];
  for (const i of l.indices) x = (x as unknown[])[i];
  return x;
}
