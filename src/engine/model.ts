/**
 * The model API: what a model file default-exports.
 *
 *   export default defineModel({
 *     name, description,
 *     params: { N: { default: 2, min: 2, max: 6, doc: 'CPUs' }, ... },
 *     build: (p) => machine(state, { init, actions, invariants, endState }),
 *     expect: [{ params: { N: 2 }, verdict: 'holds' }],
 *   });
 *
 * `build` runs once per parameter set; guards, effects and invariants are
 * ordinary closures over the view type derived from the state declaration.
 */
import type { Sort, StateDecl, View } from './types.js';

// ---------------------------------------------------------------- parameters

export interface IntParam {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly doc: string;
}
export interface BoolParam {
  readonly default: boolean;
  readonly doc: string;
}
export interface EnumParam<V extends string = string> {
  readonly default: V;
  readonly values: readonly V[];
  readonly doc: string;
}
export type ParamSpec = IntParam | BoolParam | EnumParam<string>;
export type ParamSpecs = Record<string, ParamSpec>;

export type ParamValue<S> = S extends EnumParam<infer V> ? V : S extends BoolParam ? boolean : number;
export type ParamValues<PS extends ParamSpecs> = { readonly [K in keyof PS]: ParamValue<PS[K]> };
export type ParamValueAny = number | boolean | string;

// ------------------------------------------------------------------- machine

/** An action argument ranges over a sort or over 0..n-1. */
export type ArgRange = Sort | number;

export interface ActionDef<D extends StateDecl> {
  /** Index ranges this action is instantiated over (e.g. [CPU, PAGE]). */
  readonly over?: readonly ArgRange[];
  readonly guard?: (s: View<D>, ...args: number[]) => boolean;
  readonly effect: (s: View<D>, ...args: number[]) => void;
  /** Short kernel-vocabulary phrase for traces, evaluated on the state before the step. */
  readonly describe?: (s: View<D>, ...args: number[]) => string;
  /** The CPU that performs the step (trace column). Default: the first argument ranging over a 'cpu' sort. */
  readonly cpu?: (...args: number[]) => number;
}

export interface InvariantDef<D extends StateDecl> {
  readonly doc?: string;
  /**
   * Index ranges the invariant is stated over ("for every CPU c and page p"):
   * it holds when `holds(s, ...args)` is true for every argument tuple. The
   * explorer can then compile each case to bit tests on the packed state
   * (tabulate.ts), which a check over the whole state, reading every CPU's
   * entries, is usually too big for.
   */
  readonly over?: readonly ArgRange[];
  readonly holds: (s: View<D>, ...args: number[]) => boolean;
  /** Why it fails in this state (one line); with `over`, for the first failing tuple. */
  readonly explain?: (s: View<D>, ...args: number[]) => string;
  /** When the invariant is non-trivially at stake; a premise that never holds makes the invariant vacuous. */
  readonly premise?: (s: View<D>) => boolean;
}
export type Invariant<D extends StateDecl> = InvariantDef<D> | ((s: View<D>) => boolean);

/**
 * A liveness property (checked with --liveness: liveness.ts): `from ~> to`,
 * "whenever `from` holds, `to` holds then or later", on every fair
 * behaviour (Machine.fairness). Without `from` it is "eventually `to`" from
 * the initial state. With `over`, each argument tuple is a property of its
 * own ("for every CPU c, a flush c starts returns").
 */
export interface LivenessDef<D extends StateDecl> {
  readonly doc?: string;
  readonly over?: readonly ArgRange[];
  readonly from?: (s: View<D>, ...args: number[]) => boolean;
  readonly to: (s: View<D>, ...args: number[]) => boolean;
}

/**
 * Fairness of an action, for each of its instances (action and arguments)
 * on its own: 'weak', an instance enabled in every state from some point on
 * is taken infinitely often (a CPU that can go on goes on); 'strong', an
 * instance enabled infinitely often is taken infinitely often (an interrupt
 * that keeps becoming deliverable is delivered). Actions not named are not
 * fair: a behaviour may leave them enabled forever (speculative walks, TLB
 * fills, NMIs).
 */
export type Fairness = 'weak' | 'strong';

export interface Machine<D extends StateDecl> {
  readonly state: D;
  /** Adjust the declared initial values (runs on a fresh view). */
  readonly init?: (s: View<D>) => void;
  readonly actions: Record<string, ActionDef<D>>;
  readonly invariants?: Record<string, Invariant<D>>;
  /** States where no action is enabled and that is fine (otherwise: deadlock). */
  readonly endState?: (s: View<D>) => boolean;
  readonly liveness?: Record<string, LivenessDef<D>>;
  /** Fairness by action name (see Fairness). */
  readonly fairness?: Readonly<Record<string, Fairness>>;
}

/**
 * A machine over the state declaration `state`. Taking the declaration as its
 * own argument lets TypeScript infer the view type before it types the
 * guards and effects (also when actions are spread in conditionally).
 */
export function machine<D extends StateDecl>(state: D, body: Omit<Machine<D>, 'state'>): Machine<D> {
  return { state, ...body };
}

// --------------------------------------------------------------------- model

export type Verdict = 'holds' | 'violated' | 'incomplete';

/** What `--store` and an expect row's `store` choose (explore.ts storeOptions). */
export type StoreChoice = 'exact' | 'compact' | 'fingerprint';

/** How `tlbcheck ci` runs an expect row (the CLI options of the same names). */
export interface RunOptionsOfRow {
  readonly symmetry?: 'none' | 'cpu' | 'all';
  readonly store?: StoreChoice;
  readonly workers?: number;
  readonly maxStates?: number;
  /** Check the model's liveness properties too (--liveness). */
  readonly liveness?: boolean;
}

export interface Expectation<PS extends ParamSpecs> {
  readonly params?: Partial<ParamValues<PS>>;
  /** Run options for this row, e.g. `{ symmetry: 'cpu' }` for a proof that only finishes reduced. */
  readonly options?: RunOptionsOfRow;
  readonly verdict: 'holds' | 'violated';
  /** For 'violated': the invariant, liveness property (with `options: { liveness: true }`) or 'deadlock' expected to fail. */
  readonly invariant?: string;
  readonly note?: string;
}

export interface ModelDef<PS extends ParamSpecs = ParamSpecs> {
  readonly name: string;
  readonly description: string;
  readonly params: PS;
  /** Method syntax on purpose: parameters stay bivariant, so a ModelDef<{N: ...}> is a ModelDef. */
  build(p: ParamValues<PS>): unknown;
  /** A constraint between parameters: the problem in words, or undefined when the combination is fine (checked before build). */
  check?(p: ParamValues<PS>): string | undefined;
  readonly expect?: readonly Expectation<PS>[];
}

export const MODEL_BRAND = Symbol.for('tlbcheck.model');

export function defineModel<const PS extends ParamSpecs>(def: ModelDef<PS>): ModelDef<PS> {
  return Object.assign(def, { [MODEL_BRAND]: true });
}

export function isModelDef(x: unknown): x is ModelDef {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[MODEL_BRAND] === true;
}

export class ParamError extends Error {}

function paramKind(spec: ParamSpec): 'int' | 'bool' | 'enum' {
  if ('values' in spec) return 'enum';
  if (typeof spec.default === 'boolean') return 'bool';
  return 'int';
}

/** Parse a `--set NAME=VALUE` string against a parameter spec. */
export function parseParamValue(name: string, spec: ParamSpec, raw: string): ParamValueAny {
  switch (paramKind(spec)) {
    case 'bool': {
      const t = raw.toLowerCase();
      if (['1', 'true', 'on', 'yes'].includes(t)) return true;
      if (['0', 'false', 'off', 'no'].includes(t)) return false;
      throw new ParamError(`parameter ${name}: ${JSON.stringify(raw)} is not a boolean (use 1/0, true/false, on/off)`);
    }
    case 'enum': {
      const e = spec as EnumParam;
      if (!e.values.includes(raw)) throw new ParamError(`parameter ${name}: ${JSON.stringify(raw)} is not one of ${e.values.join(', ')}`);
      return raw;
    }
    case 'int': {
      // Decimal or hex (0x1f), optionally negative.
      const m = /^(-?)(0x[0-9a-f]+|\d+)$/i.exec(raw.trim());
      if (!m) throw new ParamError(`parameter ${name}: ${JSON.stringify(raw)} is not an integer`);
      return (m[1] ? -1 : 1) * Number(m[2]);
    }
  }
}

/** Defaults overridden by `overrides`; every name and value is validated. */
export function resolveParams(def: ModelDef, overrides: Record<string, ParamValueAny>): Record<string, ParamValueAny> {
  const out: Record<string, ParamValueAny> = {};
  for (const name of Object.keys(overrides)) {
    if (!(name in def.params)) {
      const known = Object.keys(def.params);
      throw new ParamError(`unknown parameter ${name} for model ${def.name} (known: ${known.length ? known.join(', ') : 'none'})`);
    }
  }
  for (const [name, spec] of Object.entries(def.params)) {
    const v = name in overrides ? overrides[name]! : spec.default;
    switch (paramKind(spec)) {
      case 'int': {
        const s = spec as IntParam;
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new ParamError(`parameter ${name}: ${String(v)} is not an integer`);
        if (v < s.min || v > s.max) throw new ParamError(`parameter ${name}=${v} is out of range ${s.min}..${s.max}`);
        break;
      }
      case 'bool':
        if (typeof v !== 'boolean') throw new ParamError(`parameter ${name}: ${String(v)} is not a boolean`);
        break;
      case 'enum':
        if (!(spec as EnumParam).values.includes(v as string))
          throw new ParamError(`parameter ${name}: ${String(v)} is not one of ${(spec as EnumParam).values.join(', ')}`);
    }
    out[name] = v;
  }
  const problem = def.check?.(out);
  if (problem) throw new ParamError(`parameters of ${def.name}: ${problem}`);
  return out;
}

export function describeParam(spec: ParamSpec): string {
  switch (paramKind(spec)) {
    case 'int':
      return `${(spec as IntParam).min}..${(spec as IntParam).max}`;
    case 'bool':
      return 'bool';
    case 'enum':
      return (spec as EnumParam).values.join('|');
  }
}
