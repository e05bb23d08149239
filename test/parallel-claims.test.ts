/**
 * Which states of a level a participant of a multi-core run claims, and how
 * many at once (parallel-protocol.ts): each its own contiguous range first
 * (its recent-lookup filter then sees runs of consecutive states, as one
 * thread's does), then the others'; large claims at first, small ones at a
 * range's end so the level barrier stays short.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chunkFor, CHUNK, claimNext, claimSize, ctlWords, MIN_CHUNK, rangeStart, resetRanges, unclaimed } from '../src/engine/parallel-protocol.ts';

describe('claims', () => {
  it('shrink from the largest claim to the smallest as the level runs out', () => {
    const max = chunkFor(48);
    expect(max).toBe(CHUNK);
    const sizes: number[] = [];
    let cursor = 0;
    const level = 100_000;
    while (cursor < level) {
      const n = claimSize(level - cursor, 2, max);
      sizes.push(n);
      cursor += n;
    }
    expect(sizes[0]).toBe(max);
    expect(sizes.at(-1)).toBe(MIN_CHUNK);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]!).toBeLessThanOrEqual(sizes[i - 1]!);
    // A claim is at most a quarter of what is left (2 participants): the
    // last 4 × MIN_CHUNK states go in the smallest claims.
    expect(sizes.filter((n) => n === MIN_CHUNK).length).toBeGreaterThanOrEqual(4);
  });

  it('never exceed the configured largest claim (the coordinator reserves room for it), even when it is 1', () => {
    for (const max of [1, 4, 96, 500, CHUNK])
      for (const left of [-5, 0, 1, 50, 10_000, 10 ** 7]) {
        const n = claimSize(left, 3, max);
        expect(n).toBeGreaterThanOrEqual(1);
        expect(n).toBeLessThanOrEqual(max);
      }
    expect(claimSize(10 ** 7, 2, 1)).toBe(1);
  });

  it('are small while levels are small (a round\'s largest claim is its level\'s first), so little headroom is reserved for them', () => {
    expect(claimSize(1, 2, CHUNK)).toBe(MIN_CHUNK);
    expect(claimSize(10_000, 2, CHUNK)).toBe(2500);
    expect(claimSize(10 ** 6, 2, CHUNK)).toBe(CHUNK);
    expect(claimSize(10 ** 6, 2, 1)).toBe(1);
  });

  it('scale the largest claim down for models with many action instances (bounded headroom)', () => {
    expect(chunkFor(1)).toBe(CHUNK);
    expect(chunkFor(256)).toBe(1536);
    expect(chunkFor(100_000)).toBe(MIN_CHUNK);
  });
});

describe('ranges', () => {
  /** Claims in the order `turns` gives (participant indices, cycled); only `present` participants claim. */
  const play = (n: number, parts: number, maxClaim: number, turns: number[], present: boolean[]) => {
    const ctrl = new Int32Array(ctlWords(parts));
    resetRanges(ctrl, n, parts);
    const span = new Int32Array(2);
    const claims: { p: number; s0: number; s1: number; left: number }[] = [];
    const done = new Set<number>();
    const active = present.flatMap((on, p) => (on ? [p] : []));
    for (let t = 0; done.size < active.length; t++) {
      // The turn's participant, or the next one still claiming.
      let k = turns[t % turns.length]! % active.length;
      while (done.has(active[k]!)) k = (k + 1) % active.length;
      const p = active[k]!;
      const left = unclaimed(ctrl, n, parts);
      if (claimNext(ctrl, p, parts, n, maxClaim, span)) claims.push({ p, s0: span[0]!, s1: span[1]!, left });
      else done.add(p);
    }
    return { claims, left: unclaimed(ctrl, n, parts) };
  };

  it('hand out every state of the level exactly once, each claim inside one range, in any interleaving and with participants missing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.nat(20), { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        (n, parts, maxClaim, turns, on) => {
          const present = on.slice(0, parts);
          if (!present.some(Boolean)) present[0] = true;
          const { claims, left } = play(n, parts, maxClaim, turns, present);
          expect(left).toBe(0);
          const seen = new Uint8Array(n);
          for (const c of claims) {
            expect(c.s1).toBeGreaterThan(c.s0);
            expect(c.s1 - c.s0).toBeLessThanOrEqual(maxClaim);
            const q = Array.from({ length: parts }, (_, k) => k).find((k) => c.s0 >= rangeStart(k, n, parts) && c.s0 < rangeStart(k + 1, n, parts))!;
            expect(c.s1).toBeLessThanOrEqual(rangeStart(q + 1, n, parts));
            for (let i = c.s0; i < c.s1; i++) seen[i]!++;
          }
          expect(seen.every((x) => x === 1)).toBe(true);
        },
      ),
    );
  });

  it("give each participant its own range first, front to back, and only then the others'", () => {
    const n = 100_000;
    const { claims } = play(n, 2, CHUNK, [0, 1], [true, true]);
    for (const p of [0, 1]) {
      const mine = claims.filter((c) => c.p === p);
      // Turns alternate, the ranges are equal: nobody steals.
      expect(mine[0]!.s0).toBe(rangeStart(p, n, 2));
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.s0).toBe(mine[i - 1]!.s1);
      expect(mine.at(-1)!.s1).toBe(rangeStart(p + 1, n, 2));
    }
  });

  it('let a participant that is alone (the others not started yet) take the whole level, range after range', () => {
    const n = 50_000;
    const { claims } = play(n, 3, CHUNK, [0], [false, true, false]);
    expect(claims.map((c) => c.s0)[0]).toBe(rangeStart(1, n, 3));
    const order = claims.map((c) => Array.from({ length: 3 }, (_, k) => k).find((k) => c.s0 < rangeStart(k + 1, n, 3)));
    expect([...new Set(order)]).toEqual([1, 2, 0]);
    expect(claims.reduce((a, c) => a + c.s1 - c.s0, 0)).toBe(n);
  });
});
