/**
 * Issue #6 part 7: on random CPU-symmetric models (fast-check), symmetry
 * on/off and fingerprint/exact give the same verdicts and shortest
 * counterexample lengths, and the reduced state count equals the number of
 * orbits, counted here by brute force (a naive BFS whose states are
 * canonicalised by trying every CPU permutation); also on worker threads.
 * The models are built from data (test/helpers/random-symmetric.ts).
 */
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bits, check, instantiate, NONE } from '../src/index.ts';
import { checkCompiledAsync } from '../src/engine/check.ts';
import { cond, exec, invHolds, toModel, type Atom, type Cond, type Spec, type St, type Stmt } from './helpers/random-symmetric.ts';

const HELPER = fileURLToPath(new URL('./helpers/random-symmetric.ts', import.meta.url));

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

  it('on 2 worker threads (interleaved state by state): the orbit counts and shortest traces, both stores', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const ref = reference(spec);
        const model = instantiate(toModel(spec));
        const source = { file: HELPER, exportName: 'toModel', factoryArg: spec };
        for (const store of ['exact', 'fingerprint'] as const) {
          const r = await checkCompiledAsync(model, { all: true, symmetry: 'cpu', store, workers: 2, waitForWorkers: true, chunk: 1, source });
          expect(r.states).toBe(ref.orbits);
          expect(r.verdict).toBe(ref.first.size ? 'violated' : 'holds');
          expect(new Map(r.violations.map((v) => [v.invariant, v.trace.length - 1]))).toEqual(ref.first);
        }
      }),
      { numRuns: 3 },
    );
  });
});
