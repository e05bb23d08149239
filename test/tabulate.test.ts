/**
 * The tabulated successor function and invariants (src/engine/tabulate.ts)
 * against the view path they stand in for: the same state spaces, verdicts and shortest traces
 * on random models, on every shipped model and on the spec's rows; the same
 * errors where a model throws or writes out of range; and the cases where a
 * model cannot be tabulated (it keeps the view path and says why) or is
 * caught depending on more than the state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCompiled, type CheckResult } from '../src/engine/check.ts';
import { explore } from '../src/engine/explore.ts';
import { instantiate } from '../src/engine/compile.ts';
import { array, bool, cpus, defineModel, enumOf, int, machine, NONE, ref, setOf, type ModelDef } from '../src/index.ts';
import { errorOf, oneAction } from './helpers/small-models.ts';
import { SHIPPED_MODELS, SPEC_TABLE } from './helpers/shipped.ts';
import { reference, toModel } from './helpers/random-model.ts';
import { specArb } from './helpers/random-spec.ts';
import shootdown from '../models/bench/shootdown.ts';

const TABLES = { tabulateAfter: 0 };
const VIEWS = { tabulateAfter: Infinity };

/** Counts, verdict and every violation's whole trace (actions and arguments). */
const summary = (r: CheckResult) => [r.states, r.transitions, r.depth, r.verdict, r.violations.map((v) => [v.invariant, v.trace.map((s) => `${s.action}(${s.args.join(",")})`)])];

/** The same run with the tables from the first state and with the views only. */
function both(def: ModelDef, params: Record<string, never> = {}, opts: { all?: boolean } = { all: true }) {
  const m = instantiate(def, params);
  const t = checkCompiled(m, { ...opts, ...TABLES });
  const v = checkCompiled(instantiate(def, params), { ...opts, ...VIEWS });
  return { m, t, v };
}

describe('tabulated successors equal the view path', () => {
  it('on random models (the same counts, depth, verdicts and traces as the views and the naive reference)', () => {
    let tabulated = 0;
    let runs = 0;
    fc.assert(
      fc.property(specArb, (spec) => {
        const ref = reference(spec);
        const { m, t, v } = both(toModel(spec));
        expect(summary(t)).toEqual(summary(v));
        expect([t.states, t.transitions, t.depth]).toEqual([ref.states, ref.transitions, ref.depth]);
        expect(m.tabulationMisses()).toEqual([]);
        expect(m.invariantTabulationMisses()).toEqual([]);
        // Their invariants read one or two variables: always small trees.
        expect(m.invariantTabulation()).toBe('tabulated');
        runs++;
        if (m.tabulation() === 'tabulated') tabulated++;
        // The model's effects copy the whole pre-state first, so all of its
        // leaves are read: past 4 variables of 6 values that is too big a tree.
        else expect(m.tabulation()).toMatch(/past the size budget/);
      }),
      { numRuns: 200 },
    );
    expect(tabulated).toBeGreaterThan(runs * 0.8);
  });

  for (const [name, def] of SHIPPED_MODELS)
    it(`${name}: the same run with and without the tables`, () => {
      const { m, t, v } = both(def);
      expect(summary(t)).toEqual(summary(v));
      expect(m.tabulationMisses()).toEqual([]);
      expect(m.tabulation()).not.toBe('not tried');
      // The shipped invariants (ghost latches, the benchmark's per-CPU-page form) all tabulate.
      expect(m.invariantTabulationMisses()).toEqual([]);
      expect(m.invariantTabulation()).toBe('tabulated');
    });

  it('the benchmark model is tabulated, and the spec rows come out exact', () => {
    for (const [N, P, K, VARIANT, states, transitions, depth] of SPEC_TABLE.filter((r) => r[4] > 1000)) {
      const m = instantiate(shootdown as ModelDef, { N, P, K, VARIANT });
      const r = checkCompiled(m, TABLES);
      expect([r.states, r.transitions, r.depth, r.verdict], `${N},${P},${K},${VARIANT}`).toEqual([states, transitions, depth, 'holds']);
      expect(m.tabulation()).toBe('tabulated');
    }
    const nmi = both(shootdown as ModelDef, { N: 3, P: 1, K: 1, VARIANT: 'async', NMI: 1 } as never, {});
    expect(nmi.t.verdict).toBe('violated');
    expect(summary(nmi.t)).toEqual(summary(nmi.v));
  });

  it('every leaf kind: enums, bools, CPU sets, refs, ints with a negative low bound', () => {
    const def = defineModel({
      name: 'kinds',
      description: 'one field of each kind, read and written by guards and effects',
      params: {},
      build: () => {
        const CPU = cpus(3);
        return machine(
          {
            mode: array(CPU, enumOf(['idle', 'run', 'flush'])),
            on: array(CPU, bool()),
            mask: setOf(CPU),
            owner: ref(CPU, { none: true }),
            d: int(-2, 2),
          },
          {
            actions: {
              go: { over: [CPU], guard: (s, c) => s.mode[c] === 'idle' && s.owner === NONE, effect: (s, c) => void ((s.mode[c] = 'run'), (s.owner = c), (s.mask |= 1 << c)) },
              flush: { over: [CPU], guard: (s, c) => s.mode[c] === 'run', effect: (s, c) => void ((s.mode[c] = 'flush'), (s.on[c] = !s.on[c]), (s.d = s.d > -2 ? s.d - 1 : 2)) },
              done: {
                over: [CPU],
                guard: (s, c) => s.mode[c] === 'flush' && (s.mask & (1 << c)) !== 0,
                effect: (s, c) => void ((s.mode[c] = 'idle'), (s.owner = NONE), (s.mask &= ~(1 << c))),
              },
              all: { guard: (s) => s.on.every((x) => x), effect: (s) => s.on.fill(false) },
            },
            invariants: { 'd-in-range': (s) => s.d >= -2 && s.d <= 2 },
          },
        ) as never;
      },
    }) as ModelDef;
    const { m, t, v } = both(def);
    expect(m.tabulation()).toBe('tabulated');
    expect(t.states).toBeGreaterThan(50);
    expect(summary(t)).toEqual(summary(v));
  });
});


describe('what the tables leave to the views', () => {
  it('an effect that throws on some states: the same error, from the view path', () => {
    const def = oneAction({ guard: (s: { x: number[] }, i: number) => s.x[i]! < 3, effect: (s: { x: number[] }, i: number) => {
      if (s.x[i] === 2 && i === 1) throw new Error('boom');
      s.x[i]!++;
    } });
    const tables = instantiate(def);
    const msg = errorOf(tables, TABLES);
    expect(msg).toMatch(/effect of step\(1\) threw boom; state: \{"x":\[\d,2\]\}/);
    expect(msg).toBe(errorOf(instantiate(def), VIEWS));
    expect(tables.tabulation()).toBe('tabulated');
  });

  it('an out-of-range write: the same range error, from the view path', () => {
    const def = oneAction({ effect: (s: { x: number[] }, i: number) => void (s.x[i] = s.x[i]! + 1) });
    const msg = errorOf(instantiate(def), TABLES);
    expect(msg).toMatch(/action step\(\d\) wrote x\[\d\] = 4, outside its declared range/);
    expect(msg).toBe(errorOf(instantiate(def), VIEWS));
  });

  const untabulated: [string, Record<string, unknown>, RegExp][] = [
    ['a guard that writes', { guard: (s: { x: number[] }, i: number) => ((s.x[1 - i] = s.x[1 - i]!), s.x[i]! < 3), effect: (s: { x: number[] }, i: number) => void s.x[i]!++ }, /a guard wrote the state/],
    ['an effect that replaces an array', { guard: (s: { x: number[] }, i: number) => s.x[i]! < 3, effect: (s: { x: number[] }) => void ((s as { x: number[] }).x = [1, 1]) }, /replaced a field of the state \(x\)/],
    ['an effect that extends an array', { guard: (s: { x: number[] }) => s.x.length === 2, effect: (s: { x: number[] }) => void s.x.push(0) }, /replaced or extended an array of the state/],
  ];
  for (const [what, act, reason] of untabulated)
    it(`${what}: the model keeps the view path and says why`, () => {
      const m = instantiate(oneAction(act));
      try {
        checkCompiled(m, TABLES);
      } catch {
        // the view path reports these as it always did
      }
      expect(m.tabulation()).toMatch(reason);
    });

  it('a view kept from an earlier call and used later: the model keeps the view path', () => {
    let kept: number[] | undefined;
    const def = defineModel({
      name: 'kept',
      description: 'keeps a reference to the state',
      params: {},
      build: () =>
        machine({ x: array(2, int(0, 3)) }, {
          actions: {
            grab: { effect: (s) => void (kept = s.x) },
            inc: { over: [2], guard: (s, i) => s.x[i]! < 3, effect: (s, i) => void ((s.x[i] = s.x[i]! + 1), kept && (kept[1 - i] = 0)) },
          },
        }) as never,
    }) as ModelDef;
    const m = instantiate(def);
    const t = checkCompiled(m, TABLES);
    expect(m.tabulation()).toMatch(/used after the call that received it/);
    expect(summary(t)).toEqual(summary(checkCompiled(instantiate(def), VIEWS)));
  });

  it('a decision tree past the size budget: the model keeps the view path', () => {
    // The guard reads 8 leaves of 16 values each before deciding.
    const def = oneAction({ guard: (s: { x: number[] }) => s.x.reduce((a, b) => a + b, 0) % 7 === 3, effect: (s: { x: number[] }, i: number) => void (s.x[i] = 0) }, { x: array(8, int(0, 15)) });
    const m = instantiate(def);
    checkCompiled(m, { ...TABLES, maxStates: 100 });
    expect(m.tabulation()).toMatch(/past the size budget/);
  });

  it('an action that depends on more than the state is caught by the cross-check, with a warning', () => {
    let phase = 'a';
    const def = oneAction({
      guard: (s: { x: number[] }, i: number) => s.x[i]! < 3,
      effect: (s: { x: number[] }, i: number) => void (s.x[i] = phase === 'a' ? s.x[i]! + 1 : 3),
    });
    const m = instantiate(def);
    expect(m.tabulated()).toBeDefined();
    phase = 'b';
    const r = checkCompiled(m, TABLES);
    expect(m.tabulationMisses()).toEqual(['{"x":[0,0]}']);
    expect(r.warnings.some((w) => /tabulated successors disagreed with the guards and effects on state \{"x":\[0,0\]\}/.test(w))).toBe(true);
    // From there on the views decide: x jumps to 3.
    expect(r.states).toBe(4);
  });

  it('a model over a small node budget is tried again with a larger one; other reasons are final', () => {
    const m = instantiate(shootdown as ModelDef, { N: 3, P: 2, K: 1 });
    expect(m.tabulated(20)).toBeUndefined();
    expect(m.tabulation()).toMatch(/past the size budget/);
    expect(m.tabulated(20)).toBeUndefined();
    expect(m.tabulated()).toBeDefined();
    expect(m.tabulation()).toBe('tabulated');
    const w = instantiate(oneAction({ guard: (s: { x: number[] }, i: number) => ((s.x[i] = 0), true), effect: () => {} }));
    expect(w.tabulated(20)).toBeUndefined();
    expect(w.tabulated()).toBeUndefined();
    expect(w.tabulation()).toMatch(/a guard wrote the state/);
  });

  it('runs shorter than the threshold never build the tables', () => {
    const m = instantiate(shootdown as ModelDef, { N: 2, P: 1, K: 1 });
    checkCompiled(m);
    expect(m.tabulation()).toBe('not tried');
    const off = instantiate(shootdown as ModelDef, { N: 3, P: 2, K: 2, VARIANT: 'async' }, { tabulate: false });
    expect(checkCompiled(off, TABLES).states).toBe(92064);
    expect(off.tabulation()).toBe('disabled');
  });
});

/** x: 0..3 per CPU (2 CPUs), each CPU counts up and may reset; `invariants` over that state. */
const counters = (invariants: Record<string, unknown>, N = 2): ModelDef =>
  defineModel({
    name: 'counters',
    description: 'per-CPU counters',
    params: {},
    build: () => {
      const CPU = cpus(N);
      return machine({ x: array(CPU, int(0, 3)), owner: ref(CPU, { none: true }) }, {
        actions: {
          inc: { over: [CPU], guard: (s, c) => s.x[c]! < 3, effect: (s, c) => void (s.x[c] = s.x[c]! + 1) },
          reset: { over: [CPU], guard: (s, c) => s.x[c] === 3, effect: (s, c) => void ((s.x[c] = 0), (s.owner = c)) },
        },
        invariants: invariants as never,
      }) as never;
    },
  }) as ModelDef;

describe('tabulated invariants', () => {
  it('an invariant stated `over` CPUs: the same verdicts and shortest traces as its whole-state form, and the explanation names the failing case', () => {
    const perCase = counters({ 'below-3': { over: [cpus(2)], holds: (s: { x: number[] }, c: number) => s.x[c]! < 3, explain: (s: { x: number[] }, c: number) => `x[${c}] reached ${s.x[c]}` } });
    const whole = counters({ 'below-3': (s: { x: number[] }) => s.x.every((x) => x < 3) });
    const a = both(perCase);
    const b = both(whole);
    expect(a.m.invariantTabulation()).toBe('tabulated');
    // (The cross-check would hide a wrong table from the verdict, not from this.)
    expect(a.m.invariantTabulationMisses()).toEqual([]);
    expect(summary(a.t)).toEqual(summary(a.v));
    expect(summary(a.t)).toEqual(summary(b.t));
    expect(a.t.verdict).toBe('violated');
    expect(a.t.violations[0]!.reason).toMatch(/^x\[\d\] reached 3$/);
  });

  it('every case is checked: a violation only in the last case is found', () => {
    const def = counters({ 'cpu2-below-3': { over: [cpus(3)], holds: (s: { x: number[] }, c: number) => c !== 2 || s.x[c]! < 3 } }, 3);
    const { m, t, v } = both(def);
    expect(m.invariantTabulation()).toBe('tabulated');
    expect(m.invariantTabulationMisses()).toEqual([]);
    expect(t.verdict).toBe('violated');
    expect(t.violations[0]!.trace.map((x) => x.action)).toEqual(['init', 'inc', 'inc', 'inc']);
    expect(summary(t)).toEqual(summary(v));
  });

  it('premises: the same counts as on the views, so the same vacuity warnings', () => {
    const def = counters({
      reached: { holds: () => true, premise: (s: { x: number[] }) => s.x[0] === 3 },
      never: { holds: () => true, premise: (s: { x: number[] }) => s.x[0] === 3 && s.x[1] === 4 },
      plain: (s: { x: number[] }) => s.x.length === 2,
    });
    const t = explore(instantiate(def), TABLES);
    const v = explore(instantiate(def), VIEWS);
    expect(t.premiseCounts).toEqual(v.premiseCounts);
    expect(t.premiseCounts).toEqual([4 * 3, 0, -1]);
    const r = checkCompiled(instantiate(def), TABLES);
    expect(r.warnings.filter((w) => /vacuous/.test(w))).toEqual([expect.stringMatching(/invariant never is vacuous/)]);
  });

  it('an invariant that throws on some states: the same error, from the view path', () => {
    const def = counters({ picky: (s: { x: number[] }) => {
      if (s.x[0] === 2 && s.x[1] === 1) throw new Error('unexpected state');
      return true;
    } });
    const tables = instantiate(def);
    const msg = errorOf(tables, TABLES);
    expect(msg).toMatch(/invariant picky threw unexpected state; state: \{"x":\[2,1\],"owner":/);
    expect(msg).toBe(errorOf(instantiate(def), VIEWS));
    expect(tables.invariantTabulation()).toBe('tabulated');
  });

  it('a whole-state invariant past the size budget is checked on the views, with the same result', () => {
    const def = counters({ sum: (s: { x: number[] }) => s.x.reduce((a, b) => a + b, 0) <= 12 }, 6);
    const { m, t, v } = both(def);
    expect(m.invariantTabulation()).toMatch(/decision tree of invariant sum is past the size budget/);
    expect(m.tabulation()).toBe('tabulated');
    expect(summary(t)).toEqual(summary(v));
    expect(t.states).toBe(4 ** 6 * 7);
  });

  it('an invariant that depends on more than the state is caught by the cross-check, with a warning', () => {
    let strict = false;
    const def = counters({ loose: (s: { x: number[] }) => !strict || s.x[0]! < 3 });
    const m = instantiate(def);
    expect(m.tabulatedInvariants()).toBeDefined();
    strict = true;
    const r = checkCompiled(m, TABLES);
    expect(m.invariantTabulationMisses().length).toBe(1);
    expect(r.warnings.some((w) => /tabulated invariants disagreed with the invariants' own checks on state/.test(w))).toBe(true);
    // From there on the views decide, so the violation is still found.
    expect(r.verdict).toBe('violated');
  });

  it('an invariant over an empty range is a model error', () => {
    const def = counters({ empty: { over: [0], holds: () => true } });
    expect(() => instantiate(def)).toThrow(/invariant empty ranges over an empty set/);
  });
});
