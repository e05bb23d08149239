/**
 * Vitest integration: check models from your own test suite.
 *
 *   import { check } from 'tlbcheck/vitest';   // registers the matchers (in this repo: '../src/vitest.js')
 *   import asyncModel from '../models/async.ts';
 *
 *   it('async flush is unsafe with NMI uaccess', async () => {
 *     expect(await check(asyncModel, { N: 2 })).toViolate('no-stale-access');
 *   });
 *   it('sync flush is safe', async () => {
 *     expect(await check('models/sync.ts')).toHold();
 *   });
 *
 * A failing `toHold()` prints the counterexample as a race diagram; a failing
 * `toViolate()` says what happened instead. `toHold()` also fails when an
 * invariant is vacuous (its premise never held: it cannot fail, so it proves
 * nothing); pass `{ allowVacuous: true }` to accept that.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { checkCompiled, type CheckResult, type RunOptions } from './engine/check.js';
import { instantiate } from './engine/compile.js';
import { isModelDef, type ModelDef, type ParamValueAny } from './engine/model.js';
import { raceDiagram } from './report/diagram.js';
import { fmtCount } from './report/text.js';

const RERUN = Symbol('tlbcheck.rerun');

export type CheckOutcome = CheckResult & { readonly [RERUN]?: (invariant: string) => CheckResult };

/** Check a model (a defineModel() value or a model file path) with parameter overrides. */
export async function check(model: ModelDef | string, params: Record<string, ParamValueAny> = {}, opts: RunOptions = {}): Promise<CheckOutcome> {
  let def: ModelDef;
  if (typeof model === 'string') {
    const mod = (await import(pathToFileURL(resolve(model)).href)) as { default?: unknown };
    if (!isModelDef(mod.default)) throw new TypeError(`${model}: the default export is not a model made with defineModel()`);
    def = mod.default;
  } else def = model;
  const compiled = instantiate(def, params, { invariants: opts.invariants });
  const r = checkCompiled(compiled, opts);
  // toViolate('x') when the run stopped at another invariant's violation: look for x specifically.
  const rerun = (invariant: string) => checkCompiled(instantiate(def, params, { invariants: [invariant] }), opts);
  Object.defineProperty(r, RERUN, { value: rerun, enumerable: false });
  return r as CheckOutcome;
}

function label(r: CheckResult): string {
  const p = Object.entries(r.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `model ${r.model}${p ? ` (${p})` : ''}`;
}

function isResult(x: unknown): x is CheckOutcome {
  return typeof x === 'object' && x !== null && 'verdict' in x && 'violations' in x && 'model' in x;
}

const notAResult = (x: unknown) => ({ pass: false, message: () => `expected the result of tlbcheck's check(), got ${typeof x}` });

export const tlbcheckMatchers = {
  toHold(received: unknown, opts: { allowVacuous?: boolean } = {}) {
    if (!isResult(received)) return notAResult(received);
    const r = received;
    const vacuous = r.warnings.filter((w) => / is vacuous:/.test(w));
    if (r.verdict === 'violated') {
      const v = r.violations[0]!;
      return { pass: false, message: () => `expected ${label(r)} to hold, but it does not:\n\n${raceDiagram(v)}\n` };
    }
    if (r.verdict === 'incomplete')
      return { pass: false, message: () => `expected ${label(r)} to hold, but the run was incomplete (stopped by ${r.limit} after ${fmtCount(r.states)} states)` };
    if (vacuous.length && !opts.allowVacuous)
      return { pass: false, message: () => `expected ${label(r)} to hold non-vacuously, but:\n  ${vacuous.join('\n  ')}\n(pass { allowVacuous: true } to accept)` };
    return { pass: true, message: () => `expected ${label(r)} not to hold, but ${r.invariants.join(', ') || 'every invariant'} held in all ${fmtCount(r.states)} reachable states` };
  },

  toViolate(received: unknown, invariant?: string) {
    if (!isResult(received)) return notAResult(received);
    let r: CheckResult = received;
    const want = invariant ? `a violation of ${invariant}` : 'a violation';
    if (invariant && r.verdict === 'violated' && !r.violations.some((v) => v.invariant === invariant) && received[RERUN] && r.invariants.includes(invariant)) {
      const again = received[RERUN](invariant);
      if (again.verdict === 'violated') r = again;
    }
    const v = r.violations.find((x) => !invariant || x.invariant === invariant);
    if (v) return { pass: true, message: () => `expected ${label(r)} not to violate ${invariant ?? 'any invariant'}, but it does:\n\n${raceDiagram(v)}\n` };
    if (r.verdict === 'violated')
      return { pass: false, message: () => `expected ${want} in ${label(r)}, but it violates ${r.violations.map((x) => x.invariant).join(', ')}:\n\n${raceDiagram(r.violations[0]!)}\n` };
    if (r.verdict === 'incomplete')
      return { pass: false, message: () => `expected ${want} in ${label(r)}, but the run was incomplete (stopped by ${r.limit} after ${fmtCount(r.states)} states) without one` };
    return { pass: false, message: () => `expected ${want} in ${label(r)}, but every invariant holds in all ${fmtCount(r.states)} reachable states` };
  },
};

expect.extend(tlbcheckMatchers);

interface TlbcheckMatchers<R = unknown> {
  /** Every invariant holds in every reachable state (and none is vacuous unless allowed). */
  toHold(opts?: { allowVacuous?: boolean }): R;
  /** Some invariant (this one, if named) is violated; the message shows the race diagram. */
  toViolate(invariant?: string): R;
}

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-explicit-any
  interface Matchers<T = any> extends TlbcheckMatchers<T> {}
}
