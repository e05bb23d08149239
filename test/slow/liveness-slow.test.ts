/**
 * Liveness rows too big for the expect tables that every `npm test` and
 * `tlbcheck ci` runs.
 */
import { describe, expect, it } from 'vitest';
import pti from '../../models/pti-deferred.ts';
import { check } from '../../src/engine/check.js';

describe('pti-deferred: waitIrqsOff', () => {
  it('two CPUs that flush at once and wait for each other with IRQs off: no flush returns (a lasso stuck in the last state)', () => {
    const r = check(pti, { N: 2, OPS: 2, waitIrqsOff: true }, { liveness: true, all: true });
    expect(r.verdict).toBe('violated');
    const v = r.violations.filter((x) => x.kind === 'liveness');
    expect(v.map((x) => x.invariant)).toEqual(['flush-returns(0)', 'flush-returns(1)']);
    // Stuck: the loop is the last state itself.
    for (const x of v) expect(x.loopStart).toBe(x.trace.length - 1);
    expect(r.liveness?.states).toBe(2_921_660);
  });
});
