/** Unit tests of the layout compiler, parameters and explorer corner cases. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.ts';
import { parseParamValue, resolveParams } from '../src/engine/model.ts';
import { array, bits, bool, check, cpus, defineModel, enumOf, int, machine, NONE, ref, setOf } from '../src/index.ts';

const CPU = cpus(3);
const decl = {
  a: int(-1, 5, { init: NONE }),
  flags: array(CPU, bool()),
  mode: array(CPU, enumOf(['user', 'kernel', 'nmi'] as const)),
  mask: setOf(CPU),
  owner: ref(CPU, { none: true }),
  grid: array(CPU, array(2, int(0, 1000))),
};

describe('layout', () => {
  const L = compileLayout(decl);

  it('packs into the fewest 32-bit words, keeping bit 31 of word 0 for occupancy', () => {
    const bitsNeeded = 3 + 3 * 1 + 3 * 2 + 3 + 2 + 6 * 10;
    expect(L.bitsUsed).toBe(bitsNeeded);
    expect(L.words).toBe(Math.ceil((bitsNeeded + 1) / 32));
    for (const l of L.leaves) expect(l.word === 0 ? l.shift + l.bits <= 31 : l.shift + l.bits <= 32).toBe(true);
  });

  it('round-trips every value in range (pack → unpack) and packs equal states equally', () => {
    const arb = fc.record({
      a: fc.integer({ min: -1, max: 5 }),
      flags: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      mode: fc.array(fc.constantFrom('user', 'kernel', 'nmi'), { minLength: 3, maxLength: 3 }),
      mask: fc.integer({ min: 0, max: 7 }),
      owner: fc.integer({ min: -1, max: 2 }),
      grid: fc.array(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 2 }), { minLength: 3, maxLength: 3 }),
    });
    fc.assert(
      fc.property(arb, (plain) => {
        const v = L.makeView();
        L.fromPlain(plain, v);
        const w = new Uint32Array(L.words);
        expect(L.pack(v, w, 0)).toBe(-1);
        expect(w[0]! >>> 31).toBe(1);
        const back = L.makeView();
        L.unpack(w, 0, back);
        expect(L.toPlain(back)).toEqual(plain);
        const c = L.makeView();
        L.copy(back, c);
        expect(L.toPlain(c)).toEqual(plain);
      }),
    );
  });

  it('rejects values outside the declared range, wrong types and non-integers', () => {
    const w = new Uint32Array(L.words);
    const path = (f: (v: ReturnType<typeof L.makeView>) => void) => {
      const v = L.makeView();
      f(v);
      const r = L.pack(v, w, 0);
      return r < 0 ? null : L.leaves[r]!.path;
    };
    expect(path(() => {})).toBeNull();
    expect(path((v) => (v.a = 6))).toBe('a');
    expect(path((v) => (v.a = -2))).toBe('a');
    expect(path((v) => (v.a = 1.5))).toBe('a');
    expect(path((v) => (v.grid[1]![0] = 1001))).toBe('grid[1][0]');
    expect(path((v) => ((v.flags as unknown[])[2] = 1))).toBe('flags[2]');
    expect(path((v) => ((v.mode as string[])[0] = 'guest'))).toBe('mode[0]');
    expect(path((v) => (v.mask = 8))).toBe('mask');
    expect(path((v) => (v.owner = 3))).toBe('owner');
  });

  it('hashes distinct states differently (no trivial collisions on small changes)', () => {
    const seen = new Set<number>();
    const v = L.makeView();
    const w = new Uint32Array(L.words);
    for (let x = 0; x <= 1000; x++) {
      v.grid[0]![0] = x;
      L.pack(v, w, 0);
      seen.add(L.hash(w, 0, 1));
    }
    expect(seen.size).toBe(1001);
  });
});

describe('parameters', () => {
  const def = defineModel({
    name: 'p',
    description: '',
    params: { N: { default: 2, min: 1, max: 4, doc: '' }, on: { default: false, doc: '' }, m: { default: 'a', values: ['a', 'b'], doc: '' } },
    build: () => machine({ x: int(0, 1) }, { actions: { a: { effect: () => {} } } }),
  });
  it('parses and validates', () => {
    expect(parseParamValue('on', def.params.on, 'yes')).toBe(true);
    expect(parseParamValue('on', def.params.on, 'off')).toBe(false);
    expect(() => parseParamValue('on', def.params.on, 'maybe')).toThrow(/not a boolean/);
    expect(parseParamValue('N', def.params.N, '3')).toBe(3);
    expect(() => parseParamValue('N', def.params.N, '3.5')).toThrow(/not an integer/);
    expect(resolveParams(def, { N: 4 })).toEqual({ N: 4, on: false, m: 'a' });
    expect(() => resolveParams(def, { N: 5 })).toThrow(/out of range 1\.\.4/);
    expect(() => resolveParams(def, { Q: 1 })).toThrow(/unknown parameter Q/);
  });
});

describe('explorer corner cases', () => {
  it('a model whose initial state violates an invariant fails with a 0-step trace', () => {
    const def = defineModel({
      name: 'bad-init',
      description: '',
      params: {},
      build: () => machine({ x: int(0, 3, { init: 3 }) }, { actions: { dec: { guard: (s) => s.x > 0, effect: (s) => void s.x-- } }, invariants: { small: (s) => s.x < 3 }, endState: () => true }),
    });
    const r = check(def);
    expect(r.verdict).toBe('violated');
    expect(r.violations[0]!.trace).toHaveLength(1);
  });

  it('endState turns a terminal state from a deadlock into a valid end', () => {
    const mk = (end: boolean) =>
      defineModel({
        name: 't',
        description: '',
        params: {},
        build: () => machine({ x: int(0, 3) }, { actions: { inc: { guard: (s) => s.x < 3, effect: (s) => void s.x++ } }, endState: end ? (s) => s.x === 3 : undefined }),
      });
    expect(check(mk(false)).violations[0]).toMatchObject({ kind: 'deadlock' });
    expect(check(mk(false)).violations[0]!.trace).toHaveLength(4);
    expect(check(mk(true)).verdict).toBe('holds');
  });

  it('warns about actions never enabled and vacuous invariants', () => {
    const def = defineModel({
      name: 'cov',
      description: '',
      params: {},
      build: () =>
        machine(
          { x: int(0, 3) },
          {
            actions: { inc: { guard: (s) => s.x < 3, effect: (s) => void s.x++ }, never: { guard: (s) => s.x > 5, effect: () => {} } },
            invariants: { vac: { holds: () => true, premise: (s) => s.x === 7 }, real: { holds: (s) => s.x <= 3, premise: (s) => s.x === 3 } },
            endState: () => true,
          },
        ),
    });
    const r = check(def);
    expect(r.verdict).toBe('holds');
    expect(r.warnings).toContain('action never was never enabled');
    expect(r.warnings.some((w) => /invariant vac is vacuous/.test(w))).toBe(true);
    expect(r.warnings.some((w) => /invariant real/.test(w))).toBe(false);
  });

  it('bits helpers', () => {
    expect(bits.add(0, 3)).toBe(8);
    expect(bits.has(8, 3)).toBe(true);
    expect(bits.del(8, 3)).toBe(0);
    expect(bits.count(0b1011)).toBe(3);
    expect(bits.all(3)).toBe(7);
  });
});
