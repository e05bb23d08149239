/**
 * The typed vocabulary of model state.
 *
 * A model declares its state as a record of these field types; the engine
 * derives a fixed, bit-packed layout from it (see layout.ts) and hands the
 * model's guards and effects a plain JS "view" object whose shape mirrors the
 * declaration (`s.tlb[c][p]`, `s.busy`, ...). Nothing here is TLB-specific.
 */

/** A finite index set such as "the CPUs" or "the pages". Symmetry reduction
 *  permutes the indices of a symmetric sort (issue: speed and scale). */
export interface Sort {
  readonly kind: 'sort';
  readonly name: string;
  readonly size: number;
  /** Indices are interchangeable (no designated member). */
  readonly symmetric: boolean;
  /** Role used to lay traces out in columns ('cpu' sorts become columns). */
  readonly role?: 'cpu';
}

export interface IntType {
  readonly kind: 'int';
  readonly lo: number;
  readonly hi: number;
  readonly init: number;
  /** Set when the value names a member of a sort (e.g. a CPU id), -1 = none. */
  readonly ref?: Sort;
}
export interface BoolType {
  readonly kind: 'bool';
  readonly init: boolean;
}
export interface EnumType<V extends string = string> {
  readonly kind: 'enum';
  readonly values: readonly V[];
  readonly init: V;
}
/** A bitmask over a sort (e.g. mm_cpumask), stored as a number. */
export interface SetType {
  readonly kind: 'set';
  readonly sort: Sort;
  readonly init: number;
}
export interface ArrayType<E extends FieldType = FieldType> {
  readonly kind: 'array';
  readonly length: number;
  /** The sort this array is indexed by, if any (per-CPU, per-page arrays). */
  readonly index?: Sort;
  readonly elem: E;
}
export type FieldType = IntType | BoolType | EnumType<string> | SetType | ArrayType<any>;
export type StateDecl = Record<string, FieldType>;

export type ValueOf<T> = T extends IntType
  ? number
  : T extends BoolType
    ? boolean
    : T extends EnumType<infer V>
      ? V
      : T extends SetType
        ? number
        : T extends ArrayType<infer E>
          ? ValueOf<E>[]
          : never;

/** The object a model's guards, effects and invariants see. */
export type View<D extends StateDecl> = { [K in keyof D]: ValueOf<D[K]> };

/** "No CPU"/"no entry": the value -1 of an int or ref field that allows it. */
export const NONE = -1;

function checkInt(what: string, n: number): void {
  if (!Number.isInteger(n)) throw new TypeError(`${what} must be an integer, got ${n}`);
}

export function sort(name: string, size: number, opts: { symmetric?: boolean; role?: 'cpu' } = {}): Sort {
  checkInt(`size of sort ${name}`, size);
  if (size < 1 || size > 30) throw new RangeError(`sort ${name}: size ${size} outside 1..30`);
  return { kind: 'sort', name, size, symmetric: opts.symmetric ?? false, role: opts.role };
}

/** The CPUs of a model: symmetric unless the model designates one (pass false). */
export function cpus(n: number, opts: { symmetric?: boolean } = {}): Sort {
  return sort('cpu', n, { symmetric: opts.symmetric ?? true, role: 'cpu' });
}

export function int(lo: number, hi: number, opts: { init?: number } = {}): IntType {
  checkInt('int lower bound', lo);
  checkInt('int upper bound', hi);
  if (hi < lo) throw new RangeError(`int(${lo}, ${hi}): empty range`);
  if (hi - lo >= 2 ** 31) throw new RangeError(`int(${lo}, ${hi}): range too large`);
  const init = opts.init ?? (lo <= 0 && 0 <= hi ? 0 : lo);
  if (init < lo || init > hi) throw new RangeError(`int(${lo}, ${hi}): init ${init} out of range`);
  return { kind: 'int', lo, hi, init };
}

/** A member of `s`, or NONE (-1) when `none` is set. Initially NONE if allowed, else 0. */
export function ref(s: Sort, opts: { none?: boolean; init?: number } = {}): IntType {
  const lo = opts.none ? NONE : 0;
  const init = opts.init ?? lo;
  if (init < lo || init >= s.size) throw new RangeError(`ref(${s.name}): init ${init} out of range`);
  return { kind: 'int', lo, hi: s.size - 1, init, ref: s };
}

export function bool(opts: { init?: boolean } = {}): BoolType {
  return { kind: 'bool', init: opts.init ?? false };
}

export function enumOf<const V extends string>(values: readonly V[], opts: { init?: V } = {}): EnumType<V> {
  if (values.length < 1) throw new RangeError('enumOf: no values');
  if (new Set(values).size !== values.length) throw new RangeError(`enumOf: duplicate values in ${values.join(',')}`);
  const init = opts.init ?? values[0]!;
  if (!values.includes(init)) throw new RangeError(`enumOf: init ${init} is not a value`);
  return { kind: 'enum', values, init };
}

export function setOf(s: Sort, opts: { init?: number } = {}): SetType {
  return { kind: 'set', sort: s, init: opts.init ?? 0 };
}

/** A fixed-size array, indexed by a sort (per-CPU, per-page) or by plain 0..n-1. */
export function array<E extends FieldType>(index: Sort | number, elem: E): ArrayType<E> {
  if (typeof index === 'number') {
    checkInt('array length', index);
    if (index < 1) throw new RangeError(`array length ${index} must be >= 1`);
    return { kind: 'array', length: index, elem };
  }
  return { kind: 'array', length: index.size, index, elem };
}

/** Bit helpers for `setOf` fields (cpumask-style). */
export const bits = {
  has: (mask: number, i: number): boolean => ((mask >>> i) & 1) === 1,
  add: (mask: number, i: number): number => (mask | (1 << i)) >>> 0,
  del: (mask: number, i: number): number => (mask & ~(1 << i)) >>> 0,
  count: (mask: number): number => {
    let n = 0;
    for (let m = mask >>> 0; m; m &= m - 1) n++;
    return n;
  },
  all: (n: number): number => (n >= 32 ? 0xffffffff : (1 << n) - 1) >>> 0,
};
