/**
 * Instantiates a model for one parameter set: builds the machine, compiles
 * the state layout, enumerates action instances (action × argument tuple)
 * and gives the successor function three ways: the reference path on views
 * (referenceExpand), and the guards and effects as decision trees over the
 * packed words, built whole (tabulate.ts) or grown lazily (lazy-tables.ts).
 * What an action reads and writes is learnt by running it on a recording
 * view, never from its source text.
 */
import { compileLayout, type Layout } from './layout.js';
import { resolveParams, type ActionDef, type InvariantDef, type Machine, type ModelDef, type ParamValueAny } from './model.js';
import type { Sort, StateDecl, View } from './types.js';
import { actionJobs, generateBitExpand, invariantJobs, MAX_PREMISE_BITS, tabulate, tabulateInvariants, TREE_NODES_PER_MODEL, type BitExpand, type BitInvariants } from './tabulate.js';
import { lazyBitExpand, lazyBitInvariants, lazyTrees, type LazyTrees } from './lazy-tables.js';


export interface Instance {
  readonly id: number;
  readonly action: string;
  readonly actionIndex: number;
  readonly args: readonly number[];
  /** CPU performing the step, if the action says (trace column). */
  readonly cpu: number | undefined;
}

export interface CompiledInvariant {
  readonly name: string;
  readonly doc: string | undefined;
  /** True when every case holds. */
  readonly holds: (s: View<StateDecl>) => boolean;
  readonly explain: ((s: View<StateDecl>) => string) | undefined;
  readonly premise: ((s: View<StateDecl>) => boolean) | undefined;
  /** The argument tuples of `over` ([[]] without it), and the model's check of one case. */
  readonly cases: readonly (readonly number[])[];
  readonly holdsAt: (s: View<StateDecl>, ...args: number[]) => boolean;
}

export interface CompiledLiveness {
  readonly name: string;
  readonly doc: string | undefined;
  /** The argument tuples of `over` ([[]] without it): one property each. */
  readonly cases: readonly (readonly number[])[];
  readonly from: ((s: View<StateDecl>, ...args: number[]) => boolean) | undefined;
  readonly to: (s: View<StateDecl>, ...args: number[]) => boolean;
}

/**
 * Successor generation for one state. `b` and `w` both hold the state, `bw[bo..]`
 * its packed words. Each enabled instance's successor is packed into
 * out[n*W..] with its instance id in ks[n]. Returns n, or -1 when an effect
 * wrote an out-of-range value (fault[0] = instance, fault[1] = leaf).
 * With `n0`, successors are appended at out[n0*W..] / ks[n0..] and the
 * result is n0 + n (the explorer expands a batch of states into one buffer).
 */
export type Expand = (
  b: View<StateDecl>,
  w: View<StateDecl>,
  bw: Uint32Array,
  bo: number,
  out: Uint32Array,
  ks: Uint32Array,
  fault: Int32Array,
  n0?: number,
) => number;

export interface CompiledModel {
  readonly def: ModelDef;
  readonly params: Record<string, ParamValueAny>;
  readonly machine: Machine<StateDecl>;
  readonly layout: Layout<StateDecl>;
  readonly actionNames: readonly string[];
  readonly instances: readonly Instance[];
  /** The invariants checked (all, or those named by --invariant). */
  readonly invariants: readonly CompiledInvariant[];
  /** Every invariant of the machine (reports show the status of each). */
  readonly allInvariants: readonly CompiledInvariant[];
  /** The liveness properties (checked with --liveness), and each instance's fairness (0 none, 1 weak, 2 strong: liveness.ts). */
  readonly liveness: readonly CompiledLiveness[];
  readonly fairness: Uint8Array;
  readonly expand: Expand;
  /**
   * The same successors computed on the packed words alone (tabulate.ts), or
   * undefined when the model keeps the view path (`tabulation()` says why).
   * Built on the first call (it runs every action on many recorded views,
   * so the explorer asks only once a run is long enough to pay for it);
   * a call with a larger node budget retries a model that was over budget.
   */
  tabulated(maxNodes?: number): BitExpand | undefined;
  /** 'tabulated', 'not tried', or why the model keeps the view path. */
  tabulation(): string;
  /**
   * The invariants (and premises) checked on the packed words alone
   * (tabulate.ts), or undefined when they are checked on views
   * (`invariantTabulation()` says why); built and retried like tabulated().
   */
  tabulatedInvariants(maxNodes?: number): BitInvariants | undefined;
  invariantTabulation(): string;
  /**
   * The successors and invariants through lazily grown trees (lazy-tables.ts):
   * no up-front cost, for the models whose whole trees are past the budget.
   * Undefined when tabulation is disabled. Built once, shared by the runs of
   * this compiled model in this thread.
   */
  lazyTabulated(): LazyTables | undefined;
  /** The lazy tables if a run has built them (for its report), else undefined. */
  lazyTabulatedIfBuilt(): LazyTables | undefined;
  /** As tabulationMiss, for the tabulated invariants. */
  invariantTabulationMiss(state: string): void;
  invariantTabulationMisses(): readonly string[];
  /** The explorer found the tables disagreeing with `expand` on a state (its JSON); it used the views from then on. */
  tabulationMiss(state: string): void;
  tabulationMisses(): readonly string[];
  /** The initial state as a fresh view. */
  initial(): View<StateDecl>;
  /** Slow, checked single step (traces, replay, error diagnosis). */
  enabled(s: View<StateDecl>, k: number): boolean;
  apply(s: View<StateDecl>, k: number): View<StateDecl>;
  describe(s: View<StateDecl>, k: number): string;
}

export interface LazyTables {
  readonly expand: BitExpand;
  readonly invariants: BitInvariants | undefined;
  readonly trees: LazyTrees;
  readonly invariantTrees: LazyTrees | undefined;
}

export class ModelError extends Error {}

function rangeSize(r: Sort | number): number {
  return typeof r === 'number' ? r : r.size;
}

/**
 * Tables built on first use (tabulate.ts) and kept: `get` builds them with
 * a node budget, and tries again only with a larger budget when they were
 * over the last one; any other reason is final. `note` says 'tabulated',
 * 'not tried', 'disabled' or why not; `misses` are the states where the
 * explorer found them disagreeing with the views.
 */
function lazyTables<T>(disabled: boolean, build: (maxNodes: number) => { value: T } | { reason: string; overBudget: boolean }) {
  let note = disabled ? 'disabled' : 'not tried';
  /** The largest node budget tried (Infinity: do not try again). */
  let tried = disabled ? Infinity : 0;
  let value: T | undefined;
  const misses: string[] = [];
  return {
    get(maxNodes = TREE_NODES_PER_MODEL): T | undefined {
      if (value !== undefined || maxNodes <= tried) return value;
      tried = maxNodes;
      try {
        const r = build(maxNodes);
        if ('value' in r) {
          value = r.value;
          note = 'tabulated';
        } else {
          note = r.reason;
          if (!r.overBudget) tried = Infinity;
        }
      } catch (e) {
        tried = Infinity;
        note = `tabulation failed: ${(e as Error).message ?? String(e)}`;
      }
      return value;
    },
    note: () => note,
    miss: (state: string) => void misses.push(state),
    misses: misses as readonly string[],
  };
}

/** Every argument tuple of the ranges `over` (one empty tuple for none). */
function tuplesOver(over: readonly (Sort | number)[], what: string): number[][] {
  let tuples: number[][] = [[]];
  for (const r of over) {
    const n = rangeSize(r);
    if (!Number.isInteger(n) || n < 1) throw new ModelError(`${what} ranges over an empty set`);
    tuples = tuples.flatMap((t) => Array.from({ length: n }, (_, i) => [...t, i]));
  }
  return tuples;
}

export interface InstantiateOptions {
  invariants?: readonly string[];
  /** false: no tabulated successor function (tabulate.ts); the explorer uses the view path only. */
  tabulate?: boolean;
  /** Only the lazily grown trees (lazy-tables.ts), never the whole ones (tests compare both with the views). */
  lazyOnly?: boolean;
}

export function instantiate(def: ModelDef, overrides: Record<string, ParamValueAny> = {}, opts: InstantiateOptions = {}): CompiledModel {
  const params = resolveParams(def, overrides);
  let m: Machine<StateDecl>;
  try {
    m = def.build(params as never) as Machine<StateDecl>;
  } catch (e) {
    throw new ModelError(`model ${def.name}: build() threw: ${(e as Error).message ?? String(e)}`);
  }
  if (!m || typeof m !== 'object' || !m.state || !m.actions) throw new ModelError(`model ${def.name}: build() must return a machine with state and actions`);
  let layout: Layout<StateDecl>;
  try {
    layout = compileLayout(m.state);
  } catch (e) {
    throw new ModelError(`model ${def.name}: bad state declaration: ${(e as Error).message}`);
  }

  const actionNames = Object.keys(m.actions);
  if (actionNames.length === 0) throw new ModelError(`model ${def.name}: no actions`);
  const instances: Instance[] = [];
  actionNames.forEach((name, ai) => {
    const a = m.actions[name]!;
    if (typeof a.effect !== 'function') throw new ModelError(`model ${def.name}: action ${name} has no effect function`);
    const over = a.over ?? [];
    const cpuPos = over.findIndex((r) => typeof r !== 'number' && r.role === 'cpu');
    for (const args of tuplesOver(over, `model ${def.name}: action ${name}`)) {
      let cpu: number | undefined;
      try {
        cpu = a.cpu ? a.cpu(...args) : cpuPos >= 0 ? args[cpuPos] : undefined;
      } catch (e) {
        throw new ModelError(`model ${def.name}: cpu() of action ${name}(${args.join(',')}) threw ${e instanceof Error ? e.message : String(e)}`);
      }
      instances.push({ id: instances.length, action: name, actionIndex: ai, args, cpu });
    }
  });

  const allInv: CompiledInvariant[] = Object.entries(m.invariants ?? {}).map(([name, inv]) => {
    const d: InvariantDef<StateDecl> = typeof inv === 'function' ? { holds: inv } : inv;
    if (typeof d.holds !== 'function') throw new ModelError(`model ${def.name}: invariant ${name} has no holds() function`);
    const holdsAt = d.holds;
    if (!d.over) return { name, doc: d.doc, holds: holdsAt, explain: d.explain, premise: d.premise, cases: [[]], holdsAt };
    const cases = tuplesOver(d.over, `model ${def.name}: invariant ${name}`);
    // The first failing case, for the explanation.
    const failing = (s: View<StateDecl>): readonly number[] | undefined => {
      for (const args of cases) if (!holdsAt(s, ...args)) return args;
      return undefined;
    };
    const explain = d.explain;
    // The view path's check, unrolled (constant arguments, one call site per
    // case) unless there are very many cases.
    const holds =
      cases.length <= 256
        ? (new Function('h', `return function holds(s) { return ${cases.map((a) => `!!h(s${a.map((x) => `, ${x}`).join('')})`).join(' && ')}; };`)(holdsAt) as (s: View<StateDecl>) => boolean)
        : (s: View<StateDecl>) => failing(s) === undefined;
    return {
      name,
      doc: d.doc,
      holds,
      explain: explain ? (s) => explain(s, ...(failing(s) ?? [])) : undefined,
      premise: d.premise,
      cases,
      holdsAt,
    };
  });
  let invariants = allInv;
  if (opts.invariants && opts.invariants.length) {
    for (const n of opts.invariants)
      if (!allInv.some((i) => i.name === n))
        throw new ModelError(`unknown invariant ${n} for model ${def.name} (known: ${allInv.map((i) => i.name).join(', ') || 'none'})`);
    invariants = allInv.filter((i) => opts.invariants!.includes(i.name));
  }

  const liveness: CompiledLiveness[] = Object.entries(m.liveness ?? {}).map(([name, d]) => {
    if (!d || typeof d.to !== 'function') throw new ModelError(`model ${def.name}: liveness property ${name} has no to() function`);
    if (d.from !== undefined && typeof d.from !== 'function') throw new ModelError(`model ${def.name}: liveness property ${name}: from must be a function`);
    if (allInv.some((i) => i.name === name) || name === 'deadlock') throw new ModelError(`model ${def.name}: liveness property ${name} has the name of an invariant`);
    return { name, doc: d.doc, cases: d.over ? tuplesOver(d.over, `model ${def.name}: liveness property ${name}`) : [[]], from: d.from, to: d.to };
  });
  const fairness = new Uint8Array(instances.length);
  for (const [name, f] of Object.entries(m.fairness ?? {})) {
    if (!(name in m.actions)) throw new ModelError(`model ${def.name}: fairness names ${name}, which is not an action (actions: ${actionNames.join(', ')})`);
    if (f !== 'weak' && f !== 'strong') throw new ModelError(`model ${def.name}: fairness of ${name} is ${JSON.stringify(f)}, not 'weak' or 'strong'`);
    for (const inst of instances) if (inst.action === name) fairness[inst.id] = f === 'weak' ? 1 : 2;
  }

  const expand = referenceExpand(m.actions, instances, layout);
  const action = (k: number): ActionDef<StateDecl> => m.actions[instances[k]!.action]!;
  const succTables = lazyTables(opts.tabulate === false || opts.lazyOnly === true, (maxNodes) => {
    const tab = tabulate(m.actions, instances, layout, maxNodes);
    return 'trees' in tab ? { value: generateBitExpand(tab.trees, instances, layout) } : tab;
  });
  const invTables = lazyTables(opts.tabulate === false || opts.lazyOnly === true, (maxNodes) => {
    const tab = tabulateInvariants(invariants, layout, maxNodes);
    return 'bits' in tab ? { value: tab.bits } : tab;
  });

  let lazy: LazyTables | undefined;
  const lazyTabulated = () => {
    if (opts.tabulate === false) return undefined;
    if (!lazy) {
      const trees = lazyTrees(actionJobs(m.actions, instances), layout);
      const withPremises = invariants.filter((i) => i.premise).length;
      const invTrees = withPremises > MAX_PREMISE_BITS ? undefined : lazyTrees(invariantJobs(invariants), layout);
      lazy = {
        expand: lazyBitExpand(trees, instances.map((i) => i.id), layout.words),
        invariants: invTrees && lazyBitInvariants(invTrees, invariants.map((i) => i.cases.length), invariants.map((i) => i.premise !== undefined)),
        trees,
        invariantTrees: invTrees,
      };
    }
    return lazy;
  };

  return {
    def,
    params,
    machine: m,
    lazyTabulated,
    lazyTabulatedIfBuilt: () => lazy,
    layout,
    actionNames,
    instances,
    invariants,
    allInvariants: allInv,
    liveness,
    fairness,
    expand,
    tabulated: (maxNodes) => succTables.get(maxNodes),
    tabulation: () => succTables.note(),
    tabulationMiss: (state) => succTables.miss(state),
    tabulationMisses: () => succTables.misses,
    tabulatedInvariants: (maxNodes) => invTables.get(maxNodes),
    invariantTabulation: () => invTables.note(),
    invariantTabulationMiss: (state) => invTables.miss(state),
    invariantTabulationMisses: () => invTables.misses,
    initial() {
      const v = layout.makeView();
      m.init?.(v);
      return v;
    },
    enabled(s, k) {
      const a = action(k);
      return a.guard ? a.guard(s, ...instances[k]!.args) === true : true;
    },
    apply(s, k) {
      const v = layout.makeView();
      layout.copy(s, v);
      action(k).effect(v, ...instances[k]!.args);
      return v;
    },
    describe(s, k) {
      const a = action(k);
      const inst = instances[k]!;
      const label = `${inst.action}(${inst.args.join(',')})`;
      if (!a.describe) return label;
      try {
        return String(a.describe(s, ...inst.args));
      } catch (e) {
        throw new ModelError(`describe() of ${label} threw ${e instanceof Error ? `${e.name === 'Error' ? '' : e.name + ': '}${e.message}` : String(e)}`);
      }
    },
  };
}

/**
 * The reference successor function: for each instance in id order, the
 * guard on the base view `b`; if it holds, `b` copied into the work view
 * `w`, the effect run on `w` and `w` packed into the next output slot
 * (pack range-checks every leaf). No analysis of the model's code, nothing
 * cached: the obviously correct path that the tables (tabulate.ts,
 * lazy-tables.ts) are checked against, and what expands the states they
 * cannot (the first batch, a state whose path bails, a model that cannot
 * be recorded). `w` is left dirty; `b` is only read.
 */
function referenceExpand(actions: Record<string, ActionDef<StateDecl>>, instances: readonly Instance[], layout: Layout<StateDecl>): Expand {
  const W = layout.words;
  const guards = instances.map((inst) => actions[inst.action]!.guard);
  const effects = instances.map((inst) => actions[inst.action]!.effect);
  const args = instances.map((inst) => inst.args);
  const { copy, pack } = layout;
  return function referenceExpand(b, w, _bw, _bo, out, ks, fault, n0 = 0) {
    let n = n0;
    for (let k = 0; k < instances.length; k++) {
      const g = guards[k];
      if (g && g(b, ...args[k]!) !== true) continue;
      copy(b, w);
      effects[k]!(w, ...args[k]!);
      const bad = pack(w, out, n * W);
      if (bad >= 0) {
        fault[0] = k;
        fault[1] = bad;
        return -1;
      }
      ks[n++] = k;
    }
    return n;
  };
}
