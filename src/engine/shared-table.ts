/**
 * The visited set of a multi-core run (`--workers N`): an open-addressing,
 * linear-probing table in a SharedArrayBuffer that every worker inserts into
 * without locks. A slot is S Int32 words:
 *   exact        the full packed state (S = W); word 0 has bit 31 set
 *   fingerprint  [h1, h2], the 64-bit fingerprint of fingerprint-store.ts
 *                (S = 2); h1 is never 0 or 1
 * Word 0 of a slot is 0 = empty, 1 = being written, anything else = the
 * state's word 0. Insert: claim an empty slot by CAS 0 -> 1 on word 0, write
 * the other words, then publish word 0 with Atomics.store; a reader that
 * finds 1 spins (a few stores long) until the slot is published, then
 * compares. So two workers inserting the same state both end on the same
 * slot and exactly one of them gets "new": the state count is that of a
 * single-threaded run.
 *
 * Probes read slots with plain loads: Atomics.load is a builtin call in
 * Node 20 (~14 ns against ~1 ns), and it was 13 % of a participant's time.
 * That is sound because plain Int32Array accesses are tear-free
 * (ECMAScript memory model: a read returns some value written, never a mix)
 * and a slot's words change only as described above: word 0 goes
 * 0 -> 1 -> the state's word 0, every other word once from 0 to its final
 * value. So word 0 read as 0 goes to the CAS, which sees the true value;
 * read as 1 it is re-read with Atomics.load until published; read as
 * another state's word 0 it is final; read as ours, a nonzero other word
 * read is final too, and only a word read as 0 is ambiguous (not yet
 * visible, or truly 0): then Atomics.load of word 0, which reads the
 * publishing Atomics.store and so makes the words written before it
 * visible, and the words are read again.
 *
 * Home slot = fastrange(h1, capacity) (monotone in h1, any capacity), with
 * wrap-around. The table never grows while a round runs: the coordinator
 * (parallel.ts) pauses the participants at a chunk boundary when the load
 * passes its threshold, and then all of them move the entries into a bigger
 * table at once, each into its own region of it (rehashShare() below).
 */
import { FP_GROWTH, FP_MAX_LOAD, FP_SEED } from './fingerprint-store.js';
import type { StoreKind } from './fingerprint-store.js';
import { HASH_SEED } from './store.js';
import { prefault } from './prefault.js';

export type Hash = (w: Uint32Array, off: number, seed: number) => number;

export interface SharedTable {
  /** Words per slot. */
  readonly S: number;
  /** Point the table at a (new) buffer of `cap` slots. */
  attach(buf: SharedArrayBuffer, cap: number): void;
  /** Insert the packed state b[bo..] with home hash h (HASH_SEED): true if it was not there. */
  insert(b: Uint32Array, bo: number, h: number): boolean;
  /** Load the home slots of n pending lookups (overlapped cache misses). */
  touch(hs: Uint32Array, n: number): number;
}

export function slotWords(kind: StoreKind, W: number): number {
  return kind === 'fingerprint' ? 2 : W;
}

/** Load at which the coordinator grows the table, and the growth factor. */
export function loadPolicy(kind: StoreKind): { maxLoad: number; growth: number } {
  return kind === 'fingerprint' ? { maxLoad: FP_MAX_LOAD, growth: FP_GROWTH } : { maxLoad: 0.7, growth: 2 };
}

export function createSharedTable(kind: StoreKind, W: number, hash: Hash): SharedTable {
  const S = slotWords(kind, W);
  const fp = kind === 'fingerprint';
  // k0..k{S-1}: the slot's words for the state at b[bo..] (k0 = word 0, never 0 or 1).
  const keys = fp
    ? 'let k0 = h >>> 0; if (k0 < 2) k0 += 2; const home = k0; k0 |= 0; let k1 = 0, have1 = false;'
    : `const home = h >>> 0; ${Array.from({ length: W }, (_, k) => `const k${k} = b[bo + ${k}] | 0;`).join(' ')}`;
  // Fingerprints: the low half (a second hash) only when the high half matches or the state is new.
  const need1 = fp ? 'if (!have1) { k1 = hash(b, bo, FP_SEED) | 0; have1 = true; }' : '';
  const write = Array.from({ length: S - 1 }, (_, k) => `T[o + ${k + 1}] = k${k + 1};`).join(' ');
  // The other words of a slot whose word 0 matched, read plainly; a word read
  // as 0 may be one not yet visible (see the header), so then word 0 is read
  // with Atomics.load, which orders the words' writes before the re-read.
  const rest =
    S === 1
      ? 'return false;'
      : `${Array.from({ length: S - 1 }, (_, k) => `let r${k + 1} = T[o + ${k + 1}];`).join(' ')}
          if (${Array.from({ length: S - 1 }, (_, k) => `r${k + 1} === 0`).join(' || ')}) {
            Atomics.load(T, o);
            ${Array.from({ length: S - 1 }, (_, k) => `r${k + 1} = T[o + ${k + 1}];`).join(' ')}
          }
          if (${Array.from({ length: S - 1 }, (_, k) => `r${k + 1} === k${k + 1}`).join(' && ')}) return false;`;
  const probe = (fill: string) => `
      let i = (home * scale) >>> 0;
      for (;;) {
        const o = i * ${S};
        let x = T[o];
        if (x === 0) {
          ${fill}
          x = Atomics.compareExchange(T, o, 0, 1);
          if (x === 0) {
            ${write}
            Atomics.store(T, o, k0);
            return true;
          }
        }
        while (x === 1) x = Atomics.load(T, o);
        if (x === k0) {
          ${fill}
          ${rest}
        }
        if (++i === cap) i = 0;
      }`;
  const homeOf = fp ? '((h >>> 0) < 2 ? (h >>> 0) + 2 : (h >>> 0))' : '(h >>> 0)';
  const src = `
    let T = new Int32Array(0), cap = 0, scale = 0;
    function attach(buf, c) { T = new Int32Array(buf); cap = c; scale = c / 4294967296; }
    function insert(b, bo, h) {
      ${keys}
      ${probe(need1)}
    }
    function touch(hs, n) {
      let acc = 0;
      for (let j = 0; j < n; j++) { const h = hs[j]; acc |= T[((${homeOf}) * scale >>> 0) * ${S}]; }
      return acc;
    }
    return { S: ${S}, attach, insert, touch };`;
  return new Function('hash', 'FP_SEED', src)(hash, FP_SEED) as SharedTable;
}

/**
 * Participant `part` of `parts` in a rehash: it owns region `part` of the
 * new table (an equal share of its slots) and moves, with plain writes, the
 * entries of the matching share of the old table whose home lies in that
 * region and whose probe stays inside it. Homes are monotone in the hash,
 * so nearly every entry qualifies; the others (near region edges) are
 * returned as old-table offsets for finishRehash(), run once every
 * participant is done. No atomics: the regions do not overlap, and no
 * lookup runs during a rehash. The new table is fresh: each participant
 * first maps its own region's pages (prefault.ts).
 */
export function rehashShare(kind: StoreKind, W: number, hash: Hash, m: { from: SharedArrayBuffer; fromCap: number; to: SharedArrayBuffer; toCap: number }, part: number, parts: number): number[] {
  const S = slotWords(kind, W);
  const a = new Uint32Array(m.from);
  const t = new Uint32Array(m.to);
  const scale = m.toCap / 4294967296;
  const r0 = Math.floor((part * m.toCap) / parts);
  const r1 = Math.floor(((part + 1) * m.toCap) / parts);
  const s0 = Math.floor((part * m.fromCap) / parts);
  const s1 = Math.floor(((part + 1) * m.fromCap) / parts);
  const fp = kind === 'fingerprint';
  const left: number[] = [];
  prefault(m.to, r0 * S * 4, r1 * S * 4);
  for (let o = s0 * S, end = s1 * S; o < end; o += S) {
    const w0 = a[o]!;
    if (w0 === 0) continue;
    let i = ((fp ? w0 : hash(a, o, HASH_SEED)) * scale) >>> 0;
    if (i < r0 || i >= r1) {
      left.push(o);
      continue;
    }
    while (i < r1 && t[i * S] !== 0) i++;
    if (i === r1) {
      left.push(o);
      continue;
    }
    for (let k = 0; k < S; k++) t[i * S + k] = a[o + k]!;
  }
  return left;
}

/** The entries rehashShare() left, placed by one thread after all shares are done. */
export function finishRehash(kind: StoreKind, W: number, hash: Hash, m: { from: SharedArrayBuffer; to: SharedArrayBuffer; toCap: number }, left: readonly number[]): void {
  const S = slotWords(kind, W);
  const a = new Uint32Array(m.from);
  const t = new Uint32Array(m.to);
  const scale = m.toCap / 4294967296;
  for (const o of left) {
    let i = ((kind === 'fingerprint' ? a[o]! : hash(a, o, HASH_SEED)) * scale) >>> 0;
    while (t[i * S] !== 0) if (++i === m.toCap) i = 0;
    for (let k = 0; k < S; k++) t[i * S + k] = a[o + k]!;
  }
}
