/**
 * The visited set for exact mode: open addressing with linear probing over one
 * Uint32Array that holds the full packed states inline (one cache miss per
 * probe), plus per-state chunked arrays:
 *   slot[id]   where state `id` lives in the table (also the BFS queue: ids
 *              are assigned in discovery order, so BFS order is id order),
 *   parent[id] the state it was first reached from (-1 for the initial state),
 *   action[id] the action instance that reached it.
 * Word 0 of a stored state always has bit 31 set (layout.ts), so 0 = empty.
 * The table doubles (rehash) at 70% load; a memory budget turns growth into a
 * clean "full" flag the explorer reports as an incomplete run.
 *
 * The insert routine is generated with the word count unrolled.
 */

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const MAX_LOAD = 0.7;

export interface StoreStats {
  bytes: number;
  capacity: number;
}

export interface StateStore {
  readonly words: number;
  /** Number of states stored. */
  count(): number;
  /** Insert the W words at b[bo..]; returns the new id, or -1 if already present. */
  insert(b: Uint32Array, bo: number, h: number, parent: number, action: number): number;
  /** Prefetch the home slots of n pending lookups (hashes in hs). */
  touch(hs: Uint32Array, n: number): number;
  /** The array and offset where state `id`'s words can be read. */
  table(): Uint32Array;
  offsetOf(id: number): number;
  parentOf(id: number): number;
  actionOf(id: number): number;
  /** Set once growing would exceed the memory budget. */
  full(): boolean;
  stats(): StoreStats;
}

class Chunked {
  chunks: (Int32Array | Uint32Array | Uint16Array)[] = [];
  constructor(private readonly make: (n: number) => Int32Array | Uint32Array | Uint16Array) {}
  set(i: number, v: number): void {
    const c = i >>> CHUNK_BITS;
    if (c === this.chunks.length) this.chunks.push(this.make(CHUNK));
    this.chunks[c]![i & (CHUNK - 1)] = v;
  }
  get(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]![i & (CHUNK - 1)]!;
  }
  bytes(): number {
    return this.chunks.reduce((a, c) => a + c.byteLength, 0);
  }
}

export function createExactStore(
  words: number,
  hash: (w: Uint32Array, off: number, seed: number) => number,
  opts: { actionCount: number; memoryLimitBytes?: number; initialCapacity?: number },
): StateStore {
  const W = words;
  const cmp = Array.from({ length: W }, (_, k) => `tab[o + ${k}] === b[bo + ${k}]`).join(' && ');
  const put = Array.from({ length: W }, (_, k) => `tab[o + ${k}] = b[bo + ${k}];`).join(' ');
  const src = `
    let cap = initialCapacity, mask = cap - 1, limit = Math.floor(cap * MAX_LOAD);
    let tab = new Uint32Array(cap * ${W});
    let count = 0, isFull = false;
    function grow() {
      const ncap = cap * 2;
      const need = ncap * ${W} * 4 + tab.byteLength + extraBytes();
      if (memoryLimit > 0 && need > memoryLimit) { isFull = true; limit = Math.floor(cap * 0.9); return; }
      let nt;
      try { nt = new Uint32Array(ncap * ${W}); } catch (e) { isFull = true; limit = Math.floor(cap * 0.9); return; }
      const nmask = ncap - 1;
      for (let id = 0; id < count; id++) {
        const oo = slot.get(id) * ${W};
        let i = hash(tab, oo, SEED) & nmask;
        while (nt[i * ${W}] !== 0) i = (i + 1) & nmask;
        for (let k = 0; k < ${W}; k++) nt[i * ${W} + k] = tab[oo + k];
        slot.set(id, i);
      }
      tab = nt; cap = ncap; mask = nmask; limit = Math.floor(cap * MAX_LOAD);
    }
    function insert(b, bo, h, par, act) {
      let i = h & mask;
      for (;;) {
        const o = i * ${W};
        if (tab[o] === 0) {
          ${put}
          const id = count++;
          slot.set(id, i); parent.set(id, par); action.set(id, act);
          if (count > limit && !isFull) grow();
          return id;
        }
        if (${cmp}) return -1;
        i = (i + 1) & mask;
      }
    }
    // Load the home slot of each pending lookup first: independent loads that
    // the CPU overlaps, so the probes that follow mostly hit the cache.
    function touch(hs, n) {
      let acc = 0;
      for (let i = 0; i < n; i++) acc |= tab[(hs[i] & mask) * ${W}];
      return acc;
    }
    return {
      words: ${W},
      touch,
      count: () => count,
      insert,
      table: () => tab,
      offsetOf: (id) => slot.get(id) * ${W},
      parentOf: (id) => parent.get(id),
      actionOf: (id) => action.get(id),
      full: () => isFull,
      stats: () => ({ bytes: tab.byteLength + extraBytes(), capacity: cap }),
    };`;
  const slot = new Chunked((n) => new Int32Array(n));
  const parent = new Chunked((n) => new Int32Array(n));
  const action = new Chunked((n) => (opts.actionCount <= 0xffff ? new Uint16Array(n) : new Uint32Array(n)));
  const extraBytes = () => slot.bytes() + parent.bytes() + action.bytes();
  let cap = 1 << 12;
  while (cap < (opts.initialCapacity ?? 0)) cap *= 2;
  return new Function('initialCapacity', 'MAX_LOAD', 'memoryLimit', 'hash', 'SEED', 'slot', 'parent', 'action', 'extraBytes', src)(
    cap,
    MAX_LOAD,
    opts.memoryLimitBytes ?? 0,
    hash,
    HASH_SEED,
    slot,
    parent,
    action,
    extraBytes,
  ) as StateStore;
}

export const HASH_SEED = 0x2545f491;
