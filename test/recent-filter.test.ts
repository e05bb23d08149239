/**
 * The recent-lookup filter in front of the visited set (src/engine/recent-filter.ts):
 * it may only ever call a state a duplicate if that exact state was handed to
 * it before (and so was, or is about to be, looked up in the visited set).
 * Whole explorations with the filter in place are compared with a naive
 * explorer in engine-differential.test.ts and with the spec's counts in
 * engine-spec.test.ts; here the filter alone.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createRecentFilter, filterBytesWithin, RECENT_FILTER_BYTES, RECENT_FILTER_MAX_BYTES, recentFilterBytesFor, STATE_BYTES_BUDGET } from '../src/engine/recent-filter.ts';

/** Packed states have bit 31 of word 0 set (layout.ts): the filter uses 0 as empty. */
const packed = (words: number[]): number[] => [(words[0]! | 0x80000000) >>> 0, ...words.slice(1)];

function run(W: number, bytes: number, batches: number[][][], hashOf: (s: number[]) => number) {
  const f = createRecentFilter(W, bytes);
  const seen = new Set<string>();
  for (const [b, batch] of batches.entries()) {
    // Resized now and then, as the explorer does while the table grows (and,
    // within its bytes/state budget, back down).
    if (b % 3 === 2) f.resize(f.bytes() * 2);
    if (b % 7 === 6) f.resize(f.bytes() / 4);
    const n = batch.length;
    const out = new Uint32Array(Math.max(1, n) * W);
    const hs = new Uint32Array(Math.max(1, n));
    batch.forEach((s, i) => {
      out.set(s, i * W);
      hs[i] = hashOf(s);
    });
    const dup = new Uint8Array(Math.max(1, n));
    const miss = new Uint32Array(Math.max(1, n));
    const m = f.filter(out, hs, n, dup, miss);
    const expectMiss: number[] = [];
    batch.forEach((s, i) => {
      const key = s.join(',');
      // Never a false "duplicate".
      if (dup[i] === 1) expect(seen.has(key)).toBe(true);
      else expectMiss.push(hs[i]!);
      seen.add(key);
    });
    expect(Array.from(miss.subarray(0, m))).toEqual(expectMiss);
  }
}

describe('recent filter', () => {
  it('drops a state seen in this batch or an earlier one, keeps the misses in order', () => {
    const f = createRecentFilter(2);
    const a = packed([1, 2]);
    const b = packed([3, 4]);
    const out = new Uint32Array([...a, ...b, ...a]);
    const hs = new Uint32Array([7, 9, 7]);
    const dup = new Uint8Array(3);
    const miss = new Uint32Array(3);
    expect(f.filter(out, hs, 3, dup, miss)).toBe(2);
    expect(Array.from(dup)).toEqual([0, 0, 1]);
    expect(Array.from(miss.subarray(0, 2))).toEqual([7, 9]);
    // Next batch: b again is a duplicate.
    expect(f.filter(new Uint32Array(b), new Uint32Array([9]), 1, dup, miss)).toBe(0);
    expect(dup[0]).toBe(1);
    // After clear() nothing is known.
    f.clear();
    expect(f.filter(new Uint32Array(b), new Uint32Array([9]), 1, dup, miss)).toBe(1);
    expect(dup[0]).toBe(0);
  });

  it('a state that shares a slot but differs in any word is not a duplicate', () => {
    const f = createRecentFilter(3);
    const dup = new Uint8Array(1);
    const miss = new Uint32Array(1);
    f.filter(new Uint32Array(packed([1, 2, 3])), new Uint32Array([5]), 1, dup, miss);
    for (const other of [packed([1, 2, 4]), packed([1, 9, 3]), packed([0x11, 2, 3])]) {
      expect(f.filter(new Uint32Array(other), new Uint32Array([5]), 1, dup, miss)).toBe(1);
      expect(dup[0]).toBe(0);
      // ...and it took the slot over.
      expect(f.filter(new Uint32Array(other), new Uint32Array([5]), 1, dup, miss)).toBe(0);
    }
  });

  it('sizes itself from the byte budget', () => {
    expect(createRecentFilter(2, 1 << 16).bytes()).toBeLessThanOrEqual(1 << 16);
    expect(createRecentFilter(2, 1 << 16).bytes()).toBeGreaterThan(1 << 15);
    expect(createRecentFilter(5, 1 << 16).bytes() % (5 * 4)).toBe(0);
  });

  it('resizes both ways, starts empty at a new size and keeps its entries at the same one', () => {
    const f = createRecentFilter(2, 1 << 12);
    const dup = new Uint8Array(1);
    const miss = new Uint32Array(1);
    const a = new Uint32Array(packed([1, 2]));
    const h = new Uint32Array([0x12345]);
    f.filter(a, h, 1, dup, miss);
    expect(f.filter(a, h, 1, dup, miss)).toBe(0);
    // The same size: the entry is still there.
    expect(f.resize(f.bytes())).toBe(1 << 12);
    expect(f.filter(a, h, 1, dup, miss)).toBe(0);
    const grown = f.resize(1 << 16);
    expect(grown).toBeGreaterThan(1 << 12);
    expect(grown).toBeLessThanOrEqual(1 << 16);
    expect(f.filter(a, h, 1, dup, miss)).toBe(1);
    expect(dup[0]).toBe(0);
    expect(f.filter(a, h, 1, dup, miss)).toBe(0);
    const shrunk = f.resize(1 << 10);
    expect(shrunk).toBeLessThanOrEqual(1 << 10);
    expect(f.bytes()).toBe(shrunk);
    expect(f.filter(a, h, 1, dup, miss)).toBe(1);
    expect(f.filter(a, h, 1, dup, miss)).toBe(0);
  });

  it("one thread's size: a sixteenth of the visited set, up to a quarter only within the bytes/state budget", () => {
    const MiB = 2 ** 20;
    // 128 MiB holding 9.6 M states (N=6 P=2 K=1 sync): a quarter, 32 MiB, the cap.
    expect(filterBytesWithin(128 * MiB, MiB, 9_616_384)).toBe(RECENT_FILTER_MAX_BYTES);
    expect(RECENT_FILTER_MAX_BYTES).toBe(32 * MiB);
    // Right after the set doubled, with few states: only the sixteenth.
    expect(filterBytesWithin(128 * MiB, MiB, 4_000_000)).toBe(recentFilterBytesFor(128 * MiB));
    expect(filterBytesWithin(0, 0, 0)).toBe(RECENT_FILTER_BYTES);
    // 32 MiB and a budget of exactly 36 MiB: 4 MiB fits, 8 MiB (the quarter) does not.
    expect(filterBytesWithin(32 * MiB, 0, (36 * MiB) / STATE_BYTES_BUDGET)).toBe(4 * MiB);
    expect(filterBytesWithin(32 * MiB, 0, (40 * MiB) / STATE_BYTES_BUDGET)).toBe(8 * MiB);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 2 ** 26 }), fc.integer({ min: 0, max: 2 ** 26 }), (table, other, states) => {
        const b = filterBytesWithin(table, other, states);
        const floor = recentFilterBytesFor(table);
        expect(b).toBeGreaterThanOrEqual(floor);
        expect(b).toBeLessThanOrEqual(Math.max(floor, recentFilterBytesFor(table, RECENT_FILTER_MAX_BYTES, 4)));
        // Anything above the sixteenth fits the budget.
        if (b > floor) expect(table + other + b).toBeLessThanOrEqual(STATE_BYTES_BUDGET * states);
      }),
    );
  });

  it('is sized a sixteenth of the visited set, between the start size and the cap', () => {
    expect(recentFilterBytesFor(0)).toBe(RECENT_FILTER_BYTES);
    expect(recentFilterBytesFor(32 * RECENT_FILTER_BYTES)).toBe(2 * RECENT_FILTER_BYTES);
    expect(recentFilterBytesFor(32 * RECENT_FILTER_BYTES - 1)).toBe(RECENT_FILTER_BYTES);
    expect(recentFilterBytesFor(2 ** 27)).toBe(2 ** 23);
    expect(recentFilterBytesFor(2 ** 40)).toBe(RECENT_FILTER_MAX_BYTES);
    expect(recentFilterBytesFor(2 ** 40, 2 ** 22)).toBe(2 ** 22);
  });

  it('never calls an unseen state a duplicate (random streams, tiny and default sizes, colliding hashes)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(64, 256, 1 << 18),
        fc.constantFrom('good', 'colliding'),
        fc.array(fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 4 }), { maxLength: 40 }), { maxLength: 8 }),
        (W, bytes, hashKind, raw) => {
          const batches = raw.map((b) => b.map((s) => packed(s.slice(0, W))));
          // 'colliding': few distinct hashes, so different states share slots.
          const hashOf = (s: number[]) => (hashKind === 'good' ? s.reduce((h, x) => Math.imul(h ^ x, 0x9e3779b1) >>> 0, 17) : (s[s.length - 1]! & 3) * 0x40000001) >>> 0;
          run(W, bytes, batches, hashOf);
        },
      ),
      { numRuns: 300 },
    );
  });
});
