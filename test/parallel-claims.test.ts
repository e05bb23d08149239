/**
 * How much of a level a participant of a multi-core run claims at once
 * (parallel-protocol.ts): large claims at a level's start keep siblings on one
 * participant (its recent-lookup filter then still catches their shared
 * successors), small ones at the end keep the level barrier short.
 */
import { describe, expect, it } from 'vitest';
import { chunkFor, CHUNK, claimSize, MIN_CHUNK } from '../src/engine/parallel-protocol.ts';

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
