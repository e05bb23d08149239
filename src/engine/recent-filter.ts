/**
 * A small direct-mapped cache of states recently looked up in the visited
 * set, in front of it. Every state in the cache is in the visited set (it is
 * put there only when it is about to be inserted or found), so a successor
 * that hits the cache is a duplicate and needs no lookup at all.
 *
 * Why it pays: the frontier is expanded in discovery order, so siblings are
 * expanded one after the other, and their successors overlap (walk(c0) then
 * walk(c1) reaches the state walk(c1) then walk(c0) reaches). On the
 * benchmark about half of all successors hit a cache of a few hundred KiB,
 * which stays in L2, while a visited-set probe is a miss to DRAM (and a TLB
 * miss) once the table outgrows the caches.
 *
 * The cache is indexed by the hash's low bits; the tables use its high bits.
 * A cache entry is never wrong, only missing, so the cache changes no count,
 * no parent and no id: a duplicate found here would have been found in the
 * table and dropped there too. The batch routine is generated with the word
 * count unrolled, and called once per batch.
 */

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
  readonly bytes: number;
}

/** Default size; fits L2 with room for the batch buffers. */
export const RECENT_FILTER_BYTES = 256 * 1024;

export function createRecentFilter(words: number, bytes = RECENT_FILTER_BYTES): RecentFilter {
  const W = words;
  let bits = 4;
  while (2 ** (bits + 1) * W * 4 <= bytes) bits++;
  const mask = 2 ** bits - 1;
  // Word 0 of a packed state has bit 31 set (layout.ts), so 0 = empty.
  const cache = new Uint32Array((mask + 1) * W);
  const hit = Array.from({ length: W }, (_, k) => `cache[c + ${k}] === out[o + ${k}]`).join(' && ');
  const put = Array.from({ length: W }, (_, k) => `cache[c + ${k}] = out[o + ${k}];`).join(' ');
  const filter = new Function(
    'cache',
    `return function filter(out, hs, n, dup, miss) {
      let m = 0;
      for (let i = 0; i < n; i++) {
        const h = hs[i], c = (h & ${mask}) * ${W}, o = i * ${W};
        if (${hit}) { dup[i] = 1; continue; }
        ${put}
        dup[i] = 0;
        miss[m++] = h;
      }
      return m;
    };`,
  )(cache) as RecentFilter['filter'];
  return { filter, clear: () => cache.fill(0), bytes: cache.byteLength };
}
