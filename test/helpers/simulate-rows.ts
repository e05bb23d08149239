/**
 * The simulate checks over the shipped models' bug toggles, shared by
 * test/simulate.test.ts (a few rows) and test/slow/simulate-sweeps.test.ts
 * (every row).
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import asyncModel from '../../models/async.ts';
import concurrentModel from '../../models/concurrent.ts';
import lazyModel from '../../models/lazy.ts';
import nohzModel from '../../models/nohz-defer.ts';
import ptiModel from '../../models/pti-deferred.ts';
import relaxedModel from '../../models/relaxed.ts';
import switchWindowModel from '../../models/switch-window.ts';
import syncModel from '../../models/sync.ts';
import textPokeModel from '../../models/text-poke.ts';
import { check } from '../../src/engine/check.js';
import { instantiate, type CompiledModel } from '../../src/engine/compile.js';
import type { ModelDef, ParamValueAny } from '../../src/engine/model.js';
import { traceDoc } from '../../src/report/json.js';
import { replayTrace } from '../../src/replay.js';
import { simulate, type SimulateResult } from '../../src/simulate.js';
import { validate } from '../report-schema.js';

const schema = JSON.parse(readFileSync('schema/trace.schema.json', 'utf8')) as Record<string, unknown>;
const model = (def: unknown, params: Record<string, ParamValueAny> = {}): CompiledModel => instantiate(def as ModelDef, params);

/** The trace as a trace document, replayed against the model by `tlbcheck replay`'s logic. */
export function replays(def: unknown, m: CompiledModel, r: SimulateResult) {
  const v = r.violations[0]!;
  const doc = traceDoc(m, v, { modelFile: 'x.ts' });
  expect(validate(schema, doc)).toEqual([]);
  return replayTrace(def as ModelDef, JSON.parse(JSON.stringify(doc))).report;
}

/** Shipped violating configurations at small N, each against the BFS's shortest trace for the same invariant (check with all: one per invariant). */
export const SHRINK_ROWS: [string, Record<string, ParamValueAny>, unknown][] = [
  ['sync', { dirtySetRechecksPte: false }, syncModel],
  ['async', {}, asyncModel],
  ['switch-window', { switchingMarker: false }, switchWindowModel],
  ['concurrent', { waitIrqsOff: true, P: 2, OPS: 2 }, concurrentModel],
  ['async', { nmiUaccess: false, freeTables: true }, asyncModel],
  ['lazy', { ipiLazyOnFreedTables: false }, lazyModel],
  ['nohz-defer', { nmiTouches: true }, nohzModel],
  ['relaxed', { spuriousFix: 'none' }, relaxedModel],
  ['text-poke', { otherCpuLoaded: true }, textPokeModel],
  ['pti-deferred', { skipSwitchMark: true }, ptiModel],
];

export function shrunkWithinTwiceShortest(params: Record<string, ParamValueAny>, def: unknown): void {
  const m = model(def, params);
  const r = simulate(m, { seed: 1, steps: 100, timeLimitMs: 30_000 });
  expect(r.verdict).toBe('violated');
  const v = r.violations[0]!;
  const bfs = check(def as ModelDef, params, { all: true });
  const shortest = bfs.violations.find((x) => x.invariant === v.invariant);
  expect(shortest, `BFS finds ${v.invariant} too`).toBeDefined();
  const n = v.trace.length - 1;
  const best = shortest!.trace.length - 1;
  expect(n).toBeGreaterThanOrEqual(best);
  expect(n).toBeLessThanOrEqual(2 * best);
  expect(replays(def, m, r)).toMatchObject({ validPath: true, stillViolates: true, reproduces: true, stateDiff: null });
}

/** One bug toggle (an expect row with verdict violated) per shootdown model, at N=6, where exhaustive search does not finish. */
export const N6_TOGGLES: [string, Record<string, ParamValueAny>, unknown, string][] = [
  ['async', { nmiUaccess: true }, asyncModel, 'no-stale-access'],
  ['sync', { waitIrqsOff: true, P: 2, OPS: 2 }, syncModel, 'deadlock'],
  ['concurrent', { dirtySetRechecksPte: false }, concurrentModel, 'no-lost-dirty'],
  ['lazy', { ipiLazyOnFreedTables: false }, lazyModel, 'no-freed-table-walk'],
  ['nohz-defer', { freeTable: true }, nohzModel, 'no-freed-table-walk'],
  ['relaxed', { change: 'rw-to-ro', relaxedOnRemoval: true }, relaxedModel, 'no-permission-escalation'],
  ['text-poke', { otherCpuLoaded: true }, textPokeModel, 'no-text-write-after-poke'],
];

export function foundAtN6(params: Record<string, ParamValueAny>, def: unknown, invariant: string): void {
  const expectRow = (def as ModelDef).expect!.find((e) => e.verdict === 'violated' && Object.entries(params).every(([k, x]) => (e.params as Record<string, unknown>)?.[k] === x));
  expect(expectRow?.invariant, 'a shipped expect row').toBe(invariant);
  const m = model(def, { ...params, N: 6 });
  const r = simulate(m, { seed: 2, steps: 100, timeLimitMs: 30_000 });
  expect(r.verdict).toBe('violated');
  expect(r.violations[0]!.invariant).toBe(invariant);
  expect(r.found!.steps).toBeLessThanOrEqual(r.found!.walkSteps);
  expect(replays(def, m, r)).toMatchObject({ validPath: true, reproduces: true });
}
