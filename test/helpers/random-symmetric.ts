/**
 * Random CPU-symmetric guarded-command models as data
 * (test/symmetry-random.test.ts generates them with fast-check): the
 * engine's view of one (toModel, which worker threads also load through a
 * ModelSource with the spec as factoryArg) and the step functions the
 * test's brute-force reference shares.
 *
 * The models only ever talk about "this CPU" (the action's argument), "some
 * other CPU", the owner (a ref to a CPU) and a CPU set, so every CPU
 * permutation is an automorphism.
 */
import { array, bits, bool, cpus, defineModel, int, machine, NONE, ref, setOf, type ModelDef } from '../../src/index.ts';

export type Atom =
  | { k: 'xeq' | 'xlt' | 'any' | 'geq' | 'cnt'; v: number }
  | { k: 'f' | 'inmask' | 'ownf' }
  | { k: 'own'; w: 'me' | 'none' | 'other' };
export type Cond = { k: 'atom'; a: Atom } | { k: 'not'; a: Atom } | { k: 'and'; a: Atom; b: Atom } | { k: 'true' };
export type Stmt =
  | { k: 'incx' | 'flipf' | 'take' | 'release' | 'join' | 'leave' | 'clearall' | 'flagown' | 'copyg' }
  | { k: 'setx' | 'setg'; v: number };
export interface Spec {
  n: number;
  m: number;
  acts: { guard: Cond; body: Stmt[] }[];
  invs: { all: boolean; c: Cond }[];
}
export interface St {
  x: number[];
  f: boolean[];
  owner: number;
  mask: number;
  g: number;
}

function atom(a: Atom, s: St, c: number, spec: Spec): boolean {
  switch (a.k) {
    case 'xeq':
      return s.x[c] === a.v;
    case 'xlt':
      return s.x[c]! < a.v;
    case 'any':
      return s.x.some((v, d) => d !== c && v === a.v);
    case 'geq':
      return s.g === a.v;
    case 'cnt':
      return bits.count(s.mask) === a.v % (spec.n + 1);
    case 'f':
      return s.f[c]!;
    case 'inmask':
      return bits.has(s.mask, c);
    case 'ownf':
      return s.owner !== NONE && s.f[s.owner]!;
    case 'own':
      return a.w === 'me' ? s.owner === c : a.w === 'none' ? s.owner === NONE : s.owner !== NONE && s.owner !== c;
  }
}
export function cond(x: Cond, s: St, c: number, spec: Spec): boolean {
  switch (x.k) {
    case 'true':
      return true;
    case 'atom':
      return atom(x.a, s, c, spec);
    case 'not':
      return !atom(x.a, s, c, spec);
    case 'and':
      return atom(x.a, s, c, spec) && atom(x.b, s, c, spec);
  }
}
export function exec(body: Stmt[], s: St, c: number, spec: Spec): void {
  for (const t of body) {
    switch (t.k) {
      case 'incx':
        s.x[c] = (s.x[c]! + 1) % (spec.m + 1);
        break;
      case 'setx':
        s.x[c] = t.v;
        break;
      case 'flipf':
        s.f[c] = !s.f[c];
        break;
      case 'take':
        s.owner = c;
        break;
      case 'release':
        s.owner = NONE;
        break;
      case 'join':
        s.mask = bits.add(s.mask, c);
        break;
      case 'leave':
        s.mask = bits.del(s.mask, c);
        break;
      case 'clearall':
        for (let d = 0; d < spec.n; d++) s.x[d] = 0;
        break;
      case 'flagown':
        if (s.owner !== NONE) s.f[s.owner] = true;
        break;
      case 'copyg':
        s.x[c] = s.g;
        break;
      case 'setg':
        s.g = t.v;
        break;
    }
  }
}
export const invHolds = (inv: Spec['invs'][number], s: St, spec: Spec) => {
  const each = Array.from({ length: spec.n }, (_, c) => cond(inv.c, s, c, spec));
  return inv.all ? each.every(Boolean) : !each.some(Boolean);
};

export function toModel(spec: Spec): ModelDef {
  return defineModel({
    name: 'random-symmetric',
    description: 'random CPU-symmetric guarded commands',
    params: {},
    build: () => {
      const CPU = cpus(spec.n);
      return machine(
        { x: array(CPU, int(0, spec.m)), f: array(CPU, bool()), owner: ref(CPU, { none: true }), mask: setOf(CPU), g: int(0, spec.m) },
        {
          actions: Object.fromEntries(
            spec.acts.map((a, i) => [
              `a${i}`,
              { over: [CPU], guard: (s: St, c: number) => cond(a.guard, s, c, spec), effect: (s: St, c: number) => exec(a.body, s, c, spec) },
            ]),
          ),
          invariants: Object.fromEntries(spec.invs.map((inv, i) => [`i${i}`, (s: St) => invHolds(inv, s, spec)])),
          endState: () => true,
        },
      );
    },
  });
}
