/**
 * The lazily grown decision trees (src/engine/lazy-tables.ts) against the
 * reference path on views (compile.ts referenceExpand): the same state
 * spaces, verdicts and shortest traces on every expect row of every shipped
 * model and on random models; the same errors where a model throws or
 * writes out of range; and what switches them off (a model that depends on
 * more than the state, a guard that writes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCompiled, type CheckResult } from '../src/engine/check.ts';
import { instantiate, type CompiledModel } from '../src/engine/compile.ts';
import { array, defineModel, int, machine, type ModelDef } from '../src/index.ts';
import { errorOf, oneAction } from './helpers/small-models.ts';
import { SHIPPED_MODELS } from './helpers/shipped.ts';
import { reference, toModel } from './helpers/random-model.ts';
import { specArb } from './helpers/random-spec.ts';
import { expectLazyEqualsViews } from './helpers/lazy-differential.ts';

const TABLES = { tabulateAfter: 0, all: true };
const VIEWS = { tabulateAfter: Infinity, all: true };
const LAZY = { lazyOnly: true } as const;

/** Counts, verdict and every violation's whole trace (actions and arguments). */
const summary = (r: CheckResult) => [r.states, r.transitions, r.depth, r.verdict, r.violations.map((v) => [v.invariant, v.trace.map((s) => `${s.action}(${s.args.join(',')})`)])];

const lazyNote = (m: CompiledModel) => m.lazyTabulated()!.trees.note();

/** Expect rows per model here; test/slow/shipped-sweeps.test.ts runs them all (text-poke has 20). */
const QUICK_ROWS = 2;

describe('lazy trees equal the reference path', () => {
  for (const [name, def] of SHIPPED_MODELS)
    it(`${name}: the first ${QUICK_ROWS} expect rows with fewer than 3 CPUs give the same run through the lazy trees and through the views`, () => {
      const rows = def.expect ?? [{ params: {}, verdict: 'holds' as const }];
      // The safety rows, each parameter set once (liveness rows, with their options, are in the slow sweep).
      // Rows with three or more CPUs (the costly ones) are in the slow sweep only.
      const sets = [...new Set(rows.filter((row) => !row.options?.liveness && Number(row.params?.N ?? 0) < 3).map((row) => JSON.stringify(row.params ?? {})))];
      for (const p of sets.slice(0, QUICK_ROWS)) expectLazyEqualsViews(name, def, JSON.parse(p) as Record<string, never>);
    });

  it('on random models: the same counts, depth, verdicts and traces as the views and the naive reference', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const ref = reference(spec);
        const m = instantiate(toModel(spec), {}, LAZY);
        const t = checkCompiled(m, TABLES);
        const v = checkCompiled(instantiate(toModel(spec)), VIEWS);
        expect(summary(t)).toEqual(summary(v));
        expect([t.states, t.transitions, t.depth]).toEqual([ref.states, ref.transitions, ref.depth]);
        expect(lazyNote(m)).toMatch(/^lazy/);
        expect(m.tabulationMisses()).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('grow only along reachable paths: fewer nodes than the whole trees', () => {
    // Each guard reads all three counters (8 values each): a whole tree has
    // 1 + 8 + 64 read nodes and 512 ends per instance.
    const def = defineModel({
      name: 'sum',
      description: 'three counters that stop when their sum is 4 mod 5',
      params: {},
      build: () =>
        machine({ x: array(3, int(0, 7)) }, {
          actions: {
            step: { over: [3], guard: (s, i) => s.x.reduce((a, b) => a + b, 0) % 5 !== 4 && s.x[i]! < 7, effect: (s, i) => void (s.x[i] = s.x[i]! + 1) },
          },
        }) as never,
    }) as ModelDef;
    const m = instantiate(def, {}, LAZY);
    const t = checkCompiled(m, TABLES);
    expect(summary(t)).toEqual(summary(checkCompiled(instantiate(def), VIEWS)));
    expect(t.states).toBe(35);
    expect(m.lazyTabulated()!.trees.nodeCount()).toBeLessThan(3 * (1 + 8 + 64 + 512) / 4);
  });
});


describe('what the lazy trees leave to the views', () => {
  it('an effect that throws on some states: the same error as the views give', () => {
    const def = oneAction({
      guard: (s: { x: number[] }, i: number) => s.x[i]! < 3,
      effect: (s: { x: number[] }, i: number) => {
        if (s.x[i] === 2 && i === 1) throw new Error('boom');
        s.x[i]!++;
      },
    });
    const msg = errorOf(instantiate(def, {}, LAZY), TABLES);
    expect(msg).toMatch(/effect of step\(1\) threw boom; state: \{"x":\[\d,2\]\}/);
    expect(msg).toBe(errorOf(instantiate(def), VIEWS));
  });

  it('an out-of-range write: the same range error as the views give', () => {
    const def = oneAction({ effect: (s: { x: number[] }, i: number) => void (s.x[i] = s.x[i]! + 1) });
    const msg = errorOf(instantiate(def, {}, LAZY), TABLES);
    expect(msg).toMatch(/action step\(\d\) wrote x\[\d\] = 4, outside its declared range/);
    expect(msg).toBe(errorOf(instantiate(def), VIEWS));
  });

  it('a guard that writes: the lazy trees switch off, say why, and the views give the run', () => {
    const def = oneAction({ guard: (s: { x: number[] }, i: number) => ((s.x[1 - i] = s.x[1 - i]!), s.x[i]! < 3), effect: (s: { x: number[] }, i: number) => void s.x[i]!++ });
    const m = instantiate(def, {}, LAZY);
    const t = checkCompiled(m, TABLES);
    expect(lazyNote(m)).toMatch(/switched off: step\(0\): a guard wrote the state/);
    expect(summary(t)).toEqual(summary(checkCompiled(instantiate(def), VIEWS)));
    expect(t.warnings.some((w) => /lazily tabulated successors were switched off/.test(w))).toBe(true);
  });

  it('an action whose path depends on more than the state: the trees see a read that disagrees, switch off and warn', () => {
    let calls = 0;
    // Reads x[0] first on the first call and x[1] first on every later one: the same values, two read orders.
    const def = oneAction({
      guard: (s: { x: number[] }, i: number) => (calls++ === 0 ? s.x[0]! < 3 && s.x[1]! < 4 : s.x[1]! < 4 && s.x[0]! < 3) && s.x[i]! < 3,
      effect: (s: { x: number[] }, i: number) => void s.x[i]!++,
    });
    const m = instantiate(def, {}, LAZY);
    const r = checkCompiled(m, TABLES);
    expect(lazyNote(m)).toMatch(/depends on more than the state/);
    expect(r.warnings.some((w) => /lazily tabulated successors were switched off: .*depends on more than the state/.test(w))).toBe(true);
  });

  it('an action whose effect depends on more than the state is caught by the cross-check, with a warning', () => {
    let phase = 'a';
    const def = oneAction({
      guard: (s: { x: number[] }, i: number) => s.x[i]! < 3,
      effect: (s: { x: number[] }, i: number) => void (s.x[i] = phase === 'a' ? s.x[i]! + 1 : 3),
    });
    const m = instantiate(def, {}, LAZY);
    const first = checkCompiled(m, TABLES);
    expect(first.states).toBe(16);
    phase = 'b';
    const r = checkCompiled(m, TABLES);
    expect(m.tabulationMisses()).toEqual(['{"x":[0,0]}']);
    expect(r.warnings.some((w) => /tabulated successors disagreed with the guards and effects/.test(w))).toBe(true);
    expect(r.states).toBe(4);
  });
});

describe('leaves that can hold one value', () => {
  it('take no bits, pack and unpack to their value, and read as that value in the trees', async () => {
    const { compileLayout } = await import('../src/engine/layout.ts');
    const { enumOf } = await import('../src/index.ts');
    const decl = { one: array(4, int(2, 2)), only: enumOf(['x']), x: array(3, int(0, 7)) };
    const L = compileLayout(decl);
    expect(L.bitsUsed).toBe(9);
    expect(L.words).toBe(1);
    const v = L.makeView();
    v.x[1] = 5;
    const w = new Uint32Array(L.words);
    expect(L.pack(v, w, 0)).toBe(-1);
    const back = L.makeView();
    L.unpack(w, 0, back);
    expect(L.toPlain(back)).toEqual({ one: [2, 2, 2, 2], only: 'x', x: [0, 5, 0] });
    (v.one as number[])[0] = 3;
    expect(L.pack(v, w, 0)).toBe(0);
    const def = defineModel({
      name: 'const',
      description: 'a guard that reads a constant leaf',
      params: {},
      build: () =>
        machine(decl, {
          actions: { step: { over: [3], guard: (s, i) => s.one[i]! === 2 && s.only === 'x' && s.x[i]! < 7, effect: (s, i) => void ((s.x[i] = s.x[i]! + 1), (s.one[i] = 2)) } },
        }) as never,
    }) as ModelDef;
    const t = checkCompiled(instantiate(def, {}, LAZY), TABLES);
    expect(summary(t)).toEqual(summary(checkCompiled(instantiate(def), VIEWS)));
    expect(t.states).toBe(8 ** 3);
  });
});
