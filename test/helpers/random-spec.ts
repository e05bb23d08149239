/** fast-check arbitrary for the random guarded-command models of random-model.ts. */
import fc from 'fast-check';
import type { Cond, Expr, Spec, Stmt } from './random-model.ts';

export const specArb: fc.Arbitrary<Spec> = fc
  .record({ nvars: fc.integer({ min: 1, max: 4 }), max: fc.integer({ min: 1, max: 5 }), nflags: fc.integer({ min: 1, max: 3 }) })
  .chain(({ nvars, max, nflags }) => {
    const expr: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
      e: fc.oneof(
        { depthSize: 'small' },
        fc.record({ k: fc.constant('const' as const), v: fc.integer({ min: 0, max }) }),
        fc.record({ k: fc.constant('var' as const), i: fc.integer({ min: -1, max: nvars - 1 }) }),
        fc.record({ k: fc.constant('flag' as const), i: fc.integer({ min: 0, max: nflags - 1 }) }),
        fc.record({ k: fc.constant('add' as const), a: tie('e'), c: fc.integer({ min: 1, max }) }),
      ),
    })).e;
    const atom: fc.Arbitrary<Cond> = fc.record({ k: fc.constantFrom('lt' as const, 'eq' as const, 'ne' as const), a: expr, b: expr });
    const cond: fc.Arbitrary<Cond> = fc.oneof(
      atom,
      fc.constant({ k: 'true' as const }),
      fc.record({ k: fc.constant('not' as const), c: atom }),
      fc.record({ k: fc.constant('and' as const), a: atom, b: atom }),
    );
    const stmt: fc.Arbitrary<Stmt> = fc.oneof(
      fc.record({ k: fc.constant('set' as const), i: fc.integer({ min: 0, max: nvars - 1 }), e: expr }),
      fc.record({ k: fc.constant('setArg' as const), e: expr }),
      fc.record({ k: fc.constant('flip' as const), i: fc.integer({ min: 0, max: nflags - 1 }) }),
    );
    return fc.record({
      nvars: fc.constant(nvars),
      max: fc.constant(max),
      nflags: fc.constant(nflags),
      init: fc.array(fc.integer({ min: 0, max }), { minLength: nvars, maxLength: nvars }),
      acts: fc.array(fc.record({ arity: fc.constantFrom(0 as const, 1 as const), guard: cond, body: fc.array(stmt, { minLength: 1, maxLength: 3 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
      invs: fc.array(fc.oneof(atom, fc.record({ k: fc.constant('not' as const), c: fc.record({ k: fc.constant('and' as const), a: atom, b: atom }) })), {
        minLength: 0,
        maxLength: 2,
      }),
    });
  });
