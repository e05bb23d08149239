/**
 * Differential test: random small guarded-command models (generated with
 * fast-check as data) are explored by the engine and by a deliberately naive
 * reference explorer (test/helpers/random-model.ts: JSON keys in a Map, plain
 * BFS). They must agree on state count, transition count, depth, verdict and
 * the length of the shortest counterexample of every violated invariant and
 * of deadlock: with the exact store, with the fingerprint store, and with
 * the level-synchronous multi-core explorer (on this thread alone, and on
 * worker threads that rebuild the model from the same data).
 */
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { check, instantiate } from '../src/index.ts';
import { checkCompiledAsync, type CheckResult } from '../src/engine/check.ts';
import { reference, toModel } from './helpers/random-model.ts';
import { specArb } from './helpers/random-spec.ts';

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
        // The fingerprint store explores the same states (a 64-bit collision among a few hundred is ~1e-15).
        const fp = check(model, {}, { all: true, store: 'fingerprint' });
        expect(summary(fp)).toEqual(summary(all));
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

const HELPER = fileURLToPath(new URL('./helpers/random-model.ts', import.meta.url));

function summary(r: CheckResult) {
  return {
    states: r.states,
    transitions: r.transitions,
    depth: r.depth,
    verdict: r.verdict,
    violations: new Map(r.violations.map((v) => [v.invariant, v.trace.length - 1])),
  };
}

describe('the multi-core explorer agrees with the reference on random models', () => {
  it('level-synchronous algorithm on this thread alone (--workers machinery, one participant), both stores', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const ref = reference(spec);
        const model = instantiate(toModel(spec));
        for (const store of ['exact', 'fingerprint'] as const) {
          const r = await checkCompiledAsync(model, { all: true, store, workers: 1, parallel: true, source: { file: HELPER, exportName: 'toModel', factoryArg: spec } });
          expect(r.states).toBe(ref.states);
          expect(r.transitions).toBe(ref.transitions);
          expect(r.depth).toBe(ref.depth);
          expect(new Map(r.violations.map((v) => [v.invariant, v.trace.length - 1]))).toEqual(ref.firstViolation);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('on 2 threads interleaved state by state (worker threads rebuild the model from the data)', async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const ref = reference(spec);
        const model = instantiate(toModel(spec));
        const source = { file: HELPER, exportName: 'toModel', factoryArg: spec };
        const r = await checkCompiledAsync(model, { all: true, workers: 2, waitForWorkers: true, chunk: 1, source });
        expect(summary(r)).toEqual({ states: ref.states, transitions: ref.transitions, depth: ref.depth, verdict: r.verdict, violations: ref.firstViolation });
        // First violation only: at the minimal depth, as a single-threaded run.
        const first = await checkCompiledAsync(model, { workers: 2, waitForWorkers: true, chunk: 1, source, store: 'fingerprint' });
        expect(first.verdict).toBe(ref.firstViolation.size ? 'violated' : 'holds');
        // The violation reported is a shortest one for its invariant (or deadlock).
        for (const v of first.violations) expect(v.trace.length - 1).toBe(ref.firstViolation.get(v.invariant));
      }),
      { numRuns: 4 }, // each run boots a worker thread; the one-thread differential above takes many more models
    );
  });
});
