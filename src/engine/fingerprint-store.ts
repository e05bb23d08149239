/**
 * The visited set for `--store fingerprint` (hash compaction): instead of the
 * full packed state, each slot holds a 64-bit fingerprint, two independent
 * 32-bit murmur3 hashes of the packed words (the explorer's home-slot hash
 * and a second seed). Per state that is
 *
 *   8 B / load (table)  +  4 B parent id  +  1 B action id (≤ 256 instances)
 *
 * and the table is kept between 76 % and 87 % full (it grows by 1.14× at
 * 87 %, doubling only while under 2 MiB), so table + links stay at
 * 9.2–10.5 B + 5 B ≤ 15.5 B per state (plus < 0.33 B of chunk rounding in
 * the link arrays from a million states on). Linear
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
import { generatedStore, Links, type StateStore } from './store.js';

export type StoreKind = 'exact' | 'fingerprint';

/** Seed of the fingerprint's second (low) half; the first is the store's home hash (HASH_SEED). */
export const FP_SEED = 0x7f4a7c15;

/** Table load at which the fingerprint table grows, and by how much. */
export const FP_MAX_LOAD = 0.87;
export const FP_GROWTH = 1.14;

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

/** Tables below this many slots (2 MiB) double: their bytes per state do not matter yet, rehashing often would. */
const SMALL = 1 << 18;

/** Next capacity when growing a fingerprint table. */
export function fpGrow(capacity: number): number {
  return capacity < SMALL ? capacity * 2 : Math.ceil(capacity * FP_GROWTH);
}

/** MurmurHash3 (x86, 32-bit) of w[off..off+words) with `seed`, unrolled, into `out` (as layout.ts's hash). */
function murmur(words: number, w: string, off: string, seed: number, out: string): string {
  const lines = [`let h_ = ${seed | 0}, k_;`];
  for (let k = 0; k < words; k++)
    lines.push(
      `k_ = Math.imul(${w}[${off} + ${k}] | 0, 0xcc9e2d51); k_ = (k_ << 15) | (k_ >>> 17); k_ = Math.imul(k_, 0x1b873593);`,
      `h_ ^= k_; h_ = (h_ << 13) | (h_ >>> 19); h_ = (Math.imul(h_, 5) + 0xe6546b64) | 0;`,
    );
  lines.push(`h_ ^= ${words * 4}; h_ ^= h_ >>> 16; h_ = Math.imul(h_, 0x85ebca6b); h_ ^= h_ >>> 13; h_ = Math.imul(h_, 0xc2b2ae35); h_ ^= h_ >>> 16;`, `${out} = h_ >>> 0;`);
  return lines.join(' ');
}

export function createFingerprintStore(
  words: number,
  hash: (w: Uint32Array, off: number, seed: number) => number,
  opts: { actionCount: number; memoryLimitBytes?: number; initialCapacity?: number },
): StateStore {
  const links = new Links(words, opts.actionCount);
  const cap0 = Math.max(4096, Math.ceil((opts.initialCapacity ?? 0) / FP_MAX_LOAD));
  // Generated (as store.ts does) with the word count unrolled and the second
  // hash inline, all state in one scope, so the insert is inlined into the
  // explorer's loop. The low half is computed only when the high half
  // matches or the state is new.
  const lo = murmur(words, 'b', 'bo', FP_SEED, 'lo');
  const src = `
    let cap = cap0, scale = cap / 4294967296, limit = Math.floor(cap * MAX_LOAD);
    let tab = new Uint32Array(cap * 2);
    let count = 0, isFull = false;
    function grow() {
      const ncap = nextCap(cap);
      const need = ncap * 8 + tab.byteLength + extraBytes();
      // Refused growth: keep filling up to 97 % (probes get long, but the
      // explorer sees full() after the batch and stops the run).
      if (ncap * 2 > 4294967295 || (memoryLimit > 0 && (need > memoryLimit || rss() + ncap * 8 > memoryLimit))) { isFull = true; limit = Math.floor(cap * 0.97); return; }
      let nt;
      try { nt = new Uint32Array(ncap * 2); } catch (e) { isFull = true; limit = Math.floor(cap * 0.97); return; }
      prefault(nt.buffer);
      const nscale = ncap / 4294967296;
      for (let o = 0; o < tab.length; o += 2) {
        const hi = tab[o];
        if (hi === 0) continue;
        let i = (hi * nscale) >>> 0;
        while (nt[i * 2] !== 0) if (++i === ncap) i = 0;
        nt[i * 2] = hi;
        nt[i * 2 + 1] = tab[o + 1];
      }
      tab = nt; cap = ncap; scale = nscale; limit = Math.floor(cap * MAX_LOAD);
    }
    function insert(b, bo, h, par, act) {
      let hi = h >>> 0;
      if (hi < 2) hi += 2;
      let lo = -1;
      let i = (hi * scale) >>> 0;
      for (;;) {
        const o = i * 2;
        const x = tab[o];
        if (x === 0) {
          // Full (growth refused): keep the last free slots free, so probes end.
          if (count >= cap - 2) return -1;
          if (lo < 0) { ${lo} }
          tab[o] = hi;
          tab[o + 1] = lo;
          const id = count++;
          parent.set(id, par); action.set(id, act);
          if (count > limit && !isFull) grow();
          return id;
        }
        if (x === hi) {
          if (lo < 0) { ${lo} }
          if (tab[o + 1] === lo) return -1;
        }
        if (++i === cap) i = 0;
      }
    }
    // Load the home slot of each pending lookup first (overlapped cache misses).
    function touch(hs, n) {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const hi = hs[i] >>> 0;
        acc |= tab[(((hi < 2 ? hi + 2 : hi) * scale) >>> 0) * 2];
      }
      return acc;
    }
    return {
      words: ${words},
      touch,
      count: () => count,
      insert,
      ...linkAccessors,
      full: () => isFull,
      stats: () => ({ bytes: tab.byteLength + extraBytes(), capacity: cap }),
      snapshot: () => ({ capacity: cap, count, table: tab, ...links.snapshot(count) }),
      restore(sn) {
        if (sn.table.length !== sn.capacity * 2) throw new Error('checkpoint: the table is not a fingerprint table');
        cap = sn.capacity; scale = cap / 4294967296; limit = Math.floor(cap * MAX_LOAD);
        tab = sn.table; count = sn.count; isFull = false;
        links.restore(sn);
      },
    };`;
  return generatedStore(src, { cap0, MAX_LOAD: FP_MAX_LOAD, nextCap: fpGrow, memoryLimit: opts.memoryLimitBytes ?? 0 }, links);
}
