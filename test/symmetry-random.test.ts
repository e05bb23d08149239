/**
 * Issue #6 part 7: on random CPU-symmetric models (fast-check), symmetry
 * on/off and fingerprint/exact give the same verdicts and shortest
 * counterexample lengths, and the reduced state count equals the number of
 * orbits, counted here by brute force (a naive BFS whose states are
 * canonicalised by trying every CPU permutation).
 *
 * The models only ever talk about "this CPU" (the action's argument), "some
 * other CPU", the owner (a ref to a CPU) and a CPU set, so every CPU
 * permutation is an automorphism.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { array, bits, bool, check, cpus, defineModel, int, machine, NONE, ref, setOf, type ModelDef } from '../src/index.ts';

type Atom =
  | { k: 'xeq' | 'xlt' | 'any' | 'geq' | 'cnt'; v: number }
  | { k: 'f' | 'inmask' | 'ownf' }
  | { k: 'own'; w: 'me' | 'none' | 'other' };
type Cond = { k: 'atom'; a: Atom } | { k: 'not'; a: Atom } | { k: 'and'; a: Atom; b: Atom } | { k: 'true' };
type Stmt =
  | { k: 'incx' | 'flipf' | 'take' | 'release' | 'join' | 'leave' | 'clearall' | 'flagown' | 'copyg' }
  | { k: 'setx' | 'setg'; v: number };
interface Spec {
  n: number;
  m: number;
  acts: { guard: Cond; body: Stmt[] }[];
  invs: { all: boolean; c: Cond }[];
}
interface St {
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
function cond(x: Cond, s: St, c: number, spec: Spec): boolean {
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
function exec(body: Stmt[], s: St, c: number, spec: Spec): void {
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
const invHolds = (inv: Spec['invs'][number], s: St, spec: Spec) => {
  const each = Array.from({ length: spec.n }, (_, c) => cond(inv.c, s, c, spec));
  return inv.all ? each.every(Boolean) : !each.some(Boolean);
};

function toModel(spec: Spec): ModelDef {
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

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

/** Plain BFS: states, orbits (canonical = least key over all CPU permutations), first violation depth per invariant. */
function reference(spec: Spec) {
  const perms = permutations(spec.n);
  const key = (s: St) => JSON.stringify(s);
  const canon = (s: St) => {
    let best = '';
    for (const p of perms) {
      const t: St = { x: Array(spec.n), f: Array(spec.n), owner: s.owner === NONE ? NONE : p[s.owner]!, mask: 0, g: s.g };
      for (let c = 0; c < spec.n; c++) {
        t.x[p[c]!] = s.x[c]!;
        t.f[p[c]!] = s.f[c]!;
        if (bits.has(s.mask, c)) t.mask = bits.add(t.mask, p[c]!);
      }
      const k = key(t);
      if (best === '' || k < best) best = k;
    }
    return best;
  };
  const init: St = { x: Array(spec.n).fill(0), f: Array(spec.n).fill(false), owner: NONE, mask: 0, g: 0 };
  const depth = new Map([[key(init), 0]]);
  const queue = [init];
  const orbits = new Set<string>();
  const first = new Map<string, number>();
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q]!;
    const d = depth.get(key(s))!;
    orbits.add(canon(s));
    spec.invs.forEach((inv, i) => {
      if (!invHolds(inv, s, spec) && !first.has(`i${i}`)) first.set(`i${i}`, d);
    });
    spec.acts.forEach((a) => {
      for (let c = 0; c < spec.n; c++) {
        if (!cond(a.guard, s, c, spec)) continue;
        const t: St = { x: [...s.x], f: [...s.f], owner: s.owner, mask: s.mask, g: s.g };
        exec(a.body, t, c, spec);
        if (!depth.has(key(t))) {
          depth.set(key(t), d + 1);
          queue.push(t);
        }
      }
    });
  }
  return { states: depth.size, orbits: orbits.size, first };
}

const specArb: fc.Arbitrary<Spec> = fc.record({ n: fc.integer({ min: 2, max: 3 }), m: fc.integer({ min: 1, max: 2 }) }).chain(({ n, m }) => {
  const v = fc.integer({ min: 0, max: m });
  const a: fc.Arbitrary<Atom> = fc.oneof(
    fc.record({ k: fc.constantFrom('xeq' as const, 'xlt' as const, 'any' as const, 'geq' as const, 'cnt' as const), v }),
    fc.record({ k: fc.constantFrom('f' as const, 'inmask' as const, 'ownf' as const) }),
    fc.record({ k: fc.constant('own' as const), w: fc.constantFrom('me' as const, 'none' as const, 'other' as const) }),
  );
  // Biased towards enabled actions, so that most models reach more than a handful of states.
  const c: fc.Arbitrary<Cond> = fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('atom' as const), a }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('not' as const), a }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('and' as const), a, b: a }), weight: 1 },
    { arbitrary: fc.constant({ k: 'true' as const }), weight: 3 },
  );
  const stmt: fc.Arbitrary<Stmt> = fc.oneof(
    fc.record({
      k: fc.constantFrom('incx' as const, 'flipf' as const, 'take' as const, 'release' as const, 'join' as const, 'leave' as const, 'clearall' as const, 'flagown' as const, 'copyg' as const),
    }),
    fc.record({ k: fc.constantFrom('setx' as const, 'setg' as const), v }),
  );
  return fc.record({
    n: fc.constant(n),
    m: fc.constant(m),
    acts: fc.array(fc.record({ guard: c, body: fc.array(stmt, { minLength: 1, maxLength: 3 }) }), { minLength: 2, maxLength: 5 }),
    invs: fc.array(fc.record({ all: fc.boolean(), c }), { minLength: 0, maxLength: 2 }),
  });
});

describe('random CPU-symmetric models (fast-check)', () => {
  it('reduced counts are the orbit counts; symmetry on/off and fingerprint/exact agree on verdicts and shortest traces', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const ref = reference(spec);
        const model = toModel(spec);
        const lengths = (r: ReturnType<typeof check>) => new Map(r.violations.map((v) => [v.invariant, v.trace.length - 1]));
        const full = check(model, {}, { all: true });
        expect([full.states, full.verdict]).toEqual([ref.states, ref.first.size ? 'violated' : 'holds']);
        expect(lengths(full)).toEqual(ref.first);
        for (const store of ['exact', 'fingerprint'] as const) {
          const sym = check(model, {}, { all: true, symmetry: 'cpu', store });
          expect(sym.states).toBe(ref.orbits);
          expect(sym.verdict).toBe(full.verdict);
          expect(lengths(sym)).toEqual(ref.first);
          const fp = check(model, {}, { all: true, store });
          expect([fp.states, fp.transitions, fp.depth, fp.verdict]).toEqual([full.states, full.transitions, full.depth, full.verdict]);
        }
      }),
      { numRuns: 200 },
    );
  });
});
