/**
 * Instantiates a model for one parameter set: builds the machine, compiles
 * the state layout, enumerates action instances (action × argument tuple)
 * and generates the successor function with every instance unrolled, so each
 * guard/effect call site is monomorphic and V8 can inline it.
 */
import { compileLayout, genInlineEmit, type Layout } from './layout.js';
import { resolveParams, type ActionDef, type InvariantDef, type Machine, type ModelDef, type ParamValueAny } from './model.js';
import type { Sort, StateDecl, View } from './types.js';
import { fieldDepths, leavesWritten, writePatterns } from './written-leaves.js';
import { actionJobs, generateBitExpand, invariantJobs, tabulate, tabulateInvariants, TREE_NODES_PER_MODEL, type BitExpand, type BitInvariants } from './tabulate.js';
import { lazyBitExpand, lazyBitInvariants, lazyTrees, type LazyTrees } from './lazy-tables.js';

/** Instances × leaves per generated expand function. */
const INLINE_EMIT_BUDGET = 400;

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
  lazyTabulated(): { expand: BitExpand; invariants: BitInvariants | undefined; trees: LazyTrees; invariantTrees: LazyTrees | undefined } | undefined;
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
  /**
   * Actions (one entry per event) whose successor code, which diffs only the
   * leaves the write analysis predicts, was caught missing a write; their
   * successors were recomputed with the coarse diff (see generateExpand).
   */
  writeAnalysisMisses(): readonly string[];
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
  /** false: diff every leaf of the fields an effect names, as before the per-instance write analysis (tests compare both). */
  writeAnalysis?: boolean;
  /** false: no tabulated successor function (tabulate.ts); the explorer uses the view path only. */
  tabulate?: boolean;
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
      const cpu = a.cpu ? a.cpu(...args) : cpuPos >= 0 ? args[cpuPos] : undefined;
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

  const misses: string[] = [];
  const expand = generateExpand(m.actions, actionNames, instances, layout, opts.writeAnalysis ?? true, (action) => misses.push(action));
  const action = (k: number): ActionDef<StateDecl> => m.actions[instances[k]!.action]!;
  const succTables = lazyTables(opts.tabulate === false, (maxNodes) => {
    const tab = tabulate(m.actions, instances, layout, maxNodes);
    return 'trees' in tab ? { value: generateBitExpand(tab.trees, instances, layout) } : tab;
  });
  const invTables = lazyTables(opts.tabulate === false, (maxNodes) => {
    const tab = tabulateInvariants(invariants, layout, maxNodes);
    return 'bits' in tab ? { value: tab.bits } : tab;
  });

  let lazy: ReturnType<CompiledModel['lazyTabulated']>;
  const lazyTabulated = () => {
    if (opts.tabulate === false) return undefined;
    if (!lazy) {
      const trees = lazyTrees(actionJobs(m.actions, instances), layout);
      const withPremises = invariants.filter((i) => i.premise).length;
      const invTrees = withPremises > 31 ? undefined : lazyTrees(invariantJobs(invariants), layout);
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
    layout,
    actionNames,
    instances,
    invariants,
    allInvariants: allInv,
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
      return a.describe ? a.describe(s, ...inst.args) : `${inst.action}(${inst.args.join(',')})`;
    },
    writeAnalysisMisses: () => misses,
  };
}

/**
 * The successor function. One generated function per action (split when
 * large) pastes, for each instance, the guard, the effect and an emit that
 * diffs only the leaves that instance can write (written-leaves.ts, with the
 * arguments substituted), falling back to every leaf of the fields the
 * action's source names (writtenFields: the "coarse" set) when the analysis
 * gives up. The views' containers and the base state's values of the
 * diffed leaves are loaded once per call.
 *
 * Safety net for a write the analysis missed (an effect writing through a
 * reference it kept from an earlier call, or an analysis bug): such a write
 * is not diffed, so it is not undone either and `w` stays dirty. Two checks
 * find it, in a group function that returns -2 then:
 *   - before an instance's effect, unless it is the first of the group to
 *     fire, the leaves it will diff must equal the base (else its emit
 *     would absorb the stray write into its successor and undo it);
 *   - at the end, if any instance fired, every coarse leaf must equal the
 *     base (before the next group reads `w`).
 * The dispatcher then re-unpacks the state into both views, reruns that
 * group with the coarse emit (the behaviour before the analysis) and uses
 * the coarse version from then on. That suffices: a missed write can only
 * corrupt successors of the state being expanded (the explorer unpacks both
 * views afresh for every state), and earlier groups ended clean. Only a
 * second unseen write restoring the exact base value could hide the first.
 * (A write outside the action's coarse set, e.g. through a reference kept by
 * another action, is not seen, as it was not before the analysis either.)
 * A range fault (-1) from a precise group is rechecked the same way, since a
 * missed write could have fed a later effect a wrong value.
 */
function generateExpand(
  actions: Record<string, ActionDef<StateDecl>>,
  names: readonly string[],
  instances: readonly Instance[],
  layout: Layout<StateDecl>,
  analyse: boolean,
  onMiss: (action: string) => void,
): Expand {
  const fnParams: string[] = [];
  const fnValues: unknown[] = [];
  const W = layout.words;
  const leaves = layout.leaves;
  const depths = fieldDepths(leaves);
  names.forEach((n, i) => {
    const a = actions[n]!;
    fnParams.push(`G${i}`, `E${i}`);
    fnValues.push(a.guard ?? null, a.effect);
  });
  type GroupFn = (b: unknown, w: unknown, bw: Uint32Array, bo: number, out: Uint32Array, ks: Uint32Array, fault: Int32Array, n: number) => number;
  /** Generated code for the instances `insts` of action `ai`; `write(k)` = the leaves instance k diffs (all hoisted if undefined). */
  const genGroup = (ai: number, insts: readonly Instance[], hoisted: ReadonlySet<number>, write: ((k: number) => ReadonlySet<number>) | undefined): GroupFn => {
    const name = names[ai]!;
    const hoistedLeaves = new Set([...hoisted].map((i) => leaves[i]));
    // Base values loaded up front only for leaves some instance diffs.
    const emittedLeaves = write ? new Set(insts.flatMap((_, k) => [...write(k)].map((i) => leaves[i]))) : hoistedLeaves;
    const ie = genInlineEmit(leaves, W, (l) => hoistedLeaves.has(l), (l) => emittedLeaves.has(l));
    const body: string[] = [ie.prelude, 'const nIn = n;'];
    insts.forEach((inst, k) => {
      const args = inst.args.length ? `, ${inst.args.join(', ')}` : '';
      const cond = actions[inst.action]!.guard ? `G${ai}(b${args}) === true` : 'true';
      const emit = ie.emit((leaf) => `fault[0] = ${inst.id}; fault[1] = ${leaf}; return -1;`, write?.(k));
      // Once an instance of this group has fired, the leaves this one diffs
      // must still hold the base values: else an earlier effect wrote one
      // unseen, and this emit would take that write for its own and undo it,
      // hiding it from the final check. (The group starts clean.)
      const pre = write ? `if (n !== nIn) { ${ie.verify('return -2;', write(k))} }` : '';
      body.push(`if (${cond}) { ${pre}\nE${ai}(w${args}); const oo = n * ${W};\n${emit}\nks[n++] = ${inst.id}; }`);
    });
    if (write) body.push(`if (n !== nIn) { ${ie.verify('return -2;')} }`);
    body.push('return n;');
    const fname = `expand_${name.replace(/\W/g, '_')}_${insts[0]!.id}${write ? '' : '_coarse'}`;
    return new Function(...fnParams, `return function ${fname}(b, w, bw, bo, out, ks, fault, n) {\n${body.join('\n')}\n};`)(...fnValues) as GroupFn;
  };

  interface Group {
    readonly action: string;
    readonly fn: GroupFn;
    /** Makes the coarse version, until that replaces fn; undefined when fn is coarse. */
    coarse: (() => GroupFn) | undefined;
  }
  const groups: Group[] = [];
  names.forEach((name, ai) => {
    const insts = instances.filter((x) => x.actionIndex === ai);
    const effect = actions[name]!.effect;
    const fields = writtenFields(effect);
    const coarse = new Set(leaves.flatMap((l, i) => (!fields || fields.has(l.field) ? [i] : [])));
    const patterns = analyse ? writePatterns(effect, depths) : undefined;
    const per = Math.max(1, Math.floor(INLINE_EMIT_BUDGET / Math.max(1, coarse.size)));
    for (let g0 = 0; g0 < insts.length; g0 += per) {
      const slice = insts.slice(g0, g0 + per);
      const precise = patterns && slice.map((inst) => new Set(leavesWritten(patterns, inst.args, leaves)));
      // Hoist the coarse leaves (the net compares them) and, should the
      // analysis name a leaf writtenFields did not, that one too.
      const hoisted = new Set([...coarse, ...(precise ?? []).flatMap((p) => [...p])]);
      const exact = !precise || precise.every((p) => p.size === hoisted.size);
      const coarseFn = () => genGroup(ai, slice, hoisted, undefined);
      groups.push(exact ? { action: name, fn: coarseFn(), coarse: undefined } : { action: name, fn: genGroup(ai, slice, hoisted, (k) => precise[k]!), coarse: coarseFn });
    }
  });

  // The dispatcher calls each group through a mutable binding, so a group
  // can be switched to its coarse version (set) without an indirection.
  const calls = groups
    .map((_, k) => `r = X${k}(b, w, bw, bo, out, ks, fault, n); if (r < 0) { r = miss(${k}, r, b, w, bw, bo, out, ks, fault, n); if (r < 0) return -1; } n = r;`)
    .join('\n');
  const cases = groups.map((_, k) => `case ${k}: X${k} = g; break;`).join(' ');
  const miss = (k: number, r: number, b: View<StateDecl>, w: View<StateDecl>, bw: Uint32Array, bo: number, out: Uint32Array, ks: Uint32Array, fault: Int32Array, n: number): number => {
    const g = groups[k]!;
    if (!g.coarse) return r; // a coarse group's -1 is a genuine range fault
    // -2: a write the precise diff missed. -1: perhaps a fault caused by one.
    // Rerun the group from the same state with the coarse diff.
    layout.unpack2(bw, bo, b, w);
    const fn = g.coarse();
    const r2 = fn(b, w, bw, bo, out, ks, fault, n);
    if (r === -2 || r2 >= 0) {
      g.coarse = undefined;
      set(k, fn);
      onMiss(g.action);
    }
    return r2;
  };
  const { expand, set } = new Function(
    'miss',
    ...groups.map((_, k) => `X${k}`),
    `return {
  set(k, g) { switch (k) { ${cases} } },
  expand: function expand(b, w, bw, bo, out, ks, fault, n0) {\nlet n = n0 | 0, r;\n${calls}\nreturn n;\n},
};`,
  )(miss, ...groups.map((g) => g.fn)) as { expand: Expand; set: (k: number, g: GroupFn) => void };
  return expand;
}

/**
 * The state fields an effect may write, read conservatively off its source:
 * every field named as `s.F` / `s["F"]` through the effect's first parameter.
 * Any other use of that parameter (passing the whole view on, aliasing it,
 * destructuring, `arguments`, `eval`, `this`) gives undefined = all fields.
 * Over-approximating only costs speed; the emit still diffs leaf values.
 */
export function writtenFields(effect: (...a: never[]) => unknown): Set<string> | undefined {
  let src: string;
  try {
    src = Function.prototype.toString.call(effect);
  } catch {
    return undefined;
  }
  if (/\b(arguments|eval|this|Function)\b/.test(src)) return undefined;
  const m = /^\s*(?:async\s*)?(?:function\b[^(]*)?\(?\s*([A-Za-z_$][\w$]*)\s*[,)=]/.exec(src);
  if (!m) return undefined;
  const s = m[1]!;
  // Drop the parameter list so the parameter's own declaration is not a "use".
  const bodyStart = src.indexOf(m[0]) + m[0].length;
  const body = src.slice(bodyStart);
  const fields = new Set<string>();
  const esc = s.replace(/\$/g, '\\$');
  const use = new RegExp(`(?<![\\w$])${esc}(?![\\w$])`, 'g');
  for (let u = use.exec(body); u; u = use.exec(body)) {
    // `x.s` names a member, but `...s` spreads the view (`{ ...s }` shares its arrays).
    if (body[u.index - 1] === '.' && body.slice(u.index - 3, u.index) !== '...') continue;
    const rest = body.slice(u.index + s.length);
    const f = /^\s*(?:\?\.|\.)\s*([A-Za-z_$][\w$]*)/.exec(rest) ?? /^\s*\[\s*(["'])([A-Za-z_$][\w$]*)\1\s*\]/.exec(rest);
    if (!f) return undefined;
    fields.add(f[2] ?? f[1]!);
  }
  return fields;
}
