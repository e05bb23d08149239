/**
 * Tabulated successor generation: guards and effects compiled to bit
 * operations on the packed words, so expanding a state touches no view.
 *
 * How: a guard followed by its effect is a deterministic function of the
 * leaves it reads. Run once per action instance on a recording view (a
 * Proxy), it reveals the first leaf it reads; running it again for every
 * value that leaf can hold reveals the next read on each path, and so on.
 * The result is a decision tree per instance: inner nodes branch on one
 * leaf's stored bits, and each path ends in "disabled", "enabled, writing
 * these constants to these leaves", or "bail" (the model threw or wrote an
 * out-of-range value on that path: the explorer expands such a state
 * through the views instead, where the existing diagnostics report it).
 * The tree is then generated as nested `if`s on `(word >>> shift) & mask`,
 * and an enabled path as `out = (word & ~written) | constants`.
 *
 * Sound when guards and effects depend on nothing but the state and
 * constants (parameters, arguments): the same reads then give the same path.
 * What cannot be recorded gives up on the whole model (it keeps the view
 * path): a guard that writes, an effect that replaces an array of the state,
 * a view used after the call that received it (a kept reference), or a
 * tree past the size budget. A hidden dependency (mutable closure state,
 * randomness) is not detectable here; the explorer cross-checks sampled
 * states against the view path and drops the tables on a mismatch (batch.ts).
 *
 * Invariants and premises are recorded the same way (a test with no
 * effect), one tree per case of an invariant stated `over` CPUs and pages,
 * and generated into one check returning -1 (let the views decide: a case
 * fails or threw) or the mask of premises that hold.
 */
import type { Layout, Leaf } from './layout.js';
import type { ActionDef } from './model.js';
import type { StateDecl } from './types.js';

/** Per instance, the decision tree's nodes; per model, the sum. Past either, the model keeps the view path. */
export const TREE_NODES_PER_INSTANCE = 4096;
export const TREE_NODES_PER_MODEL = 40000;

/** Expands the state at bw[bo..] into out[n0*W..] / ks[n0..]; returns the new count, or -3 = expand this state through the views. */
export type BitExpand = (bw: Uint32Array, bo: number, out: Uint32Array, ks: Uint32Array, n0: number) => number;
export const BAIL = -3;

type Tree =
  | { readonly kind: 'off' }
  | { readonly kind: 'on'; readonly writes: ReadonlyMap<number, number> }
  | { readonly kind: 'bail' }
  | { readonly kind: 'read'; readonly leaf: number; readonly kids: readonly Tree[] };

/** Something the recording view cannot stand for: the model keeps the view path. */
export class Unrecordable extends Error {}
/** The trees outgrew the node budget (a larger budget may succeed). */
class OverBudget extends Unrecordable {}

/** Nested shape of the state: a field or element is a leaf index or an array of shapes. */
type Shape = number | Shape[];

export function shapeOf(leaves: readonly Leaf[]): Map<string, Shape> {
  const root = new Map<string, Shape>();
  leaves.forEach((l, i) => {
    if (l.indices.length === 0) {
      root.set(l.field, i);
      return;
    }
    if (!root.has(l.field)) root.set(l.field, []);
    let a = root.get(l.field) as Shape[];
    l.indices.forEach((ix, d) => {
      if (d === l.indices.length - 1) a[ix] = i;
      else {
        if (a[ix] === undefined) a[ix] = [];
        a = a[ix] as Shape[];
      }
    });
  });
  return root;
}

const decode = (l: Leaf, raw: number): unknown => (l.type.kind === 'bool' ? raw === 1 : l.type.kind === 'enum' ? l.type.values[raw] : raw + l.lo);

/** The stored bits of a model value, or -1 when it is outside the leaf's range or of the wrong type. */
function encode(l: Leaf, v: unknown): number {
  switch (l.type.kind) {
    case 'bool':
      return v === true ? 1 : v === false ? 0 : -1;
    case 'enum':
      return l.type.values.indexOf(v as string);
    default: {
      if (typeof v !== 'number') return -1;
      const x = v - l.lo;
      return Number.isInteger(x) && x >= 0 && x <= l.max ? x : -1;
    }
  }
}

function arrayIndex(k: string | symbol): number {
  if (typeof k !== 'string') return -1;
  const c = k.charCodeAt(0) - 48;
  if (k.length === 1) return c >= 0 && c <= 9 ? c : -1;
  if (c < 1 || c > 9) return -1;
  const n = Number(k);
  return Number.isInteger(n) && String(n) === k ? n : -1;
}

/** Proxy traps for what would change the state's shape rather than a leaf. */
const FIXED_SHAPE = {
  deleteProperty(): boolean {
    throw new Unrecordable('an effect deleted part of the state');
  },
  defineProperty(): boolean {
    throw new Unrecordable('an effect defined a property on the state');
  },
};

/** How one run of guard + effect ended: a tree leaf. */
export type Outcome = Exclude<Tree, { kind: 'read' }>;

/** The stored value the k-th leaf read for the first time in a run takes (leaf index i). */
export type ValueSource = (i: number, k: number) => number;

/**
 * Runs one instance's guard then effect on a recording view, once per
 * choice prefix: the k-th leaf read for the first time takes the stored
 * value prefix[k] (0 past the prefix). The view's proxies live as long as
 * the recorder, which serves one instance; once it is closed, any use of
 * them (a reference kept by the model) is an error.
 */
export class Recorder {
  private open = true;
  private writable = false;
  private epoch = 1;
  private readonly seen: Int32Array;
  private readonly vals: unknown[];
  private readonly written: number[] = [];
  private readonly wrote: Int32Array;
  private source: ValueSource = () => 0;
  /** Leaves read before being known, in order (the choices taken). */
  readonly reads: number[] = [];
  private readonly proxies = new Map<Shape[], unknown>();
  private readonly rootProxy: unknown;
  constructor(
    private readonly leaves: readonly Leaf[],
    shape: Map<string, Shape>,
  ) {
    this.seen = new Int32Array(leaves.length);
    this.wrote = new Int32Array(leaves.length);
    this.vals = new Array(leaves.length).fill(undefined);
    this.rootProxy = this.root(shape);
  }

  close(): void {
    this.open = false;
  }
  private check(): void {
    if (!this.open) throw new Unrecordable('a state view was used after the call that received it');
  }
  private read(i: number): unknown {
    this.check();
    if (this.seen[i] === this.epoch) return this.vals[i];
    const k = this.reads.length;
    this.reads.push(i);
    const v = decode(this.leaves[i]!, this.source(i, k));
    this.seen[i] = this.epoch;
    this.vals[i] = v;
    return v;
  }
  private write(i: number, v: unknown): void {
    this.check();
    if (!this.writable) throw new Unrecordable('a guard wrote the state');
    this.seen[i] = this.epoch;
    this.vals[i] = v;
    if (this.wrote[i] !== this.epoch) {
      this.wrote[i] = this.epoch;
      this.written.push(i);
    }
  }
  private node(s: Shape): unknown {
    return typeof s === 'number' ? this.read(s) : this.array(s);
  }
  private array(sh: Shape[]): unknown {
    let p = this.proxies.get(sh);
    if (p) return p;
    const rec = this;
    // A filled array target: Array methods that test HasProperty (forEach,
    // some, indexOf, ...) see every index, and read it through get().
    p = new Proxy(new Array(sh.length).fill(0), {
      get(t, k, r) {
        rec.check();
        const i = arrayIndex(k);
        if (i >= 0) return i < sh.length ? rec.node(sh[i]!) : undefined;
        return Reflect.get(t, k, r);
      },
      set(_t, k, v) {
        const i = arrayIndex(k);
        const s = i >= 0 && i < sh.length ? sh[i] : undefined;
        if (typeof s !== 'number') throw new Unrecordable(`an effect replaced or extended an array of the state (index ${String(k)})`);
        rec.write(s, v);
        return true;
      },
      ...FIXED_SHAPE,
    });
    this.proxies.set(sh, p);
    return p;
  }
  private root(shape: Map<string, Shape>): unknown {
    const rec = this;
    const target: Record<string, unknown> = {};
    for (const f of shape.keys()) target[f] = 0;
    return new Proxy(target, {
      get(t, k, r) {
        rec.check();
        const s = typeof k === 'string' ? shape.get(k) : undefined;
        return s === undefined ? Reflect.get(t, k, r) : rec.node(s);
      },
      set(_t, k, v) {
        const s = typeof k === 'string' ? shape.get(k) : undefined;
        if (typeof s !== 'number') throw new Unrecordable(`an effect replaced a field of the state (${String(k)})`);
        rec.write(s, v);
        return true;
      },
      ...FIXED_SHAPE,
    });
  }

  /**
   * One run under a choice prefix: `test` (a guard, an invariant) then, if it
   * returned true, `effect` on a writable view. What it did is the outcome;
   * this.reads lists the leaves it read.
   */
  run(prefix: readonly number[], test: (s: never) => boolean, effect?: (s: never) => void): Outcome {
    return this.runFrom((_, k) => (k < prefix.length ? prefix[k]! : 0), test, effect);
  }

  /** One run where the leaves read take their values from `source` (lazy-tables.ts: a real state's words). */
  runFrom(source: ValueSource, test: (s: never) => boolean, effect?: (s: never) => void): Outcome {
    this.epoch++;
    this.source = source;
    this.reads.length = 0;
    this.written.length = 0;
    this.writable = false;
    const s = this.rootProxy as never;
    try {
      if (!test(s)) return OFF;
      if (!effect) return ON;
      this.writable = true;
      effect(s);
    } catch (e) {
      if (e instanceof Unrecordable) throw e;
      return BAILED;
    }
    const writes = new Map<number, number>();
    for (const i of this.written) {
      const raw = encode(this.leaves[i]!, this.vals[i]);
      // The view path reports the range fault (with its diagnostics).
      if (raw < 0) return BAILED;
      writes.set(i, raw);
    }
    return { kind: 'on', writes };
  }
}

const OFF: Outcome = { kind: 'off' };
const ON: Outcome = { kind: 'on', writes: new Map() };
const BAILED: Outcome = { kind: 'bail' };

/** One function of the state to tabulate: a label for messages, a test and, for an action, its effect. */
export interface Job {
  readonly label: string;
  readonly test: (s: never) => boolean;
  readonly effect?: (s: never) => void;
}

/** The decision tree of every job, or the reason they cannot be tabulated. */
function buildTrees(jobs: readonly Job[], layout: Layout<StateDecl>, maxNodes: number): { trees: Tree[] } | { reason: string; overBudget: boolean } {
  const leaves = layout.leaves;
  const shape = shapeOf(leaves);
  let total = 0;
  const trees: Tree[] = [];
  try {
    for (const job of jobs) {
      const rec = new Recorder(leaves, shape);
      let nodes = 0;
      const build = (prefix: number[]): Tree => {
        if (++nodes > TREE_NODES_PER_INSTANCE || ++total > maxNodes) throw new OverBudget(`the decision tree of ${job.label} is past the size budget`);
        const outcome = rec.run(prefix, job.test, job.effect);
        if (rec.reads.length === prefix.length) return outcome;
        const leaf = rec.reads[prefix.length]!;
        const kids: Tree[] = [];
        for (let v = 0; v <= leaves[leaf]!.max; v++) kids.push(build([...prefix, v]));
        return { kind: 'read', leaf, kids };
      };
      try {
        trees.push(build([]));
      } finally {
        rec.close();
      }
    }
  } catch (e) {
    if (e instanceof Unrecordable) return { reason: e.message, overBudget: e instanceof OverBudget };
    throw e;
  }
  return { trees };
}

/**
 * The decision tree of every action instance (guard, then effect), or the
 * reason the model keeps the view path.
 */
export function tabulate(
  actions: Record<string, ActionDef<StateDecl>>,
  instances: readonly { readonly action: string; readonly args: readonly number[] }[],
  layout: Layout<StateDecl>,
  maxNodes = TREE_NODES_PER_MODEL,
): { trees: Tree[] } | { reason: string; overBudget: boolean } {
  return buildTrees(actionJobs(actions, instances), layout, maxNodes);
}

/** One job per action instance: its guard, then its effect. */
export function actionJobs(
  actions: Record<string, ActionDef<StateDecl>>,
  instances: readonly { readonly action: string; readonly args: readonly number[] }[],
): Job[] {
  return instances.map((inst): Job => {
    const a = actions[inst.action]!;
    const args = inst.args;
    return {
      label: `${inst.action}(${args.join(',')})`,
      test: a.guard ? (s) => a.guard!(s, ...args) === true : () => true,
      effect: (s) => a.effect(s, ...args),
    };
  });
}

/**
 * A tree as nested tests on the loaded words w0.. (`(wK >>> shift) & mask`),
 * with `end` giving the code of each leaf. Values whose subtrees generate
 * the same code share one branch; a read that decides nothing is dropped.
 */
function genTree(t: Tree, leaves: readonly Leaf[], end: (o: Outcome) => string): string {
  if (t.kind !== 'read') return end(t);
  const l = leaves[t.leaf]!;
  const byCode = new Map<string, number[]>();
  t.kids.forEach((k, v) => {
    const c = genTree(k, leaves, end);
    const vs = byCode.get(c);
    if (vs) vs.push(v);
    else byCode.set(c, [v]);
  });
  const branches = [...byCode];
  if (branches.length === 1) return branches[0]![0];
  const test = (vs: number[]) => vs.map((v) => `t === ${v}`).join(' || ');
  const chain = branches.map(([code, vs], k) => (k === 0 ? `if (${test(vs)}) {\n${code}\n}` : k === branches.length - 1 ? ` else {\n${code}\n}` : ` else if (${test(vs)}) {\n${code}\n}`));
  return `{ const t = (w${l.word} >>> ${l.shift}) & ${2 ** l.bits - 1};\n${chain.join('')} }`;
}

const loadWords = (W: number) => Array.from({ length: W }, (_, k) => `const w${k} = bw[bo + ${k}];`).join(' ');

/** An enabled path's writes (leaf → stored bits) per word: the bits they clear and the bits they set. */
export function wordMasks(writes: ReadonlyMap<number, number>, leaves: readonly Leaf[], W: number): { clear: number[]; set: number[] } {
  const clear = new Array<number>(W).fill(0);
  const set = new Array<number>(W).fill(0);
  for (const [i, raw] of writes) {
    const l = leaves[i]!;
    clear[l.word]! |= (2 ** l.bits - 1) << l.shift;
    set[l.word]! |= raw << l.shift;
  }
  return { clear, set };
}

/** The generated successor function over the packed words (one function per action, and a dispatcher). */
export function generateBitExpand(trees: readonly Tree[], instances: readonly { readonly id: number; readonly actionIndex: number }[], layout: Layout<StateDecl>): BitExpand {
  const W = layout.words;
  const leaves = layout.leaves;
  const emit = (o: Outcome, id: number): string => {
    switch (o.kind) {
      case 'off':
        return '';
      case 'bail':
        return `return ${BAIL};`;
      case 'on': {
        const { clear, set } = wordMasks(o.writes, leaves, W);
        const words = clear.map((c, k) => (c === 0 ? `out[o + ${k}] = w${k};` : `out[o + ${k}] = (w${k} & ${~c}) | ${set[k]! | 0};`));
        return `{ const o = n * ${W}; ${words.join(' ')} ks[n++] = ${id}; }`;
      }
    }
  };
  const byAction = new Map<number, string[]>();
  instances.forEach((inst, k) => {
    const c = genTree(trees[k]!, leaves, (o) => emit(o, inst.id));
    if (!c) return;
    if (!byAction.has(inst.actionIndex)) byAction.set(inst.actionIndex, []);
    byAction.get(inst.actionIndex)!.push(c);
  });
  const fns = [...byAction.values()].map(
    (bodies, g) => new Function(`return function bits_${g}(bw, bo, out, ks, n) {\n${loadWords(W)}\n${bodies.join('\n')}\nreturn n;\n};`)() as BitExpand,
  );
  const calls = fns.map((_, g) => `n = F${g}(bw, bo, out, ks, n); if (n < 0) return n;`).join('\n');
  return new Function(...fns.map((_, g) => `F${g}`), `return function bitExpand(bw, bo, out, ks, n0) {\nlet n = n0 | 0;\n${calls}\nreturn n;\n};`)(...fns) as BitExpand;
}

// ---------------------------------------------------------------- invariants

/**
 * The invariants checked on the packed state at bw[bo..]: -1 when one of
 * them fails or a case threw (the explorer then decides on the views, which
 * name the invariant or report the exception), else a mask with bit i set
 * when invariant i's premise holds.
 */
export type BitInvariants = (bw: Uint32Array, bo: number) => number;

/** The invariants as they are tabulated: every case of `holdsAt`, and the premise. */
export interface TabulableInvariant {
  readonly name: string;
  readonly cases: readonly (readonly number[])[];
  readonly holdsAt: (s: never, ...args: number[]) => boolean;
  readonly premise: ((s: never) => boolean) | undefined;
}

/** Premise bits of BitInvariants' mask. */
export const MAX_PREMISE_BITS = 31;

/** Per invariant, one job per case, then one for its premise if it has one. */
export function invariantJobs(invariants: readonly TabulableInvariant[]): Job[] {
  const jobs: Job[] = [];
  for (const inv of invariants) {
    for (const args of inv.cases) jobs.push({ label: `invariant ${inv.name}${args.length ? `(${args.join(',')})` : ''}`, test: (s) => !!inv.holdsAt(s, ...args) });
    const premise = inv.premise;
    if (premise) jobs.push({ label: `the premise of ${inv.name}`, test: (s) => !!premise(s) });
  }
  return jobs;
}

/**
 * The invariants' cases and premises as decision trees, generated into one
 * function per invariant and a dispatcher; or why they keep the view path.
 * Truthiness as on the view path: a case fails when holdsAt returns
 * something falsy.
 */
export function tabulateInvariants(
  invariants: readonly TabulableInvariant[],
  layout: Layout<StateDecl>,
  maxNodes = TREE_NODES_PER_MODEL,
): { bits: BitInvariants } | { reason: string; overBudget: boolean } {
  if (invariants.length > MAX_PREMISE_BITS && invariants.some((i) => i.premise))
    return { reason: `more than ${MAX_PREMISE_BITS} invariants with premises`, overBudget: false };
  const jobs = invariantJobs(invariants);
  const built = buildTrees(jobs, layout, maxNodes);
  if (!('trees' in built)) return built;
  const leaves = layout.leaves;
  const fail = (o: Outcome) => (o.kind === 'on' ? '' : 'return -1;');
  const premiseResult = (o: Outcome) => (o.kind === 'on' ? 'return 1;' : o.kind === 'off' ? 'return 0;' : 'return -1;');
  let k = 0;
  const fns = invariants.map((inv, i) => {
    const body = inv.cases.map(() => genTree(built.trees[k++]!, leaves, fail));
    body.push(inv.premise ? genTree(built.trees[k++]!, leaves, premiseResult) : 'return 0;');
    return new Function(`return function inv_${i}(bw, bo) {\n${loadWords(layout.words)}\n${body.join('\n')}\nreturn 0;\n};`)() as BitInvariants;
  });
  const calls = fns.map((_, i) => `r = F${i}(bw, bo); if (r < 0) return -1; m |= r << ${i};`).join('\n');
  const bits = new Function(...fns.map((_, i) => `F${i}`), `return function bitInvariants(bw, bo) {\nlet m = 0, r = 0;\n${calls}\nreturn m;\n};`)(...fns) as BitInvariants;
  return { bits };
}
