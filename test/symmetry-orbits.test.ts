/**
 * CPU symmetry reduction: the reduced state count equals the spec's `orbits`
 * column on every row (the number of classes of states equal up to a CPU
 * permutation), counterexamples are real un-permuted paths of the same
 * (shortest) length. (The same verdicts with and without the reduction on
 * every shipped model: test/slow/shipped-sweeps.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import shootdown from '../models/bench/shootdown.ts';
import nohz from '../models/nohz-defer.ts';
import { array, check, cpus, defineModel, int, machine, NONE, ref } from '../src/index.ts';

const spec = readFileSync(new URL('../../shared/bench/shootdown-spec.md', import.meta.url), 'utf8');
const rows = [...spec.matchAll(/^\| (\d) \| (\d) \| (\d) \| (sync|async) \| (\d+) \| (\d+) \|(?: (\d+) \|)? (\d+) \|/gm)].map((m) => ({
  N: +m[1]!,
  P: +m[2]!,
  K: +m[3]!,
  VARIANT: m[4]! as 'sync' | 'async',
  states: +m[5]!,
  orbits: +m[8]!,
}));

describe('--symmetry cpu reaches exactly the spec orbit counts', () => {
  it('the spec has its 16 reference rows and 5 benchmark rows', () => expect(rows.length).toBe(21));
  for (const r of rows.filter((x) => x.states <= 1_000_000)) {
    it(`N=${r.N} P=${r.P} K=${r.K} ${r.VARIANT}: ${r.orbits} orbits`, () => {
      const res = check(shootdown, { N: r.N, P: r.P, K: r.K, VARIANT: r.VARIANT, NMI: 0 }, { symmetry: 'cpu' });
      expect([res.states, res.verdict]).toEqual([r.orbits, 'holds']);
    });
  }
});

describe('counterexamples under symmetry are real paths', () => {
  for (const N of [2, 3, 4]) {
    it(`N=${N} async NMI=1: N+2 steps, replayed from the real initial state`, () => {
      for (const symmetry of ['cpu'] as const) {
        const r = check(shootdown, { N, P: 2, K: 1, VARIANT: 'async', NMI: 1 }, { symmetry });
        expect(r.verdict).toBe('violated');
        const steps = r.violations[0]!.trace.slice(1);
        expect(steps).toHaveLength(N + 2);
        expect(steps[N + 1]!.action).toBe('finish');
        expect(r.violations[0]!.reason).toMatch(/can still use/);
      }
    });
  }
});

describe('a model that is not symmetric in its CPUs', () => {
  // CPU 0 is special through a plain int: permuting the per-CPU array alone
  // would merge states that behave differently.
  const lopsided = defineModel({
    name: 'lopsided',
    description: 'Only the CPU named by a plain int may count up.',
    params: { strictInv: { default: true, doc: 'an invariant that names a CPU through the plain int' } },
    build: ({ strictInv }) => {
      const CPU = cpus(3);
      return machine(
        { x: array(CPU, int(0, 2)), owner: int(0, 2) },
        {
          actions: {
            inc: { over: [CPU], guard: (s, c) => s.owner === c && s.x[c]! < 2, effect: (s, c) => void (s.x[c] = s.x[c]! + 1) },
            pass: { over: [CPU], guard: (s, c) => s.owner === c && s.x[c] === 2, effect: (s, c) => void (s.owner = (c + 1) % 3) },
          },
          invariants: { 'owner-counts-last': (s) => !strictInv || s.x[(s.owner + 2) % 3] !== 1 },
          endState: () => true,
        },
      );
    },
  });
  it('names the plain int field that holds a CPU id (a latch that should be a ref)', () => {
    const latched = defineModel({
      name: 'latched',
      description: 'Symmetric but for the first CPU to count, kept in a plain int.',
      params: { asRef: { default: false, doc: 'declare the latch ref(CPU)' } },
      build: ({ asRef }) => {
        const CPU = cpus(3);
        return machine(
          { x: array(CPU, int(0, 2)), first: asRef ? ref(CPU, { none: true }) : int(NONE, 2, { init: NONE }) },
          {
            actions: {
              inc: {
                over: [CPU],
                // The first CPU to count finishes before the others start.
                guard: (s, c) => (s.x[c] ?? 2) < 2 && (s.first === NONE || s.first === c || s.x[s.first] === 2),
                effect: (s, c) => {
                  s.x[c] = (s.x[c] ?? 0) + 1;
                  if (s.first === NONE) s.first = c;
                },
              },
            },
            invariants: { bounded: (s) => s.x.every((v) => v <= 2) },
            endState: () => true,
          },
        );
      },
    });
    const plain = check(latched, {}, { symmetry: 'cpu' });
    expect(plain.symmetry).toEqual([]);
    expect(plain.warnings.join('\n')).toMatch(/field first holds a cpu id in a plain int.*declare it ref\(cpu, \{ none: true \}\)/);
    const typed = check(latched, { asRef: true }, { symmetry: 'cpu' });
    expect([typed.symmetry, typed.warnings]).toEqual([['cpu'], []]);
    expect(typed.states).toBeLessThan(plain.states);
  });

  it('says so when the model declares its CPUs non-symmetric', () => {
    const r = check(nohz, {}, { symmetry: 'cpu' });
    expect(r.symmetry).toEqual([]);
    expect(r.warnings.join('\n')).toMatch(/symmetry reduction not applied: the model has no symmetric cpu sort/);
  });

  for (const strictInv of [true, false])
    it(`falls back to the full state space and says why (${strictInv ? 'invariant' : 'transitions'} not symmetric)`, () => {
      const full = check(lopsided, { strictInv });
      const r = check(lopsided, { strictInv }, { symmetry: 'cpu' });
      expect([r.states, r.verdict, r.symmetry]).toEqual([full.states, full.verdict, []]);
      expect(r.warnings.join('\n')).toMatch(/symmetry reduction disabled: the model is not symmetric/);
    });
});
