/**
 * Explicit-state breadth-first exploration.
 *
 * States get ids in discovery order, so the BFS queue is the id range itself
 * and a level is a contiguous id interval. Every new state (the initial one
 * too) is checked against the invariants; the first violation of each
 * invariant is therefore reached by a shortest path, rebuilt afterwards from
 * parent links by replaying the recorded action instances (trace.ts).
 */
import type { CompiledModel } from './compile.js';
import { ModelError } from './compile.js';
import { createExactStore, HASH_SEED, type StateStore } from './store.js';
import type { StateDecl, View } from './types.js';

export interface CheckOptions {
  /** Keep going after the first violation; one shortest trace per violated invariant. */
  all?: boolean;
  maxStates?: number;
  maxDepth?: number;
  timeLimitMs?: number;
  /** Stop (verdict incomplete) before the visited set would grow past this. */
  memoryLimitBytes?: number;
  onProgress?: (p: Progress) => void;
  progressIntervalMs?: number;
  /** Skip deadlock detection. */
  noDeadlock?: boolean;
}

export interface Progress {
  states: number;
  transitions: number;
  depth: number;
  queue: number;
  elapsedMs: number;
  statesPerSec: number;
  memoryBytes: number;
}

export type LimitHit = 'max-states' | 'max-depth' | 'time-limit' | 'memory';

export interface RawViolation {
  /** Invariant name, or 'deadlock'. */
  readonly name: string;
  readonly kind: 'invariant' | 'deadlock';
  readonly stateId: number;
}

export interface Exploration {
  readonly store: StateStore;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly elapsedMs: number;
  readonly violations: RawViolation[];
  readonly limit: LimitHit | undefined;
  /** Per action instance: fired at least once. */
  readonly fired: Uint8Array;
  /** Per invariant (in model.invariants order): states where its premise held (-1 = no premise). */
  readonly premiseCounts: number[];
  readonly storeBytes: number;
}

export function explore(model: CompiledModel, opts: CheckOptions = {}): Exploration {
  const t0 = performance.now();
  const { layout, expand, invariants } = model;
  const W = layout.words;
  const nInst = model.instances.length;
  const store = createExactStore(W, layout.hash, { actionCount: nInst, memoryLimitBytes: opts.memoryLimitBytes });
  const base = layout.makeView();
  const work = layout.makeView();
  const fresh = layout.makeView();
  const shape = layout.containers(work);
  const sameShape = (): boolean => {
    const now = layout.containers(work);
    return now.length === shape.length && now.every((x, i) => x === shape[i]);
  };
  const bw = new Uint32Array(W);
  const out = new Uint32Array(Math.max(nInst, 1) * W);
  const ks = new Uint32Array(Math.max(nInst, 1));
  const hs = new Uint32Array(Math.max(nInst, 1));
  const fault = new Int32Array(2);
  const fired = new Uint8Array(nInst);
  const maxStates = opts.maxStates ?? Infinity;
  const maxDepth = opts.maxDepth ?? Infinity;
  const timeLimit = opts.timeLimitMs ?? Infinity;
  const progressEvery = opts.progressIntervalMs ?? 100;
  const endState = model.machine.endState;
  const violations: RawViolation[] = [];
  const violated = new Set<string>();
  const holds = invariants.map((i) => i.holds);
  const premises = invariants.map((i) => i.premise);
  const premiseCounts = invariants.map((i) => (i.premise ? 0 : -1));
  const anyPremise = premises.some((p) => p);
  let limit: LimitHit | undefined;
  let transitions = 0;
  let depth = 0;

  /** Invariants on a new state; true = stop now. */
  const checkNew = (v: View<StateDecl>, id: number): boolean => {
    for (let i = 0; i < holds.length; i++) {
      if (!holds[i]!(v)) {
        const name = invariants[i]!.name;
        if (!violated.has(name)) {
          violated.add(name);
          violations.push({ name, kind: 'invariant', stateId: id });
          if (!opts.all) return true;
        }
      }
    }
    if (anyPremise)
      for (let i = 0; i < premises.length; i++) {
        const p = premises[i];
        if (p && p(v)) premiseCounts[i]!++;
      }
    return false;
  };

  // The initial state.
  let init: View<StateDecl>;
  try {
    init = model.initial();
  } catch (e) {
    throw new ModelError(`init() threw: ${errText(e)}`);
  }
  const r0 = layout.pack(init, bw, 0);
  if (r0 >= 0) throw new ModelError(`initial state: ${layout.leaves[r0]!.path} = ${fmt(readPath(init, r0, model))} is outside its declared range`);
  store.insert(bw, 0, layout.hash(bw, 0, HASH_SEED), -1, 0);
  let stop = false;
  try {
    stop = checkNew(init, 0);
  } catch (e) {
    throw diagnoseInvariant(model, init, e) ?? e;
  }

  let levelEnd = 1;
  let lastProgress = t0;
  let id = 0;
  let phase: 'expand' | 'invariant' = 'expand';
  try {
    while (!stop && id < store.count()) {
      if (id === levelEnd) {
        depth++;
        levelEnd = store.count();
      }
      const tab = store.table();
      const off = store.offsetOf(id);
      for (let k = 0; k < W; k++) bw[k] = tab[off + k]!;
      layout.unpack(bw, 0, base);
      layout.unpack(bw, 0, work);
      phase = 'expand';
      const n = expand(base, work, bw, 0, out, ks, fault);
      if (n < 0) throw new RangeFault(fault[0]!, fault[1]!);
      if ((id & 255) === 0 && !sameShape()) throw new ShapeFault();
      transitions += n;
      if (n === 0) {
        if (!opts.noDeadlock && !(endState && endState(base)) && !violated.has('deadlock')) {
          violated.add('deadlock');
          violations.push({ name: 'deadlock', kind: 'deadlock', stateId: id });
          if (!opts.all) break;
        }
      } else {
        for (let i = 0; i < n; i++) hs[i] = layout.hash(out, i * W, HASH_SEED);
        store.touch(hs, n);
        for (let i = 0; i < n; i++) {
          const k = ks[i]!;
          fired[k] = 1;
          const nid = store.insert(out, i * W, hs[i]!, id, k);
          if (nid < 0) continue;
          if (depth >= maxDepth) {
            limit = 'max-depth';
            stop = true;
            break;
          }
          layout.unpack(out, i * W, fresh);
          phase = 'invariant';
          if (checkNew(fresh, nid)) {
            stop = true;
            break;
          }
          if (nid + 1 >= maxStates) {
            limit = 'max-states';
            stop = true;
            break;
          }
        }
      }
      id++;
      if ((id & 1023) === 0) {
        const now = performance.now();
        if (store.full()) {
          limit = 'memory';
          break;
        }
        if (now - t0 > timeLimit) {
          limit = 'time-limit';
          break;
        }
        if (opts.onProgress && now - lastProgress >= progressEvery) {
          lastProgress = now;
          const el = now - t0;
          opts.onProgress({
            states: store.count(),
            transitions,
            depth,
            queue: store.count() - id,
            elapsedMs: el,
            statesPerSec: (store.count() / el) * 1000,
            memoryBytes: store.stats().bytes,
          });
        }
      }
    }
  } catch (e) {
    if (e instanceof RangeFault) {
      const inst = model.instances[e.instance]!;
      layout.unpack(bw, 0, base);
      const bad = model.apply(base, e.instance);
      throw new ModelError(
        `action ${inst.action}(${inst.args.join(',')}) wrote ${layout.leaves[e.leaf]!.path} = ${fmt(readPath(bad, e.leaf, model))}, outside its declared range; ` +
          `state before: ${JSON.stringify(layout.toPlain(base))}`,
      );
    }
    if (phase === 'invariant') throw diagnoseInvariant(model, fresh, e) ?? e;
    if (e instanceof ShapeFault) throw shapeCulprit(model);
    layout.unpack(bw, 0, base);
    throw diagnose(model, base, e);
  }
  // With --max-depth, states deeper than the limit are not reported.
  const states = limit === 'max-depth' ? levelEnd : store.count();
  const elapsedMs = performance.now() - t0;
  return {
    store,
    states,
    transitions,
    depth: limit !== 'max-depth' && store.count() > levelEnd ? depth + 1 : depth,
    elapsedMs,
    violations,
    limit,
    fired,
    premiseCounts,
    storeBytes: store.stats().bytes,
  };
}

class ShapeFault extends Error {}

class RangeFault extends Error {
  constructor(
    readonly instance: number,
    readonly leaf: number,
  ) {
    super('range');
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? `${e.name === 'Error' ? '' : e.name + ': '}${e.message}` : String(e);
}

function fmt(x: unknown): string {
  return typeof x === 'string' ? JSON.stringify(x) : String(x);
}

function readPath(v: View<StateDecl>, leaf: number, model: CompiledModel): unknown {
  const l = model.layout.leaves[leaf]!;
  let x: unknown = (v as Record<string, unknown>)[l.field];
  for (const i of l.indices) x = (x as unknown[] | undefined)?.[i];
  return x;
}

/** Find an action whose effect replaces an array of the state instead of writing its elements. */
function shapeCulprit(model: CompiledModel): ModelError {
  const { layout } = model;
  const s0 = model.initial();
  for (const inst of model.instances) {
    const v = layout.makeView();
    layout.copy(s0, v);
    const before = layout.containers(v);
    try {
      model.machine.actions[inst.action]!.effect(v, ...inst.args);
    } catch {
      continue;
    }
    const after = layout.containers(v);
    if (after.length !== before.length || after.some((x, i) => x !== before[i]))
      return new ModelError(`effect of ${inst.action}(${inst.args.join(',')}) replaces an array of the state; assign elements instead (e.g. s.tlb[c][p] = x, or s.tlb[c].fill(x))`);
  }
  return new ModelError('an effect replaced an array of the state instead of assigning its elements');
}

/** Re-run the state's instances one by one to name the guard, effect or invariant that threw. */
function diagnose(model: CompiledModel, base: View<StateDecl>, e: unknown): Error {
  if (e instanceof ModelError) return e;
  const state = JSON.stringify(model.layout.toPlain(base));
  for (const inst of model.instances) {
    const label = `${inst.action}(${inst.args.join(',')})`;
    let en = false;
    try {
      en = model.enabled(base, inst.id);
    } catch (err) {
      return new ModelError(`guard of ${label} threw ${errText(err)}; state: ${state}`);
    }
    if (!en) continue;
    let next: View<StateDecl>;
    try {
      next = model.apply(base, inst.id);
    } catch (err) {
      return new ModelError(`effect of ${label} threw ${errText(err)}; state: ${state}`);
    }
    const d = diagnoseInvariant(model, next, undefined);
    if (d) return new ModelError(`${d.message} (reached by ${label})`);
  }
  return new ModelError(`model threw ${errText(e)} while expanding state ${state}`);
}

function diagnoseInvariant(model: CompiledModel, s: View<StateDecl>, e: unknown): ModelError | undefined {
  for (const inv of model.invariants) {
    try {
      inv.holds(s);
      inv.premise?.(s);
    } catch (err) {
      return new ModelError(`invariant ${inv.name} threw ${errText(err)}; state: ${JSON.stringify(model.layout.toPlain(s))}`);
    }
  }
  return e === undefined ? undefined : new ModelError(`model threw ${errText(e)}`);
}
