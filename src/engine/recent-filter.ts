/**
 * A direct-mapped cache of states recently looked up in the visited set, in
 * front of it. Every state in the cache is in the visited set (it is
 * put there only when it is about to be inserted or found), so a successor
 * that hits the cache is a duplicate and needs no lookup at all.
 *
 * Why it pays: the frontier is expanded in discovery order, so siblings are
 * expanded one after the other, and their successors overlap (walk(c0) then
 * walk(c1) reaches the state walk(c1) then walk(c0) reaches). On the
 * benchmark about half of all successors hit a cache of a few hundred KiB,
 * which stays in L2, while a visited-set probe is a miss to DRAM (and a TLB
 * miss) once the table outgrows the caches. The cache starts at that size
 * and the explorer grows it with the table (recentFilterBytesFor,
 * filterBytesWithin): at
 * 8-16 MiB, in L3, 75-85 % of the benchmark's successors hit it.
 *
 * The cache is indexed by the hash's low bits; the tables use its high bits.
 * A cache entry is never wrong, only missing, so the cache changes no count,
 * no parent and no id: a duplicate found here would have been found in the
 * table and dropped there too. The batch routine is generated with the word
 * count unrolled, and called once per batch.
 */
import { prefault } from './prefault.js';

export interface RecentFilter {
  /**
   * For the n states at out[i*W..] with hashes hs[i]: dup[i] = 1 when state i
   * is certainly already visited, else 0 and its hash is appended to miss[];
   * returns the number of misses. Misses are entered into the cache, so the
   * caller must then look each of them up (insert) in order.
   */
  filter(out: Uint32Array, hs: Uint32Array, n: number, dup: Uint8Array, miss: Uint32Array): number;
  /** Forget everything (e.g. after the visited set was rebuilt). */
  clear(): void;
  /**
   * Make the cache the largest power-of-two number of entries that fits in
   * `bytes`, bigger or smaller. A new size starts empty, which only costs
   * lookups; the same size keeps its entries. Returns the size in bytes.
   */
  resize(bytes: number): number;
  /** Current size in bytes. */
  bytes(): number;
}

/** Starting size; fits L2 with room for the batch buffers. */
export const RECENT_FILTER_BYTES = 256 * 1024;

/**
 * The size the cache grows to beside a visited set of `tableBytes`: a
 * `fraction` (default a sixteenth) of it, between RECENT_FILTER_BYTES and `cap` (default
 * RECENT_FILTER_MAX_BYTES). Measured on the benchmark (AMD EPYC, 1 MiB L2
 * per core, 32 MiB L3), ns per state, one thread, fixed sizes:
 *   N=4 P=2 K=3 async (128 MiB table): 256 KiB 757, 4 MiB 636, 16 MiB 634;
 *   N=6 P=2 K=1 sync (128 MiB table): 256 KiB 1004, 4 MiB 917, 16 MiB 849;
 *   N=5 P=2 K=1 sync (16 MiB table): 256 KiB 808, 1-2 MiB 711-738, 4 MiB 754-807.
 * A bigger cache turns more probes of the table (a DRAM and TLB miss each)
 * into L3 hits; as big as the table it is only a second copy of it. An
 * eighth of the table was 1-3 % faster than a sixteenth, but took
 * N=4 P=3 K=1 sync to 32.1 bytes/state (the filter is counted).
 * The cap was 16 MiB until 2026-11-22; 32 MiB only changes tables over
 * 64 MiB. N=6 P=2 K=1 sync, alternating runs (ms, medians): one thread
 * 9194 -> 8816 and 9564 -> 9395 (22.5 -> 24.2 bytes/state); 2 workers
 * 4886 -> 4698 and 5542 -> 5284. N=4 P=2 K=3 async: one thread unchanged
 * (the budget stops it at 16 MiB), 2 workers 3063 -> 2958.
 */
export const RECENT_FILTER_MAX_BYTES = 32 * 1024 * 1024;
export function recentFilterBytesFor(tableBytes: number, cap = RECENT_FILTER_MAX_BYTES, fraction = 16): number {
  let b = RECENT_FILTER_BYTES;
  while (b * 2 <= cap && b * 2 * fraction <= tableBytes) b *= 2;
  return b;
}

/** The largest share of the visited set a cache grows to: a quarter (1/RECENT_FILTER_MAX_FRACTION). */
export const RECENT_FILTER_MAX_FRACTION = 4;

/** Bytes per stored state the exact store keeps to, the filter and the frontier included (issue #6). */
export const STATE_BYTES_BUDGET = 32;

/**
 * One thread's cache size beside a visited set of `tableBytes` holding
 * `states`, with `otherBytes` more in use (the frontier): a sixteenth of
 * the set (recentFilterBytesFor), and up to a quarter while the run stays
 * within `budget` bytes per stored state with it. Alternating runs against
 * the sixteenth alone: N=6 P=2 K=1 sync 9.8-10.4 -> 8.8-9.6 s (21.6 -> 22.5
 * bytes/state), N=4 P=2 K=3 async 5.1-5.3 -> 4.6-5.1 s, N=4 P=2 K=2 async
 * 2.2-2.5 -> 2.0-2.2 s, N=5 unchanged. A quarter everywhere took N=5 P=2 K=1 and
 * N=4 P=3 K=1 sync to 34.0 and 34.8 bytes/state; with the budget they get
 * 31.4 and 30.7. The size can go down again when the set grows (the
 * caller resizes to it), so the budget holds at the end too.
 */
export function filterBytesWithin(tableBytes: number, otherBytes: number, states: number, budget = STATE_BYTES_BUDGET): number {
  let b = recentFilterBytesFor(tableBytes);
  const most = recentFilterBytesFor(tableBytes, RECENT_FILTER_MAX_BYTES, RECENT_FILTER_MAX_FRACTION);
  while (b < most && tableBytes + otherBytes + b * 2 <= budget * states) b *= 2;
  return b;
}

export function createRecentFilter(words: number, bytes = RECENT_FILTER_BYTES): RecentFilter {
  const W = words;
  const entriesFor = (n: number): number => {
    let bits = 4;
    while (2 ** (bits + 1) * W * 4 <= n) bits++;
    return 2 ** bits;
  };
  const hit = Array.from({ length: W }, (_, k) => `cache_[c + ${k}] === out[o + ${k}]`).join(' && ');
  const put = Array.from({ length: W }, (_, k) => `cache_[c + ${k}] = out[o + ${k}];`).join(' ');
  // Word 0 of a packed state has bit 31 set (layout.ts), so 0 = empty.
  // A new cache is prefaulted (prefault.ts): its first access is a read,
  // which would map the shared zero page, and the first put would then
  // replace that mapping, a TLB shootdown on every CPU running one of the
  // process's threads (a multi-core run's other participants).
  return new Function(
    'entries',
    'entriesFor',
    'prefault',
    `let cache = new Uint32Array(entries * ${W}), mask = entries - 1, sink = 0;
    prefault(cache.buffer);
    function filter(out, hs, n, dup, miss) {
      const cache_ = cache, mask_ = mask;
      let m = 0, acc = 0;
      // Load every slot first: independent loads the CPU overlaps (a large
      // cache misses L2), so the compare loop below mostly hits L1.
      for (let i = 0; i < n; i++) acc |= cache_[(hs[i] & mask_) * ${W}];
      sink = acc;
      for (let i = 0; i < n; i++) {
        const h = hs[i], c = (h & mask_) * ${W}, o = i * ${W};
        if (${hit}) { dup[i] = 1; continue; }
        ${put}
        dup[i] = 0;
        miss[m++] = h;
      }
      return m;
    }
    function resize(bytes) {
      const e = entriesFor(bytes);
      if (e !== mask + 1) {
        cache = new Uint32Array(e * ${W});
        prefault(cache.buffer);
        mask = e - 1;
      }
      return cache.byteLength;
    }
    return { filter, clear: () => cache.fill(0), resize, bytes: () => cache.byteLength };`,
  )(entriesFor(bytes), entriesFor, prefault) as RecentFilter;
}
