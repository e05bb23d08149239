/**
 * The per-instance successor diff (compile.ts + written-leaves.ts) against
 * the coarse per-field diff it replaces: same successors on every shipped
 * model, and a write the analysis cannot see (through a reference an effect
 * kept from an earlier call) is caught at run time, recomputed with the
 * coarse diff and reported as a warning.
 */
import { describe, expect, it } from 'vitest';
import { checkCompiled } from '../src/engine/check.ts';
import { instantiate, type CompiledModel } from '../src/engine/compile.ts';
import { array, defineModel, int, machine, type ModelDef } from '../src/index.ts';
import { SHIPPED_MODELS } from './helpers/shipped.ts';

/**
 * A model with hidden state. `grab` (first, always enabled) hands the view's
 * `y` to a helper that keeps it, so it is the expanding view's `y` whenever
 * `inc` runs in the explorer. `inc(i)` then writes y[(i+1)%N] through that
 * reference: its source names `y` only in a read, so the analysis predicts
 * just x[i]. The semantics as the coarse diff sees them (y is a field inc
 * names) are those of `reference` below.
 * mode 'fault': the stray write makes a later inc of the same state
 * overflow x (a range fault the coarse diff would not see). 'absorb': inc(i)
 * may also write y[i] itself, so the emit of inc(1) would take inc(0)'s
 * stray write to y[1] for its own and undo it (only the check before each
 * effect sees that).
 */
let kept: number[] | undefined;
const keep = (a: number[]) => {
  kept = a;
};
const aliasModel = (N: number, mode: 'plain' | 'fault' | 'absorb' = 'plain'): ModelDef =>
  defineModel({
    name: 'alias',
    description: 'writes state through a reference kept from an earlier call',
    params: {},
    build: () => {
      kept = undefined;
      return machine(
        { x: array(N, int(0, 3)), y: array(N, int(0, 3)) },
        {
          actions: {
            grab: { effect: (s) => keep(s.y) },
            inc: {
              over: [N],
              guard: (s, i) => s.x[i]! < 2,
              effect: (s, i) => {
                if (mode === 'absorb') {
                  s.x[i] = s.x[i]! + 1;
                  if (s.x[i] === 3) s.y[i] = 0;
                  if (kept && i === 0) kept[1] = 2;
                  return;
                }
                s.x[i] = mode === 'fault' ? s.x[i]! + s.y[i]! + 1 : s.x[i]! + 1;
                if (kept && s.y[0]! >= 0) kept[(i + 1) % N] = mode === 'fault' ? 3 : s.x[i]!;
              },
            },
          },
        },
      ) as never;
    },
  }) as ModelDef;
const reference = (N: number): ModelDef =>
  defineModel({
    name: 'alias-ref',
    description: 'aliasModel without the alias',
    params: {},
    build: () =>
      machine(
        { x: array(N, int(0, 3)), y: array(N, int(0, 3)) },
        {
          actions: {
            grab: { effect: () => {} },
            inc: {
              over: [N],
              guard: (s, i) => s.x[i]! < 2,
              effect: (s, i) => {
                s.x[i] = s.x[i]! + 1;
                s.y[(i + 1) % N] = s.x[i]!;
              },
            },
          },
        },
      ) as never,
  }) as ModelDef;

const WARN = /wrote state the write analysis did not predict/;

describe('successor diff safety net', () => {
  it('a write through a kept reference is caught: same state space as the coarse diff, and a warning', () => {
    for (const N of [3, 4]) {
      const precise = instantiate(aliasModel(N));
      const r = checkCompiled(precise);
      const coarse = checkCompiled(instantiate(aliasModel(N), {}, { writeAnalysis: false }));
      const ref = checkCompiled(instantiate(reference(N)));
      expect([r.states, r.transitions]).toEqual([coarse.states, coarse.transitions]);
      expect([r.states, r.transitions]).toEqual([ref.states, ref.transitions]);
      expect(precise.writeAnalysisMisses()).toEqual(['inc']);
      expect(r.warnings.filter((w) => WARN.test(w))).toHaveLength(1);
      expect(coarse.warnings.some((w) => WARN.test(w))).toBe(false);
    }
  });

  it('works when the action is split over several group functions (a miss in each, after successors of earlier ones)', () => {
    // inc's coarse set is x and y, 48 leaves: 400 / 48 = 8 instances per group function, 3 groups.
    const N = 24;
    const m = instantiate(aliasModel(N));
    const c = instantiate(aliasModel(N), {}, { writeAnalysis: false });
    expect(sameExpansions(m, c, 3, 200)).toBe(true);
    expect(m.writeAnalysisMisses()).toEqual(['inc', 'inc', 'inc']);
  });

  it('appends at n0 > 0 exactly as from 0', () => {
    for (const N of [3, 24]) {
      const m = instantiate(aliasModel(N));
      const c = instantiate(aliasModel(N), {}, { writeAnalysis: false });
      expect(sameExpansions(m, c, 5, 100), `N=${N}`).toBe(true);
    }
  });

  it('a range fault caused by a missed write is not reported: the coarse rerun decides', () => {
    const m = instantiate(aliasModel(3, 'fault'));
    const c = instantiate(aliasModel(3, 'fault'), {}, { writeAnalysis: false });
    expect(sameExpansions(m, c, 0, 50)).toBe(true);
    expect(m.writeAnalysisMisses()).toEqual(['inc']);
  });

  it('a stray write to a leaf a later instance diffs is caught before that instance absorbs it', () => {
    const m = instantiate(aliasModel(3, 'absorb'));
    const c = instantiate(aliasModel(3, 'absorb'), {}, { writeAnalysis: false });
    expect(sameExpansions(m, c, 1, 100)).toBe(true);
    expect(m.writeAnalysisMisses()).toEqual(['inc']);
  });

  it('a genuine range fault is still reported with its instance and leaf', () => {
    const def = defineModel({
      name: 'overflow',
      description: 'inc(1) overflows',
      params: {},
      build: () =>
        machine(
          { x: array(2, int(0, 2)), y: array(2, int(0, 2)) },
          { actions: { inc: { over: [2], effect: (s, i) => void (s.x[i] = s.y[0]! + i * 5) } } },
        ) as never,
    }) as ModelDef;
    const m = instantiate(def);
    const L = m.layout;
    const b = L.makeView();
    const w = L.makeView();
    const bw = new Uint32Array(L.words);
    L.pack(b, bw, 0);
    const out = new Uint32Array(8 * L.words);
    const ks = new Uint32Array(8);
    const fault = new Int32Array(2);
    expect(m.expand(b, w, bw, 0, out, ks, fault, 0)).toBe(-1);
    expect([m.instances[fault[0]!]!.args, L.leaves[fault[1]!]!.path]).toEqual([[1], 'x[1]']);
    expect(m.writeAnalysisMisses()).toEqual([]);
  });

  for (const [name, def] of SHIPPED_MODELS)
    it(`${name}: the per-instance diff gives the coarse diff's successors and never misses`, () => {
      const m = instantiate(def, {});
      const c = instantiate(def, {}, { writeAnalysis: false });
      expect(sameExpansions(m, c, 2, 300)).toBe(true);
      expect(m.writeAnalysisMisses()).toEqual([]);
    });
});

/**
 * BFS from the initial state over up to `limit` states of `c`: m.expand
 * (appending at n0) and c.expand (from 0) give the same successors, ids and
 * return values on each. Expands m on its own pair of views.
 */
function sameExpansions(m: CompiledModel, c: CompiledModel, n0: number, limit: number): boolean {
  const L = c.layout;
  const W = L.words;
  const nI = c.instances.length;
  const views = [L.makeView(), L.makeView(), L.makeView(), L.makeView()] as const;
  const out1 = new Uint32Array((nI + n0) * W);
  const out2 = new Uint32Array(nI * W);
  const ks1 = new Uint32Array(nI + n0);
  const ks2 = new Uint32Array(nI);
  const f1 = new Int32Array(2);
  const f2 = new Int32Array(2);
  const init = new Uint32Array(W);
  expect(L.pack(c.initial(), init, 0)).toBe(-1);
  const queue = [init];
  const seen = new Set([init.join(',')]);
  for (let q = 0; q < queue.length && q < limit; q++) {
    const s = queue[q]!;
    L.unpack2(s, 0, views[0], views[1]);
    L.unpack2(s, 0, views[2], views[3]);
    const r1 = m.expand(views[0], views[1], s, 0, out1, ks1, f1, n0);
    const r2 = c.expand(views[2], views[3], s, 0, out2, ks2, f2, 0);
    if (r2 < 0) {
      expect(r1).toBe(-1);
      expect(Array.from(f1)).toEqual(Array.from(f2));
      continue;
    }
    expect(r1).toBe(n0 + r2);
    expect(Array.from(ks1.subarray(n0, n0 + r2))).toEqual(Array.from(ks2.subarray(0, r2)));
    expect(Array.from(out1.subarray(n0 * W, (n0 + r2) * W))).toEqual(Array.from(out2.subarray(0, r2 * W)));
    for (let i = 0; i < r2; i++) {
      const t = out2.slice(i * W, i * W + W);
      const k = t.join(',');
      if (!seen.has(k)) {
        seen.add(k);
        queue.push(t);
      }
    }
  }
  return true;
}
