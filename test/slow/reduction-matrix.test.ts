/**
 * The reductions and stores compose (issue #23, item 5, without POR, which
 * does not exist yet): for each model row, every combination of symmetry
 * (none, cpu) × store (exact, compact, fingerprint) × workers (1, 2; compact
 * runs on one thread) gives, within one symmetry setting, the same verdict,
 * the same state and transition counts, the same depth and the same first
 * shortest counterexample as the plain exact one-thread run. Rows: the
 * benchmark model (2 words: compact is the flat table) and two TLB models
 * of more words (the tree store, its pair frontier), one holding and one
 * violated (npm run test:slow). shipped-sweeps.test.ts does the same per store on
 * every shipped expect row.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkCompiledAsync, type CheckResult } from '../../src/engine/check.ts';
import { instantiate } from '../../src/engine/compile.ts';
import type { CheckOptions } from '../../src/engine/explore.ts';
import type { ModelDef } from '../../src/engine/model.ts';
import shootdown from '../../models/bench/shootdown.ts';
import syncModel from '../../models/sync.ts';
import lazyModel from '../../models/lazy.ts';

const file = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));

const rows: [string, ModelDef, Record<string, number | string | boolean>, string][] = [
  ['bench N=3 P=2 async', shootdown, { N: 3, P: 2, VARIANT: 'async' }, file('../../models/bench/shootdown.ts')],
  ['sync N=3 (holds)', syncModel, { N: 3 }, file('../../models/sync.ts')],
  ['lazy N=3, a lazy CPU skipped on freed tables (violated)', lazyModel, { N: 3, ipiLazyOnFreedTables: false }, file('../../models/lazy.ts')],
];

type Combo = { symmetry: 'none' | 'cpu'; store: 'exact' | 'compact' | 'fingerprint'; workers: 1 | 2 };
const combos: Combo[] = [];
for (const symmetry of ['none', 'cpu'] as const)
  for (const store of ['exact', 'compact', 'fingerprint'] as const)
    for (const workers of [1, 2] as const) if (!(store === 'compact' && workers === 2)) combos.push({ symmetry, store, workers });

const outcome = (r: CheckResult) => ({
  verdict: r.verdict,
  states: r.states,
  transitions: r.transitions,
  depth: r.depth,
  violations: r.violations.map((v) => [v.invariant, v.trace.map((s) => `${s.action}(${s.args})`).join(' ')]),
});

describe('symmetry × store × workers compose', () => {
  it.each(rows)('%s', async (_name, def, params, source) => {
    const base = new Map<string, ReturnType<typeof outcome>>();
    for (const c of combos) {
      const opts: CheckOptions & { workers: number; waitForWorkers: boolean; source: { file: string } } = {
        symmetry: c.symmetry,
        store: c.store === 'fingerprint' ? 'fingerprint' : 'exact',
        exactStore: c.store === 'compact' ? 'tree' : 'flat',
        workers: c.workers,
        waitForWorkers: true,
        source: { file: source },
      };
      const o = outcome(await checkCompiledAsync(instantiate(def, params), opts));
      const first = base.get(c.symmetry);
      if (!first) base.set(c.symmetry, o);
      else expect(o, JSON.stringify(c)).toEqual(first);
    }
    const none = base.get('none')!;
    const cpu = base.get('cpu')!;
    expect(cpu.verdict).toBe(none.verdict);
    expect(cpu.violations.map((v) => v[0])).toEqual(none.violations.map((v) => v[0]));
    expect(cpu.states).toBeLessThan(none.states);
  });
});
