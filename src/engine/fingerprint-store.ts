/**
 * The visited set for `--store fingerprint` (hash compaction): instead of the
 * full packed state, each slot holds a 64-bit fingerprint, two independent
 * 32-bit murmur3 hashes of the packed words (the explorer's home-slot hash
 * and a second seed). Per state that is
 *
 *   8 B / load (table)  +  4 B parent id  +  1 B action id (≤ 256 instances)
 *
 * and the table is kept between 75 % and 90 % full (it grows by 1.2× at
 * 90 %), so table + links stay at 9–11 B + 5 B ≤ 16 B per state. Linear
 * probing stays cheap at that load because a probe is one 8-byte compare in
 * the same cache line; the home slot is `fastrange(h1, capacity)`, monotone
 * in h1, so a rehash reads the old table and writes the new one nearly in
 * order (any capacity works, not only powers of two).
 *
 * Two different states with the same fingerprint make the second look
 * visited: it and whatever only it leads to are missed. With n states stored
 * the chance that this happened at least once is about n(n-1)/2^65
 * (Holzmann's estimate for hash compaction): 2.7e-4 for 10^8 states,
 * omissionProbability() below. The parent links are ids of real states
 * (the frontier holds full states), so a counterexample is rebuilt by
 * re-executing the recorded actions from the initial state, and trace.ts
 * checks that the replay reaches the violating state's full words (kept
 * aside with keep()).
 *
 * Slot word 0 (the high half, h1) is never 0 (empty) or 1 (reserved for the
 * concurrent table's "being written" marker, shared-table.ts): h1 < 2 is
 * stored as h1 + 2, which costs 2^-31 of the fingerprint space.
 */
import { actionArray, Chunked, Kept, type StateStore } from './store.js';

export type StoreKind = 'exact' | 'fingerprint';

/** Seed of the fingerprint's second (low) half; the first is the store's home hash (HASH_SEED). */
export const FP_SEED = 0x7f4a7c15;

/** Table load at which the fingerprint table grows, and by how much. */
export const FP_MAX_LOAD = 0.9;
export const FP_GROWTH = 1.2;

/**
 * Estimated probability that at least one state was missed because its
 * fingerprint equalled an earlier state's: 1 - exp(-n(n-1)/2^65) for n
 * stored states and 64-bit fingerprints (each new state meets i earlier
 * fingerprints, each equal with probability 2^-64; summed over i < n).
 */
export function omissionProbability(n: number): number {
  if (n < 2) return 0;
  return -Math.expm1(-(n * (n - 1)) / 2 ** 65);
}

/** The fingerprint table's home slot for h1: floor(h1 * capacity / 2^32), monotone in h1. */
export function homeScale(capacity: number): number {
  return capacity / 4294967296;
}

/** Next capacity when growing a fingerprint table. */
export function fpGrow(capacity: number): number {
  return Math.ceil(capacity * FP_GROWTH);
}

export function createFingerprintStore(
  words: number,
  hash: (w: Uint32Array, off: number, seed: number) => number,
  opts: { actionCount: number; memoryLimitBytes?: number; initialCapacity?: number },
): StateStore {
  const parent = new Chunked((n) => new Int32Array(n));
  const action = new Chunked(actionArray(opts.actionCount));
  const kept = new Kept(words);
  const memoryLimit = opts.memoryLimitBytes ?? 0;
  const extraBytes = () => parent.bytes() + action.bytes();

  let cap = Math.max(4096, Math.ceil((opts.initialCapacity ?? 0) / FP_MAX_LOAD));
  let scale = homeScale(cap);
  let limit = Math.floor(cap * FP_MAX_LOAD);
  let tab: Uint32Array = new Uint32Array(cap * 2);
  let count = 0;
  let isFull = false;

  const grow = (): void => {
    const ncap = fpGrow(cap);
    const need = ncap * 8 + tab.byteLength + extraBytes();
    // Refused growth: keep filling up to 97 % (probes get long, but the
    // explorer sees full() within 1024 states and stops the run).
    const refuse = () => {
      isFull = true;
      limit = Math.floor(cap * 0.97);
    };
    if (ncap * 2 > 2 ** 32 - 1 || (memoryLimit > 0 && need > memoryLimit)) return refuse();
    let nt: Uint32Array;
    try {
      nt = new Uint32Array(ncap * 2);
    } catch {
      return refuse();
    }
    const nscale = homeScale(ncap);
    for (let o = 0; o < tab.length; o += 2) {
      const hi = tab[o]!;
      if (hi === 0) continue;
      let i = (hi * nscale) >>> 0;
      while (nt[i * 2] !== 0) if (++i === ncap) i = 0;
      nt[i * 2] = hi;
      nt[i * 2 + 1] = tab[o + 1]!;
    }
    tab = nt;
    cap = ncap;
    scale = nscale;
    limit = Math.floor(cap * FP_MAX_LOAD);
  };

  const insert = (b: Uint32Array, bo: number, h: number, par: number, act: number): number => {
    let hi = h >>> 0;
    if (hi < 2) hi += 2;
    const lo = hash(b, bo, FP_SEED);
    let i = (hi * scale) >>> 0;
    for (;;) {
      const o = i * 2;
      const x = tab[o]!;
      if (x === 0) {
        tab[o] = hi;
        tab[o + 1] = lo;
        const id = count++;
        parent.set(id, par);
        action.set(id, act);
        if (count > limit && !isFull) grow();
        return id;
      }
      if (x === hi && tab[o + 1] === lo) return -1;
      if (++i === cap) i = 0;
    }
  };

  return {
    words,
    count: () => count,
    insert,
    // Load the home slot of each pending lookup first (overlapped cache misses).
    touch(hs, n) {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const hi = hs[i]! >>> 0;
        acc |= tab[(((hi < 2 ? hi + 2 : hi) * scale) >>> 0) * 2]!;
      }
      return acc;
    },
    keep: (id, b, bo) => kept.keep(id, b, bo),
    table: () => kept.table(),
    offsetOf: (id) => kept.offsetOf(id),
    parentOf: (id) => parent.get(id),
    actionOf: (id) => action.get(id),
    full: () => isFull,
    stats: () => ({ bytes: tab.byteLength + extraBytes(), capacity: cap }),
  };
}
