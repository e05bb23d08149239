/**
 * Instantiates a model for one parameter set: builds the machine, compiles
 * the state layout, enumerates action instances (action × argument tuple)
 * and generates the successor function with every instance unrolled, so each
 * guard/effect call site is monomorphic and V8 can inline it.
 */
import { compileLayout, genInlineEmit, type Layout } from './layout.js';

/** Instances × leaves per generated expand function. */
const INLINE_EMIT_BUDGET = 400;
import { resolveParams, type ActionDef, type InvariantDef, type Machine, type ModelDef, type ParamValueAny } from './model.js';
import type { Sort, StateDecl, View } from './types.js';

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
  readonly holds: (s: View<StateDecl>) => boolean;
  readonly explain: ((s: View<StateDecl>) => string) | undefined;
  readonly premise: ((s: View<StateDecl>) => boolean) | undefined;
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
  readonly invariants: readonly CompiledInvariant[];
  readonly expand: Expand;
  /** The initial state as a fresh view. */
  initial(): View<StateDecl>;
  /** Slow, checked single step (traces, replay, error diagnosis). */
  enabled(s: View<StateDecl>, k: number): boolean;
  apply(s: View<StateDecl>, k: number): View<StateDecl>;
  describe(s: View<StateDecl>, k: number): string;
}

export class ModelError extends Error {}

function rangeSize(r: Sort | number): number {
  return typeof r === 'number' ? r : r.size;
}

export function instantiate(def: ModelDef, overrides: Record<string, ParamValueAny> = {}, opts: { invariants?: readonly string[] } = {}): CompiledModel {
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
    const tuples: number[][] = [[]];
    for (const r of over) {
      const n = rangeSize(r);
      if (!Number.isInteger(n) || n < 1) throw new ModelError(`model ${def.name}: action ${name} ranges over an empty set`);
      const next: number[][] = [];
      for (const t of tuples) for (let i = 0; i < n; i++) next.push([...t, i]);
      tuples.splice(0, tuples.length, ...next);
    }
    for (const args of tuples) {
      const cpu = a.cpu ? a.cpu(...args) : cpuPos >= 0 ? args[cpuPos] : undefined;
      instances.push({ id: instances.length, action: name, actionIndex: ai, args, cpu });
    }
  });

  const allInv: CompiledInvariant[] = Object.entries(m.invariants ?? {}).map(([name, inv]) => {
    const d: InvariantDef<StateDecl> = typeof inv === 'function' ? { holds: inv } : inv;
    if (typeof d.holds !== 'function') throw new ModelError(`model ${def.name}: invariant ${name} has no holds() function`);
    return { name, doc: d.doc, holds: d.holds, explain: d.explain, premise: d.premise };
  });
  let invariants = allInv;
  if (opts.invariants && opts.invariants.length) {
    for (const n of opts.invariants)
      if (!allInv.some((i) => i.name === n))
        throw new ModelError(`unknown invariant ${n} for model ${def.name} (known: ${allInv.map((i) => i.name).join(', ') || 'none'})`);
    invariants = allInv.filter((i) => opts.invariants!.includes(i.name));
  }

  const expand = generateExpand(m.actions, actionNames, instances, layout);
  const action = (k: number): ActionDef<StateDecl> => m.actions[instances[k]!.action]!;

  return {
    def,
    params,
    machine: m,
    layout,
    actionNames,
    instances,
    invariants,
    expand,
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
  };
}

function generateExpand(
  actions: Record<string, ActionDef<StateDecl>>,
  names: readonly string[],
  instances: readonly Instance[],
  layout: Layout<StateDecl>,
): Expand {
  const fnParams: string[] = [];
  const fnValues: unknown[] = [];
  const W = layout.words;
  names.forEach((n, i) => {
    const a = actions[n]!;
    fnParams.push(`G${i}`, `E${i}`);
    fnValues.push(a.guard ?? null, a.effect);
  });
  // One generated function per action (split when large): the emit code is
  // pasted after every effect and diffs only the leaves of the fields the
  // effect can write, with the views' containers and the base state's values
  // of those leaves loaded once per function call.
  const groups: unknown[] = [];
  names.forEach((name, ai) => {
    const insts = instances.filter((x) => x.actionIndex === ai);
    const fields = writtenFields(actions[name]!.effect);
    const ie = genInlineEmit(layout.leaves, W, fields ? (l) => fields.has(l.field) : undefined);
    const nLeaves = fields ? layout.leaves.filter((l) => fields.has(l.field)).length : layout.leaves.length;
    const per = Math.max(1, Math.floor(INLINE_EMIT_BUDGET / Math.max(1, nLeaves)));
    for (let g0 = 0; g0 < insts.length; g0 += per) {
      const body: string[] = [ie.prelude];
      for (const inst of insts.slice(g0, g0 + per)) {
        const args = inst.args.length ? `, ${inst.args.join(', ')}` : '';
        const cond = actions[inst.action]!.guard ? `G${ai}(b${args}) === true` : 'true';
        body.push(
          `if (${cond}) { E${ai}(w${args}); const oo = n * ${W};\n${ie.emit((leaf) => `fault[0] = ${inst.id}; fault[1] = ${leaf}; return -1;`)}\nks[n++] = ${inst.id}; }`,
        );
      }
      body.push('return n;');
      groups.push(
        new Function(...fnParams, `return function expand_${name.replace(/\W/g, '_')}_${g0}(b, w, bw, bo, out, ks, fault, n) {\n${body.join('\n')}\n};`)(
          ...fnValues,
        ),
      );
    }
  });
  if (groups.length === 1) {
    const g = groups[0] as Expand;
    return (b, w, bw, bo, out, ks, fault, n0) => g(b, w, bw, bo, out, ks, fault, n0 ?? 0);
  }
  const calls = groups.map((_, k) => `n = X${k}(b, w, bw, bo, out, ks, fault, n); if (n < 0) return -1;`).join('\n');
  return new Function(...groups.map((_, k) => `X${k}`), `return function expand(b, w, bw, bo, out, ks, fault, n0) {\nlet n = n0 | 0;\n${calls}\nreturn n;\n};`)(
    ...groups,
  ) as Expand;
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
