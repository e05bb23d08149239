/** One expect row through the lazy trees only and through the reference path on views: the same run (lazy-tables.test.ts, test/slow). */
import { expect } from 'vitest';
import { checkCompiled, type CheckResult } from '../../src/engine/check.ts';
import { instantiate } from '../../src/engine/compile.ts';
import type { ModelDef } from '../../src/index.ts';

/** Counts, verdict and every violation's whole trace (actions and arguments). */
export const summary = (r: CheckResult) => [r.states, r.transitions, r.depth, r.verdict, r.violations.map((v) => [v.invariant, v.trace.map((s) => `${s.action}(${s.args.join(',')})`)])];

export function expectLazyEqualsViews(name: string, def: ModelDef, params: Record<string, never>): void {
  const m = instantiate(def, params, { lazyOnly: true });
  const t = checkCompiled(m, { tabulateAfter: 0, all: true });
  const v = checkCompiled(instantiate(def, params), { tabulateAfter: Infinity, all: true });
  const what = `${name} ${JSON.stringify(params)}`;
  expect(summary(t), what).toEqual(summary(v));
  expect(m.lazyTabulated()!.trees.note(), what).toMatch(/^lazy \(\d+ nodes\)$/);
  expect(m.tabulationMisses(), what).toEqual([]);
  expect(m.invariantTabulationMisses(), what).toEqual([]);
}
