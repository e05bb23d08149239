/**
 * Differential test: random small guarded-command models (generated with
 * fast-check as data) are explored by the engine and by a deliberately naive
 * reference explorer written here (JSON keys in a Map, plain BFS). They must
 * agree on state count, transition count, depth, verdict and the length of
 * the shortest counterexample of every violated invariant and of deadlock.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { array, bool, check, defineModel, int, machine, type ModelDef } from '../src/index.ts';

// ------------------------------------------------------------ model as data
type Expr = { k: 'const'; v: number } | { k: 'var'; i: number } | { k: 'add'; a: Expr; c: number } | { k: 'flag'; i: number };
type Cond = { k: 'lt' | 'eq' | 'ne'; a: Expr; b: Expr } | { k: 'not'; c: Cond } | { k: 'and'; a: Cond; b: Cond } | { k: 'true' };
type Stmt = { k: 'set'; i: number; e: Expr } | { k: 'setArg'; e: Expr } | { k: 'flip'; i: number };
interface Act {
  arity: 0 | 1;
  guard: Cond;
  body: Stmt[];
}
interface Spec {
  nvars: number;
  max: number;
  nflags: number;
  init: number[];
  acts: Act[];
  invs: Cond[];
}

type St = { v: number[]; f: boolean[] };

function evalE(e: Expr, s: St, spec: Spec, arg: number): number {
  switch (e.k) {
    case 'const':
      return e.v;
    case 'var':
      return s.v[e.i === -1 ? arg : e.i]!;
    case 'add':
      return (evalE(e.a, s, spec, arg) + e.c) % (spec.max + 1);
    case 'flag':
      return s.f[e.i]! ? 1 : 0;
  }
}
function evalC(c: Cond, s: St, spec: Spec, arg: number): boolean {
  switch (c.k) {
    case 'true':
      return true;
    case 'not':
      return !evalC(c.c, s, spec, arg);
    case 'and':
      return evalC(c.a, s, spec, arg) && evalC(c.b, s, spec, arg);
    case 'lt':
      return evalE(c.a, s, spec, arg) < evalE(c.b, s, spec, arg);
    case 'eq':
      return evalE(c.a, s, spec, arg) === evalE(c.b, s, spec, arg);
    case 'ne':
      return evalE(c.a, s, spec, arg) !== evalE(c.b, s, spec, arg);
  }
}
function exec(st: Stmt[], s: St, spec: Spec, arg: number): void {
  // Right-hand sides read the pre-state (as a simultaneous assignment would).
  const pre: St = { v: [...s.v], f: [...s.f] };
  for (const x of st) {
    if (x.k === 'set') s.v[x.i] = evalE(x.e, pre, spec, arg);
    else if (x.k === 'setArg') s.v[arg] = evalE(x.e, pre, spec, arg);
    else s.f[x.i] = !pre.f[x.i];
  }
}

// ------------------------------------------------------- the engine's view
function toModel(spec: Spec): ModelDef {
  return defineModel({
    name: 'random',
    description: 'random guarded commands',
    params: {},
    build: () =>
      machine(
        { v: array(spec.nvars, int(0, spec.max)), f: array(spec.nflags, bool()) },
        {
          init: (s) => spec.init.forEach((x, i) => (s.v[i] = x)),
          actions: Object.fromEntries(
            spec.acts.map((a, n) => [
              `a${n}`,
              {
                over: a.arity ? [spec.nvars] : [],
                guard: (s: St, arg = 0) => evalC(a.guard, s, spec, arg),
                effect: (s: St, arg = 0) => exec(a.body, s, spec, arg),
              },
            ]),
          ),
          invariants: Object.fromEntries(spec.invs.map((c, n) => [`i${n}`, (s: St) => evalC(c, s, spec, 0)])),
        },
      ),
  });
}

// ------------------------------------------------- naive reference explorer
interface RefResult {
  states: number;
  transitions: number;
  depth: number;
  firstViolation: Map<string, number>;
}
function reference(spec: Spec): RefResult {
  const key = (s: St) => JSON.stringify(s);
  const init: St = { v: [...spec.init], f: Array(spec.nflags).fill(false) };
  const dist = new Map<string, number>([[key(init), 0]]);
  const queue: St[] = [init];
  let transitions = 0;
  let depth = 0;
  const first = new Map<string, number>();
  const note = (name: string, d: number) => {
    if (!first.has(name) || first.get(name)! > d) first.set(name, d);
  };
  for (let qi = 0; qi < queue.length; qi++) {
    const s = queue[qi]!;
    const d = dist.get(key(s))!;
    depth = Math.max(depth, d);
    spec.invs.forEach((c, n) => {
      if (!evalC(c, s, spec, 0)) note(`i${n}`, d);
    });
    let enabled = 0;
    for (const a of spec.acts) {
      for (let arg = 0; arg < (a.arity ? spec.nvars : 1); arg++) {
        if (!evalC(a.guard, s, spec, arg)) continue;
        enabled++;
        const t: St = { v: [...s.v], f: [...s.f] };
        exec(a.body, t, spec, arg);
        if (!dist.has(key(t))) {
          dist.set(key(t), d + 1);
          queue.push(t);
        }
      }
    }
    transitions += enabled;
    if (enabled === 0) note('deadlock', d);
  }
  return { states: dist.size, transitions, depth, firstViolation: first };
}

// ---------------------------------------------------------------- arbitraries
const specArb: fc.Arbitrary<Spec> = fc
  .record({ nvars: fc.integer({ min: 1, max: 4 }), max: fc.integer({ min: 1, max: 5 }), nflags: fc.integer({ min: 1, max: 3 }) })
  .chain(({ nvars, max, nflags }) => {
    const expr: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
      e: fc.oneof(
        { depthSize: 'small' },
        fc.record({ k: fc.constant('const' as const), v: fc.integer({ min: 0, max }) }),
        fc.record({ k: fc.constant('var' as const), i: fc.integer({ min: -1, max: nvars - 1 }) }),
        fc.record({ k: fc.constant('flag' as const), i: fc.integer({ min: 0, max: nflags - 1 }) }),
        fc.record({ k: fc.constant('add' as const), a: tie('e'), c: fc.integer({ min: 1, max }) }),
      ),
    })).e;
    const atom: fc.Arbitrary<Cond> = fc.record({ k: fc.constantFrom('lt' as const, 'eq' as const, 'ne' as const), a: expr, b: expr });
    const cond: fc.Arbitrary<Cond> = fc.oneof(
      atom,
      fc.constant({ k: 'true' as const }),
      fc.record({ k: fc.constant('not' as const), c: atom }),
      fc.record({ k: fc.constant('and' as const), a: atom, b: atom }),
    );
    const stmt: fc.Arbitrary<Stmt> = fc.oneof(
      fc.record({ k: fc.constant('set' as const), i: fc.integer({ min: 0, max: nvars - 1 }), e: expr }),
      fc.record({ k: fc.constant('setArg' as const), e: expr }),
      fc.record({ k: fc.constant('flip' as const), i: fc.integer({ min: 0, max: nflags - 1 }) }),
    );
    return fc.record({
      nvars: fc.constant(nvars),
      max: fc.constant(max),
      nflags: fc.constant(nflags),
      init: fc.array(fc.integer({ min: 0, max }), { minLength: nvars, maxLength: nvars }),
      acts: fc.array(fc.record({ arity: fc.constantFrom(0 as const, 1 as const), guard: cond, body: fc.array(stmt, { minLength: 1, maxLength: 3 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
      invs: fc.array(fc.oneof(atom, fc.record({ k: fc.constant('not' as const), c: fc.record({ k: fc.constant('and' as const), a: atom, b: atom }) })), {
        minLength: 0,
        maxLength: 2,
      }),
    });
  });

describe('engine agrees with a naive reference explorer on random models', () => {
  it('same states, transitions, depth, verdicts and shortest counterexample lengths', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const ref = reference(spec);
        const model = toModel(spec);
        // Full exploration (--all): counts and every violation's shortest length.
        const all = check(model, {}, { all: true });
        expect(all.states).toBe(ref.states);
        expect(all.transitions).toBe(ref.transitions);
        expect(all.depth).toBe(ref.depth);
        expect(all.verdict).toBe(ref.firstViolation.size ? 'violated' : 'holds');
        const got = new Map(all.violations.map((v) => [v.invariant, v.trace.length - 1]));
        expect(got).toEqual(ref.firstViolation);
        // Default mode stops at the first violation, which is one of the shortest.
        const first = check(model);
        expect(first.verdict).toBe(all.verdict);
        if (first.violations.length) {
          const v = first.violations[0]!;
          expect(v.trace.length - 1).toBe(ref.firstViolation.get(v.invariant));
          expect(Math.min(...ref.firstViolation.values())).toBeLessThanOrEqual(v.trace.length - 1);
        }
      }),
      { numRuns: 300 },
    );
  });
});
