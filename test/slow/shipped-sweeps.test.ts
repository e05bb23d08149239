/**
 * Sweeps over every shipped model and each of its expect rows that take
 * longer than the quick suite can afford on a 2-core machine: `npm run
 * test:slow` (CI runs it as its own job, with generous timeouts).
 *
 * - symmetry on/off: the same verdicts, violated invariants and shortest
 *   trace lengths, never more states with the reduction;
 * - fingerprint store: the exact store's verdicts, counts and trace lengths;
 * - compact (tree-compressed) store: exactly the flat store's run, traces included.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { check, instantiate } from '../../src/index.ts';
import { checkCompiled, checkCompiledAsync, type CheckResult } from '../../src/engine/check.ts';
import { SHIPPED_MODELS, SPEC_TABLE } from '../helpers/shipped.ts';
import shootdown from '../../models/bench/shootdown.ts';
import { expectLazyEqualsViews } from '../helpers/lazy-differential.ts';

/** [name, model, absolute file] of every shipped model (worker threads load the file). */
const SHIPPED_MODEL_FILES = SHIPPED_MODELS.map(([name, def]) => [name, def, fileURLToPath(new URL(name === 'shootdown' ? '../../models/bench/shootdown.ts' : `../../models/${name}.ts`, import.meta.url))] as const);
const traces = (r: CheckResult) => r.violations.map((v) => v.trace.map((s) => `${s.action}(${s.args})`));

function outcome(r: CheckResult) {
  return { verdict: r.verdict, states: r.states, transitions: r.transitions, depth: r.depth, limit: r.limit, violations: r.violations.map((v) => [v.invariant, v.trace.length]) };
}

describe('symmetry on/off gives the same verdicts on every shipped model', () => {
  for (const [name, def] of SHIPPED_MODELS) {
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

describe('the fingerprint store gives the exact store’s answers on every shipped model', () => {
  it('gives the exact store’s verdicts, counts and trace lengths on every shipped model (defaults and expect rows up to 3,000 states)', () => {
    for (const [name, def] of SHIPPED_MODELS) {
      const cases = [{}, ...(def.expect ?? []).map((e) => e.params ?? {})];
      for (const params of cases) {
        const a = check(def, params as never, { all: true, maxStates: 3_000 });
        if (a.verdict === 'incomplete') continue;
        const b = check(def, params as never, { all: true, maxStates: 3_000, store: 'fingerprint' });
        expect({ name, params, ...outcome(b) }).toEqual({ name, params, ...outcome(a) });
      }
    }
  }, 120_000);
});

describe('the compact store gives the flat store’s run on every shipped model', () => {
  it('the same verdicts, counts, depths and counterexamples on every expect row (up to 300,000 states)', () => {
    for (const [name, def] of SHIPPED_MODELS) {
      const cases = [{}, ...(def.expect ?? []).map((e) => e.params ?? {})];
      for (const params of cases) {
        const a = check(def, params as never, { all: true, maxStates: 300_000, exactStore: 'flat' });
        const b = check(def, params as never, { all: true, maxStates: 300_000, exactStore: 'tree' });
        expect({ name, params, ...outcome(b), traces: traces(b) }).toEqual({ name, params, ...outcome(a), traces: traces(a) });
      }
    }
  }, 600_000);
});

describe('--workers 2 reports exactly what one thread does, on every shipped model', () => {
  for (const [name, def, file] of SHIPPED_MODEL_FILES) {
    const rows = [{}, ...(def.expect ?? []).map((e) => e.params ?? {})];
    it(`${name}: ${rows.length} parameter sets, first violation and --all`, async () => {
      for (const params of rows)
        for (const all of [false, true]) {
          const model = instantiate(def, params as never);
          const one = checkCompiled(model, { all, maxStates: 200_000 });
          if (one.verdict === 'incomplete') continue;
          const two = await checkCompiledAsync(instantiate(def, params as never), { all, maxStates: 200_000, workers: 2, source: { file } });
          expect({ params, all, ...outcome(two), traces: traces(two) }).toEqual({ params, all, ...outcome(one), traces: traces(one) });
        }
    });
  }
});

describe('two workers reach the spec counts and depths on every reference row up to a million states', () => {
  const file = fileURLToPath(new URL('../../models/bench/shootdown.ts', import.meta.url));
  for (const [N, P, K, VARIANT, states, transitions, depth] of SPEC_TABLE.filter((r) => r[4] <= 1_000_000))
    it(`N=${N} P=${P} K=${K} ${VARIANT}: ${states} states`, async () => {
      for (const store of ['exact', 'fingerprint'] as const) {
        const r = await checkCompiledAsync(instantiate(shootdown, { N, P, K, VARIANT }), { workers: 2, waitForWorkers: true, source: { file }, store });
        expect([store, r.states, r.transitions, r.depth, r.verdict]).toEqual([store, states, transitions, depth, 'holds']);
      }
    });
});

describe('lazy trees equal the reference path on every expect row of every shipped model', () => {
  for (const [name, def] of SHIPPED_MODELS)
    it(name, () => {
      for (const row of def.expect ?? [{ params: {} }]) expectLazyEqualsViews(name, def, (row.params ?? {}) as Record<string, never>);
    });
});
