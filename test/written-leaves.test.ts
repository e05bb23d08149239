/**
 * The static write analysis (src/engine/written-leaves.ts): which leaves an
 * action instance may write. Sound first: every leaf an effect can change
 * must be listed; listing too many only costs speed; undefined = give up.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.ts';
import { fieldDepths, leavesWritten, writePatterns, writePatternsOfSource, type WritePattern } from '../src/engine/written-leaves.ts';
import { instantiate } from '../src/engine/compile.ts';
import { array, bool, enumOf, int } from '../src/index.ts';
import { SHIPPED_MODELS } from './helpers/shipped.ts';

const layout = compileLayout({
  pte: array(2, int(0, 3)),
  tlb: array(4, array(2, int(-1, 3))),
  busy: int(-1, 3),
  pending: array(4, bool()),
  mode: array(4, enumOf(['user', 'kernel'] as const)),
  cube: array(2, array(2, array(2, bool()))),
});
const depths = fieldDepths(layout.leaves);


const show = (ps: WritePattern[] | undefined): string[] | undefined =>
  ps?.map((p) => p.field + p.index.map((x) => (x === 'any' ? '[*]' : 'lit' in x ? `[${x.lit}]` : `[#${x.arg}]`)).join('')).sort();

/** Patterns of an effect given as source text (need not even parse: TS `!`) or as a function. */
const pats = (src: string | ((...a: never[]) => unknown)) =>
  show(typeof src === 'string' ? writePatternsOfSource(src, depths) : writePatterns(src, depths));

/** Leaf paths written by the instance with these arguments. */
const written = (src: string, args: number[]): string[] | undefined => {
  const ps = writePatternsOfSource(src, depths);
  return ps && leavesWritten(ps, args, layout.leaves).map((i) => layout.leaves[i]!.path);
};

describe('write patterns: plain assignments', () => {
  it('names exactly the leaf a parameter-indexed assignment writes, not the leaves it reads', () => {
    expect(pats('(s, c, p) => { s.tlb[c][p] = s.pte[p]; }')).toEqual(['tlb[#0][#1]']);
    expect(pats('(s,c,p)=>{s.tlb[c][p]=s.pte[p]}')).toEqual(['tlb[#0][#1]']);
    expect(written('(s, c, p) => { s.tlb[c][p] = s.pte[p]; }', [2, 1])).toEqual(['tlb[2][1]']);
  });

  it('handles literals, scalars, bracket field names, optional chaining and TS non-null assertions', () => {
    expect(pats('(s, c) => { s.busy = c; s.pte[1] = 0; }')).toEqual(['busy', 'pte[1]']);
    expect(pats('(s, c) => { s["busy"] = 1; s[\'pending\'][c] = true; }')).toEqual(['busy', 'pending[#0]']);
    expect(pats('(s, c) => { s?.pending?.[c] === true; s.tlb?.[c]?.[0] = 1; }')).toEqual(['tlb[#0][0]']);
    expect(pats('(s, c, p) => { s.tlb[c]![p]! = s.pte[p]!; }')).toEqual(['tlb[#0][#1]']);
    expect(pats('(s, c) => { if (s.tlb[c]![0]! !== 1) s.busy = 2; }')).toEqual(['busy']);
  });

  it('counts every assignment operator and update as a write', () => {
    for (const op of ['=', '+=', '-=', '*=', '/=', '%=', '**=', '<<=', '>>=', '>>>=', '&=', '|=', '^=', '&&=', '||=', '??='])
      expect(pats(`(s, c) => { s.pte[c] ${op} 1; }`), op).toEqual(['pte[#0]']);
    for (const src of ['s.pte[c]++', 's.pte[c]--', '++s.pte[c]', '--s.pte[c]', 's.pte[c] ++', '++ s.pte[c]', 'delete s.pte[c]'])
      expect(pats(`(s, c) => { ${src}; }`), src).toEqual(['pte[#0]']);
  });

  it('does not mistake comparisons and arrows for assignments', () => {
    expect(pats('(s, c) => { if (s.pte[c] == 1 || s.pte[c] === 2 || s.pte[c] != 3 || s.pte[c] !== 0) s.busy = 1; }')).toEqual(['busy']);
    expect(pats('(s, c) => { s.busy = s.pte[c] <= 1 && s.pte[c] >= 0 && s.pte[c] < 3 && s.pte[c] > -1 ? 1 : 0; }')).toEqual(['busy']);
    expect(pats('(s, c) => { s.busy = s.pte[c] >> 1 | s.pte[c] << 1 ^ s.pte[c] >>> 0 & s.pte[c] % 2 ** s.pte[c]; }')).toEqual(['busy']);
    expect(pats('(s, c) => { s.busy = (s.pte[c] ?? 0) + -s.pte[c] - +s.pte[c] * s.pte[c] / 2; }')).toEqual(['busy']);
  });

  it('an expression-bodied arrow: the value is discarded, an assignment is not', () => {
    expect(pats('(s, c) => s.pte[c]')).toEqual([]);
    expect(pats('(s, c) => s.pte[c] = 1')).toEqual(['pte[#0]']);
    expect(pats('s => void (s.busy = 1)')).toEqual(['busy']);
  });

  it('reads in conditions, call arguments, indices and return values are reads', () => {
    expect(pats('(s, c) => { if (s.pending[c]) s.busy = c; while (s.pending[c]) break; switch (s.busy) { case s.pte[0]: break; } }')).toEqual([
      'busy',
    ]);
    expect(pats('(s, c) => { s.busy = Math.max(s.pte[0], s.pte[1]); f(s.pte[c]); }')).toEqual(['busy']);
    expect(pats('(s, c) => { s.tlb[c][s.busy] = s.pte[s.busy]; }')).toEqual(['tlb[#0][*]']);
    expect(pats('(s, c) => { for (let i = 0; i < s.busy; i++) s.pending[i] = false; }')).toEqual(['pending[*]']);
    expect(pats('(s, c) => { for (;; s.pte[c]) break; }')).toEqual([]);
  });
});

describe('write patterns: writes in disguise', () => {
  it('destructuring targets are writes', () => {
    expect(pats('(s, c) => { [s.pte[0], s.busy] = [1, 2]; }')).toEqual(['busy', 'pte[0]']);
    expect(pats('(s, c) => { ({ a: s.pte[c], b: s.busy } = o); }')).toEqual(['busy', 'pte[#0]']);
    expect(pats('(s, c) => { [...s.pending] = [1]; }')).toEqual(['pending']);
    expect(pats('(s, c) => { [s.pte[c] = 3] = []; }')).toEqual(['pte[#0]']);
    expect(pats('(s, c) => { for (s.busy of [1, 2]); for (s.pte[c] in o); }')).toEqual(['busy', 'pte[#0]']);
    expect(pats('(s, c) => { ({ [s.busy]: x } = o); }')).toEqual(['busy']);
  });

  it('parenthesized targets are writes', () => {
    expect(pats('(s, c) => { (s.pte[c]) = 1; }')).toEqual(['pte[#0]']);
    expect(pats('(s, c) => { ((s.busy))++; }')).toEqual(['busy']);
    expect(pats('(s, c) => { [(s.pte[c])] = [1]; }')).toEqual(['pte[#0]']);
    // `)` of an if head followed by a grouping paren/array pattern is not a call/index.
    expect(pats('(s, c) => { if (c) (s.busy) = 1; }')).toEqual(['busy']);
    expect(pats('(s, c) => { if (c) [s.busy] = [1]; }')).toEqual(['busy']);
    expect(pats('(s, c) => { return [s.busy] = [1]; }')).toEqual(['busy']);
  });

  it('a sub-array that escapes counts as all of its leaves written', () => {
    expect(pats('(s, c) => { const t = s.tlb[c]; t[0] = 1; }')).toEqual(['tlb[#0]']);
    expect(pats('(s, c) => { flushAll(s.tlb[c]); }')).toEqual(['tlb[#0]']);
    expect(pats('(s, c) => { s.tlb[c].fill(-1); s.pending.forEach((x, i) => x); }')).toEqual(['pending', 'tlb[#0]']);
    expect(pats('(s, c) => { s.cube[c][1].reverse(); }')).toEqual(['cube[#0][1]']);
    expect(pats('(s, c) => { s.tlb[c] = [0, 0]; }')).toEqual(['tlb[#0]']);
    expect(pats('(s, c) => { s.pending.length = 0; }')).toEqual(['pending']);
    expect(pats('(s, c) => { s.pending.length++; }')).toEqual(['pending']);
    expect(pats('(s, c) => { Object.assign(s.tlb, x); }')).toEqual(['tlb']);
    expect(pats('(s, c) => { s.tlb[c]["fill"](1); }')).toEqual(['tlb[#0][*]']);
    // .at() of an array of arrays returns a sub-array.
    expect(pats('(s, c) => { s.tlb.at(c)[0] = 1; }')).toEqual(['tlb']);
    expect(pats('(s, c) => { const t = s.cube[c].at(-1); t[0] = true; }')).toEqual(['cube[#0]']);
  });

  it('read-only members of a sub-array are reads', () => {
    expect(pats('(s, c) => { if (!s.pending.includes(true) && s.tlb[c].indexOf(1) < 0 && s.tlb[c]?.lastIndexOf(2) < 0) s.busy = -1; }')).toEqual(['busy']);
    expect(pats('(s, c) => { s.busy = s.tlb[c].length + s.tlb[c].at(-1) + s.pte.at(c); }')).toEqual(['busy']);
  });

  it('index expressions other than literals and unshadowed parameters are wildcards', () => {
    expect(pats('(s, c, p) => { s.tlb[c + 1][p] = 1; s.pte[(p)] = 1; s.pending[0x1] = true; s.pte[1.0] = 0; }')).toEqual([
      'pending[*]',
      'pte[*]',
      'tlb[*][#1]',
    ]);
    expect(pats('(s, c) => { s.pending[d] = true; }')).toEqual(['pending[*]']);
  });
});

describe('write patterns: a parameter that might not be the argument', () => {
  const rebinds = [
    'c = 1',
    'c += 1',
    'c++',
    '--c',
    '(c) = 1',
    '[c] = [1]',
    '[a, c] = [1, 2]',
    '({ c } = o)',
    '({ x: c } = o)',
    'for (c of [1]);',
    'for (const c of [1]) s.pte[c] = 1',
    'for (let c = 0; c < 2; c++) s.pte[c] = 1',
    'for (const [a, c] of x);',
    'for (c in o);',
    'let c = 1',
    'var c',
    'let a = 1, c = 2',
    'let a, c',
    'let { c } = o',
    'const [c] = [1]',
    'xs.forEach((c) => s.pte[c] = 1)',
    'xs.forEach(c => s.pte[c] = 1)',
    'xs.forEach(async c => s.pte[c] = 1)',
    'xs.forEach(function (a, c) { s.pte[c] = 1; })',
    'function c() {}',
    'class c {}',
    'const o = { m(c) { s.pte[c] = 1; } }',
    'try { } catch (c) { }',
    'try { } catch ({ c }) { }',
    'xs.forEach(([a, c]) => 0)',
    'xs.forEach((a = c) => 0)',
    'x = c => 1',
    'c! = 1',
    '{ let c = 1; }',
    'if (x) { const [a, c] = y; }',
  ];
  for (const r of rebinds)
    it(`\`${r}\` makes [c] a wildcard`, () => {
      const ps = pats(`(s, c) => { ${r}; s.pending[c] = true; }`);
      expect(ps === undefined || ps.includes('pending[*]')).toBe(true);
    });

  it('uses that do not rebind keep the parameter', () => {
    for (const r of ['if (d !== c) x = 1', 'x = c', 'f(c, c)', 'o.c = 1', 'o.c++', 'x = { c: 1 }', 'x = [c]', 'let a = 1; f(b, c)', 'switch (c) { }'])
      expect(pats(`(s, c) => { ${r}; s.pending[c] = true; }`), r).toEqual(['pending[#0]']);
  });
});

describe('write patterns: give up', () => {
  const giveUp = [
    '(s) => { f(s); }',
    '(s) => { const t = s; t.busy = 1; }',
    '(s) => { const { busy } = s; }',
    '(s) => { const o = { ...s }; o.tlb[0][0] = 1; }',
    '(s) => { s[k] = 1; }',
    '(s) => { s = t; }',
    '(s) => { arguments[0].busy = 1; }',
    '(s) => { eval("s.busy = 1"); }',
    '(s) => { this.busy = 1; }',
    '(s) => { new Function("x", "")(s.busy); }',
    '(s) => { s.nosuchfield = 1; }',
    '(s) => { const o = { s }; }',
    '(s) => { xs.map((s) => s.busy); }',
    '(s) => { x = `${s.busy = 1}`; }',
    '(s) => { s.busy = 1; /* comment */ }',
    '(s) => { s.busy = 1; // comment\n}',
    '(s) => { x = /re/.test(y); }',
    '(s) => { x = (a) / 2; }',
    '(s) => { \\u0073.busy = 1; }',
    '(s, c = 0) => { s.busy = c; }',
    '(s, { c }) => { s.busy = c; }',
    '(...a) => { a[0].busy = 1; }',
    '() => {}',
    '(s, s) => { s.busy = 1; }',
  ];
  for (const src of giveUp) it(src, () => expect(pats(src)).toBeUndefined());

  it('native and bound functions', () => {
    expect(pats(Math.max as never)).toBeUndefined();
    expect(pats(((s: { busy: number }) => (s.busy = 1)).bind(null) as never)).toBeUndefined();
  });

  it('strings are blanked: brackets or names inside them change nothing', () => {
    expect(pats('(s, c) => { [f("(", ")"), s.busy] = [1, 2]; }')).toEqual(['busy']);
    expect(pats('(s, c) => { s.mode[c] = "s.busy = ] ) }"; }')).toEqual(['mode[#0]']);
    expect(pats("(s, c) => { s.mode[c] = 'it\\'s = \"'; }")).toEqual(['mode[#0]']);
  });
});

describe('write patterns: function forms', () => {
  it('accepts arrows, function expressions and method shorthand', () => {
    expect(pats('s => { s.busy = 1; }')).toEqual(['busy']);
    expect(pats('function (s, c) { s.pte[c] = 1; }')).toEqual(['pte[#0]']);
    expect(pats('function eff(s, c) { s.pte[c] = 1; }')).toEqual(['pte[#0]']);
    expect(pats(({ effect(s: { pte: number[] }, c: number) { s.pte[c] = 1; } }).effect as never)).toEqual(['pte[#0]']);
  });

  it('an argument the effect names but the instance lacks matches any index', () => {
    const ps = writePatternsOfSource('(s, c, p) => { s.tlb[c][p] = 1; }', depths)!;
    expect(leavesWritten(ps, [1], layout.leaves).map((i) => layout.leaves[i]!.path)).toEqual(['tlb[1][0]', 'tlb[1][1]']);
  });

  it('compiled TypeScript (this file goes through esbuild too)', () => {
    type S = { tlb: number[][]; pte: number[]; pending: boolean[]; busy: number };
    const flushAll = (t: number[]) => t.fill(-1);
    expect(pats((s: S, c: number, p: number) => {
      s.tlb[c]![p] = s.pte[p]!;
    })).toEqual(['tlb[#0][#1]']);
    expect(pats((s: S, c: number) => {
      flushAll(s.tlb[c]!);
      s.pending[c] = false;
    })).toEqual(['pending[#0]', 'tlb[#0]']);
    expect(pats((s: S, c: number, p: number) => {
      s.pte[p]!++;
      s.busy = c;
      for (let d = 0; d < 4; d++) if (d !== c) s.pending[d] = true;
    })).toEqual(['busy', 'pending[*]', 'pte[#1]']);
  });
});

describe('write patterns: the shipped models', () => {
  // For every action instance of every shipped model, run the effect on
  // random-ish states and check each changed leaf is among the precise set.
  for (const [name, def] of SHIPPED_MODELS)
    it(`${name}: every leaf an effect changes is listed`, () => {
      const m = instantiate(def, {});
      const d = fieldDepths(m.layout.leaves);
      const init = m.initial();
      const bw = new Uint32Array(m.layout.words);
      // States reached by a short random walk from the initial state.
      const states = [init];
      let cur = init;
      let seed = 7;
      for (let step = 0; step < 200; step++) {
        const en = m.instances.filter((x) => m.enabled(cur, x.id));
        if (!en.length) break;
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        cur = m.apply(cur, en[seed % en.length]!.id);
        states.push(cur);
      }
      const pats = new Map<string, WritePattern[] | undefined>();
      for (const a of m.actionNames) pats.set(a, writePatterns(m.machine.actions[a]!.effect as never, d));
      for (const st of states)
        for (const inst of m.instances) {
          const ps = pats.get(inst.action);
          if (!ps || !m.enabled(st, inst.id)) continue;
          const allowed = new Set(leavesWritten(ps, inst.args, m.layout.leaves));
          const next = m.apply(st, inst.id);
          expect(m.layout.pack(next, bw, 0)).toBe(-1);
          m.layout.leaves.forEach((l, i) => {
            let a: unknown = st;
            let b: unknown = next;
            for (const k of [l.field, ...l.indices]) {
              a = (a as Record<string, unknown>)[k];
              b = (b as Record<string, unknown>)[k];
            }
            if (a !== b) expect(allowed.has(i), `${inst.action}(${inst.args}) changed ${l.path}`).toBe(true);
          });
        }
    });

  it('shootdown: walk(c,p) writes one leaf', () => {
    const m = instantiate(SHIPPED_MODELS.find(([n]) => n === 'shootdown')![1], { N: 4, P: 2, K: 2, VARIANT: 'async' });
    const ps = writePatterns(m.machine.actions.walk!.effect as never, fieldDepths(m.layout.leaves))!;
    expect(leavesWritten(ps, [3, 1], m.layout.leaves).map((i) => m.layout.leaves[i]!.path)).toEqual(['tlb[3][1]']);
  });
});

describe('write patterns: random effects, run', () => {
  // Random effects over the test layout, built from assignment forms,
  // destructuring, escapes, read-only members, loops, shadowing and
  // reassigned parameters. Each is run on a random state; every leaf it
  // changes (even if it then throws) must be among the predicted ones.
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return (seed >>> 8) % n;
  };
  const pick = <T,>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const idx = (): string => pick(['c', 'p', '0', '1', 'd', '(c + 1) % 2', 's.busy & 1', 'c!', 'p ']);
  const leaf = (): string =>
    pick([
      () => `s.pte[${idx()}]`,
      () => `s.tlb[${idx()}][${idx()}]`,
      () => 's.busy',
      () => `s["busy"]`,
      () => `s.pending[${idx()}]`,
      () => `s.cube[${idx()}][${idx()}][${idx()}]`,
    ])();
  const read = (): string => pick([leaf, () => `s.cube[${idx()}]?.[${idx()}]?.[${idx()}]`, () => `s?.pte?.[${idx()}]`])();
  const sub = (): string => pick(['s.tlb', `s.tlb[${idx()}]`, 's.pte', 's.pending', 's.cube', `s.cube[${idx()}]`, `s.cube[${idx()}][${idx()}]`]);
  const expr = (): string =>
    pick([
      read,
      () => String(rnd(3)),
      () => `${read()} + 1`,
      () => `(${read()} ? 1 : 0)`,
      () => `Math.max(${read()}, ${leaf()})`,
      () => `${sub()}.length`,
      () => `(${sub()}.includes(1) ? 1 : 0)`,
      () => `${sub()}.indexOf(0)`,
      () => `${leaf()} === ${leaf()} ? 2 : 0`,
    ])();
  const stmt = (depth: number): string => {
    const simple = [
      () => `${leaf()} = ${expr()};`,
      () => `${leaf()} ${pick(['+=', '-=', '|=', '||=', '&&=', '??=', '>>>=', '**='])} ${expr()};`,
      () => `${leaf()}++;`,
      () => `--${leaf()};`,
      () => `[${leaf()}, ${leaf()}] = [${expr()}, ${expr()}];`,
      () => `({ a: ${leaf()}, b: x } = { a: ${expr()}, b: 1 });`,
      () => `({ b: x, a: ${leaf()} } = { a: ${expr()}, b: 1 });`,
      () => `(${leaf()}) = ${expr()};`,
      () => `{ const t = ${sub()}; t[${idx()}] = ${expr()}; }`,
      () => `fill(${sub()});`,
      () => `${sub()}.forEach((x, i, a) => { a[i] = 1; });`,
      () => `x = ${expr()};`,
      () => `noop(${leaf()}, ${expr()});`,
      () => `for (const v of [1, 2]) ${leaf()} = v;`,
      () => `${leaf()} = 1, ${leaf()} = 2;`,
      () => `[c, p] = [p, c];`,
      () => `c = ${rnd(2)};`,
      () => `x = s.tlb.at(${idx()}); x[0] = 1;`,
      () => `if (${expr()}) ${leaf()} = 0; else x = ${leaf()};`,
    ];
    if (depth <= 0) return pick(simple)();
    return pick([
      ...simple,
      () => `if (${expr()}) { ${stmt(depth - 1)} ${stmt(depth - 1)} }`,
      () => `for (let d = 0; d < 2; d++) { ${stmt(depth - 1)} }`,
      () => `{ let c = ${rnd(2)}; ${stmt(depth - 1)} }`,
      () => `[0, 1].forEach((p) => { ${stmt(depth - 1)} });`,
      () => `(() => { ${stmt(depth - 1)} })();`,
    ])();
  };
  const fill = (a: unknown[]) => a.fill(1);
  const noop = () => {};
  const get = (v: unknown, l: (typeof layout.leaves)[number]): unknown => {
    let x = (v as Record<string, unknown>)[l.field];
    for (const i of l.indices) x = x == null ? undefined : (x as Record<number, unknown>)[i];
    return x;
  };

  it('never changes a leaf it does not predict (2000 programs)', () => {
    let predictedSome = 0;
    for (let n = 0; n < 2000; n++) {
      const body = Array.from({ length: 1 + rnd(4) }, () => stmt(2)).join(' ');
      const src = `(s, c, p) => { let d = 0, x; ${body} }`;
      const ps = writePatternsOfSource(src.replace(/!/g, ''), depths);
      expect(writePatternsOfSource(src, depths), src).toEqual(ps); // TS `!` changes nothing
      if (!ps) continue;
      predictedSome++;
      const effect = new Function('fill', 'noop', `return ${src.replace(/!/g, '')}`)(fill, noop) as (s: unknown, c: number, p: number) => void;
      for (let t = 0; t < 3; t++) {
        const v = layout.makeView() as Record<string, unknown>;
        const plain = layout.toPlain(v as never);
        (plain.pte as number[]).forEach((_, i, a) => (a[i] = rnd(3)));
        plain.busy = rnd(4);
        layout.fromPlain(plain, v as never);
        const before = layout.toPlain(v as never);
        const args = [rnd(2), rnd(2)] as const;
        try {
          effect(v, ...args);
        } catch {
          // Writes made before the throw still count.
        }
        const allowed = new Set(leavesWritten(ps, args, layout.leaves));
        layout.leaves.forEach((l, i) => {
          if (!Object.is(get(before, l), get(v, l))) expect(allowed.has(i), `${src} with c=${args[0]} p=${args[1]} changed ${l.path}`).toBe(true);
        });
      }
    }
    expect(predictedSome).toBeGreaterThan(1500);
  });
});

describe('the coarse fallback (writtenFields)', () => {
  it('names the fields an effect uses, or gives up when the view escapes', async () => {
    const { writtenFields } = await import('../src/engine/compile.ts');
    const f = (src: string) => {
      const r = writtenFields(new Function(`return ${src}`)());
      return r && [...r].sort();
    };
    expect(f('(s, c) => { s.tlb[c][0] = s.pte[c]; }')).toEqual(['pte', 'tlb']);
    expect(f('(s) => { f(s); }')).toBeUndefined();
    expect(f('(s) => { o.s = 1; s.busy = 2; }')).toEqual(['busy']);
    // A spread copy shares the view's arrays.
    expect(f('(s) => { const o = { ...s }; o.tlb[0][0] = 1; }')).toBeUndefined();
  });
});
