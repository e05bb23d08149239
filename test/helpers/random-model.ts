/**
 * Random small guarded-command models as data (test/engine-differential.test.ts
 * generates them with fast-check): the engine's view of one (toModel, which
 * worker threads also load through a ModelSource) and a deliberately naive
 * reference explorer (JSON keys in a Map, plain BFS).
 */
import { array, bool, defineModel, int, machine, type ModelDef } from '../../src/index.ts';

// ------------------------------------------------------------ model as data
export type Expr = { k: 'const'; v: number } | { k: 'var'; i: number } | { k: 'add'; a: Expr; c: number } | { k: 'flag'; i: number };
export type Cond = { k: 'lt' | 'eq' | 'ne'; a: Expr; b: Expr } | { k: 'not'; c: Cond } | { k: 'and'; a: Cond; b: Cond } | { k: 'true' };
export type Stmt = { k: 'set'; i: number; e: Expr } | { k: 'setArg'; e: Expr } | { k: 'flip'; i: number };
export interface Act {
  arity: 0 | 1;
  guard: Cond;
  body: Stmt[];
}
export interface Spec {
  nvars: number;
  max: number;
  nflags: number;
  init: number[];
  acts: Act[];
  invs: Cond[];
}

type St = { v: number[]; f: boolean[] };

function evalE(e: Expr, s: St, spec: Spec, arg: number): number {
  switch (e.k) {
    case 'const':
      return e.v;
    case 'var':
      return s.v[e.i === -1 ? arg : e.i]!;
    case 'add':
      return (evalE(e.a, s, spec, arg) + e.c) % (spec.max + 1);
    case 'flag':
      return s.f[e.i]! ? 1 : 0;
  }
}
function evalC(c: Cond, s: St, spec: Spec, arg: number): boolean {
  switch (c.k) {
    case 'true':
      return true;
    case 'not':
      return !evalC(c.c, s, spec, arg);
    case 'and':
      return evalC(c.a, s, spec, arg) && evalC(c.b, s, spec, arg);
    case 'lt':
      return evalE(c.a, s, spec, arg) < evalE(c.b, s, spec, arg);
    case 'eq':
      return evalE(c.a, s, spec, arg) === evalE(c.b, s, spec, arg);
    case 'ne':
      return evalE(c.a, s, spec, arg) !== evalE(c.b, s, spec, arg);
  }
}
function exec(st: Stmt[], s: St, spec: Spec, arg: number): void {
  // Right-hand sides read the pre-state (as a simultaneous assignment would).
  const pre: St = { v: [...s.v], f: [...s.f] };
  for (const x of st) {
    if (x.k === 'set') s.v[x.i] = evalE(x.e, pre, spec, arg);
    else if (x.k === 'setArg') s.v[arg] = evalE(x.e, pre, spec, arg);
    else s.f[x.i] = !pre.f[x.i];
  }
}

// ------------------------------------------------------- the engine's view
export function toModel(spec: Spec): ModelDef {
  return defineModel({
    name: 'random',
    description: 'random guarded commands',
    params: {},
    build: () =>
      machine(
        { v: array(spec.nvars, int(0, spec.max)), f: array(spec.nflags, bool()) },
        {
          init: (s) => spec.init.forEach((x, i) => (s.v[i] = x)),
          actions: Object.fromEntries(
            spec.acts.map((a, n) => [
              `a${n}`,
              {
                over: a.arity ? [spec.nvars] : [],
                guard: (s: St, arg = 0) => evalC(a.guard, s, spec, arg),
                effect: (s: St, arg = 0) => exec(a.body, s, spec, arg),
              },
            ]),
          ),
          invariants: Object.fromEntries(spec.invs.map((c, n) => [`i${n}`, (s: St) => evalC(c, s, spec, 0)])),
        },
      ),
  });
}

// ------------------------------------------------- naive reference explorer
export interface RefResult {
  states: number;
  transitions: number;
  depth: number;
  firstViolation: Map<string, number>;
}
export function reference(spec: Spec): RefResult {
  const key = (s: St) => JSON.stringify(s);
  const init: St = { v: [...spec.init], f: Array(spec.nflags).fill(false) };
  const dist = new Map<string, number>([[key(init), 0]]);
  const queue: St[] = [init];
  let transitions = 0;
  let depth = 0;
  const first = new Map<string, number>();
  const note = (name: string, d: number) => {
    if (!first.has(name) || first.get(name)! > d) first.set(name, d);
  };
  for (let qi = 0; qi < queue.length; qi++) {
    const s = queue[qi]!;
    const d = dist.get(key(s))!;
    depth = Math.max(depth, d);
    spec.invs.forEach((c, n) => {
      if (!evalC(c, s, spec, 0)) note(`i${n}`, d);
    });
    let enabled = 0;
    for (const a of spec.acts) {
      for (let arg = 0; arg < (a.arity ? spec.nvars : 1); arg++) {
        if (!evalC(a.guard, s, spec, arg)) continue;
        enabled++;
        const t: St = { v: [...s.v], f: [...s.f] };
        exec(a.body, t, spec, arg);
        if (!dist.has(key(t))) {
          dist.set(key(t), d + 1);
          queue.push(t);
        }
      }
    }
    transitions += enabled;
    if (enabled === 0) note('deadlock', d);
  }
  return { states: dist.size, transitions, depth, firstViolation: first };
}

