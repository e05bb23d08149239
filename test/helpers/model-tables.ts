/** Shared by the model test files: run with --all, find trace steps, and test every expect row. */
import { describe, expect, it } from 'vitest';
import { check, instantiate, type ModelDef } from '../../src/index.js';
import { checkLiveness } from '../../src/engine/check-liveness.js';

export type Params = Record<string, number | boolean | string>;
export type Step = { description: string; cpu: number | undefined };

export function run(m: ModelDef, params: Params, opts: { liveness?: boolean } = {}) {
  return check(m, params, { all: true, ...opts });
}

/** Indices of the steps matching each pattern, in order (throws if one is missing). */
export function stepsInOrder(trace: Step[], pats: RegExp[]): number[] {
  const out: number[] = [];
  let from = 0;
  for (const re of pats) {
    const i = trace.findIndex((st, k) => k >= from && re.test(st.description));
    if (i < 0) throw new Error(`no step matching ${re} after step ${from}:\n${trace.map((t) => `  [CPU${t.cpu}] ${t.description}`).join('\n')}`);
    out.push(i);
    from = i + 1;
  }
  return out;
}

/**
 * One test per row of each model's expect block; a holding row must also be
 * free of coverage/vacuity warnings. A safety row that holds is left out
 * when a liveness row with the same parameters holds too: that row's run
 * checks the same invariants on the same states first.
 */
export function verdictTableTests(models: readonly ModelDef[]): void {
  describe('verdict table (expect blocks)', () => {
    for (const m of models)
      for (const row of m.expect ?? []) {
        const key = JSON.stringify(row.params ?? {});
        const covered =
          row.verdict === 'holds' && !row.options && (m.expect ?? []).some((r) => r.verdict === 'holds' && r.options?.liveness && Object.keys(r.options).length === 1 && JSON.stringify(r.params ?? {}) === key);
        if (covered) continue;
        it(`${m.name} ${key} → ${row.verdict}${row.invariant ? ` (${row.invariant})` : ''}${row.options?.liveness && row.verdict === 'holds' ? ' (safety and liveness)' : ''}`, () => {
          const model = instantiate(m, (row.params ?? {}) as Params);
          if (row.verdict === 'violated' && row.options?.liveness && !model.invariants.some((i) => i.name === row.invariant)) {
            // An expected lasso: the liveness check alone, which stops once every property has one (tlbcheck ci runs the safety search too).
            expect(checkLiveness(model).violations.map((v) => v.invariant)).toContain(row.invariant);
            return;
          }
          const params = (row.params ?? {}) as Params;
          // A violated row stops at its first violation when that is the expected one; the whole space (--all) only if not.
          const first = row.verdict === 'violated' ? check(m, params, { liveness: row.options?.liveness }) : null;
          const r = first && first.violations.some((v) => v.invariant === row.invariant) ? first : run(m, params, { liveness: row.options?.liveness });
          expect(r.verdict).toBe(row.verdict);
          if (row.verdict === 'violated') expect(r.violations.map((v) => v.invariant)).toContain(row.invariant);
          if (row.verdict === 'holds') expect(r.warnings).toEqual([]);
        });
      }
  });
}

/**
 * Whether a state satisfying `pred` is reachable in the model with these
 * parameters (an extra invariant "not pred", searched to the end). A fix-on
 * row that holds should still reach the race's dangerous configuration:
 * this is the witness that the row holds because of the fix, not because a
 * step of the race cannot happen at all.
 */
export function reaches(m: ModelDef, params: Params, pred: (s: any) => boolean): boolean {
  const probe = {
    ...m,
    name: `${m.name}-probe`,
    expect: [],
    build: (p: never) => {
      const mach = m.build(p) as { invariants?: Record<string, unknown> };
      return { ...mach, invariants: { ...(mach.invariants ?? {}), 'reaches-probe': { holds: (s: unknown) => !pred(s) } } };
    },
  } as unknown as ModelDef;
  return check(probe, params, {}).violations.some((v) => v.invariant === 'reaches-probe');
}
