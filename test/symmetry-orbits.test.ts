/**
 * CPU symmetry reduction: the reduced state count equals the spec's `orbits`
 * column on every row (the number of classes of states equal up to a CPU
 * permutation), counterexamples are real un-permuted paths of the same
 * (shortest) length, and verdicts equal the unreduced run's on every
 * shipped model.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import shootdown from '../models/bench/shootdown.ts';
import syncModel from '../models/sync.ts';
import asyncModel from '../models/async.ts';
import lazyModel from '../models/lazy.ts';
import concurrentModel from '../models/concurrent.ts';
import ptiModel from '../models/pti-deferred.ts';
import relaxedModel from '../models/relaxed.ts';
import nohzModel from '../models/nohz-defer.ts';
import { check, type ModelDef } from '../src/index.ts';

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

describe('symmetry on/off gives the same verdicts on every shipped model', () => {
  const models: [string, ModelDef][] = [
    ['sync', syncModel as ModelDef],
    ['async', asyncModel as ModelDef],
    ['lazy', lazyModel as ModelDef],
    ['concurrent', concurrentModel as ModelDef],
    ['shootdown', shootdown as ModelDef],
    ['pti-deferred', ptiModel as ModelDef],
    ['relaxed', relaxedModel as ModelDef],
    ['nohz-defer', nohzModel as ModelDef],
  ];
  for (const [name, def] of models) {
    const cases = [{}, ...((def as { expect?: { params: Record<string, unknown> }[] }).expect ?? []).map((e) => e.params)];
    it(`${name}: ${cases.length} parameter sets`, () => {
      for (const params of cases) {
        const a = check(def, params as never, { maxStates: 300_000 });
        if (a.verdict === 'incomplete') continue;
        const b = check(def, params as never, { symmetry: 'cpu', maxStates: 300_000 });
        expect({ params, verdict: b.verdict, inv: b.violations.map((v) => v.invariant) }).toEqual({
          params,
          verdict: a.verdict,
          inv: a.violations.map((v) => v.invariant),
        });
        expect(b.states).toBeLessThanOrEqual(a.states);
        for (const [i, v] of b.violations.entries()) expect(v.trace.length).toBe(a.violations[i]!.trace.length);
      }
    }, 120_000);
  }
});
