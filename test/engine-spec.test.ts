/**
 * The reference table of ../shared/bench/shootdown-spec.md, every row, both
 * variants: states, transitions, depth and verdict must equal the counts three
 * independent implementations agree on; and the NMI race's shortest trace.
 */
import { describe, expect, it } from 'vitest';
import shootdown from '../models/bench/shootdown.ts';
import { check } from '../src/index.ts';
import { SPEC_TABLE as TABLE } from './helpers/shipped.ts';


describe('shootdown benchmark model reproduces the spec table', () => {
  for (const [N, P, K, VARIANT, states, transitions, depth] of TABLE) {
    it(`N=${N} P=${P} K=${K} ${VARIANT}: ${states} states, ${transitions} transitions, depth ${depth}, holds`, () => {
      const r = check(shootdown, { N, P, K, VARIANT, NMI: 0 });
      expect({ states: r.states, transitions: r.transitions, depth: r.depth, verdict: r.verdict }).toEqual({
        states,
        transitions,
        depth,
        verdict: 'holds',
      });
    });
  }

  it('the first benchmark configuration (N=5 P=2 K=1 sync) matches too', () => {
    const r = check(shootdown, { N: 5, P: 2, K: 1, VARIANT: 'sync' });
    expect([r.states, r.transitions, r.verdict]).toEqual([804096, 10641920, 'holds']);
  });

  it('NMI changes the verdict but not the reachable set (full run with --all)', () => {
    const r = check(shootdown, { N: 3, P: 2, K: 1, VARIANT: 'async', NMI: 1 }, { all: true });
    expect(r.verdict).toBe('violated');
    expect(r.states).toBe(23896);
    expect(r.transitions).toBe(206016);
  });
});

describe('the async NMI race', () => {
  for (const N of [2, 3]) {
    it(`N=${N}: shortest counterexample has N+2 = ${N + 2} steps`, () => {
      const r = check(shootdown, { N, P: 1, K: 1, VARIANT: 'async', NMI: 1 });
      expect(r.verdict).toBe('violated');
      const v = r.violations[0]!;
      expect(v.invariant).toBe('no-stale-access');
      const steps = v.trace.slice(1);
      expect(steps).toHaveLength(N + 2);
      // walk(x,0), start(f,0), ack(d) for every d != f, finish(f) — up to CPU labelling.
      expect(steps[0]!.action).toBe('walk');
      expect(steps[1]!.action).toBe('start');
      const flusher = steps[1]!.args[0]!;
      const acks = steps.slice(2, N + 1);
      expect(acks.every((s) => s.action === 'ack')).toBe(true);
      expect(new Set(acks.map((s) => s.args[0])).size).toBe(N - 1);
      expect(acks.some((s) => s.args[0] === flusher)).toBe(false);
      expect(steps[N + 1]!).toMatchObject({ action: 'finish', args: [flusher] });
      expect(steps[0]!.args[0]).not.toBe(flusher);
    });
  }

  it('holds for async without NMI and for sync', () => {
    expect(check(shootdown, { N: 3, P: 1, K: 2, VARIANT: 'async', NMI: 0 }).verdict).toBe('holds');
    expect(check(shootdown, { N: 3, P: 1, K: 2, VARIANT: 'sync', NMI: 0 }).verdict).toBe('holds');
  });
});
