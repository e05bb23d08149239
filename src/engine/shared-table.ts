/**
 * The visited set of a multi-core run (`--workers N`): an open-addressing,
 * linear-probing table in a SharedArrayBuffer that every worker inserts into
 * without locks. A slot is S Int32 words (SlotFormat):
 *   exact        the full packed state (S = W); word 0 has bit 31 set
 *   fingerprint  [h1, h2], the 64-bit fingerprint of fingerprint-store.ts
 *                (S = 2); h1 is never 0 or 1
 *
 * Two ways to claim a slot, both ending with exactly one inserter of a
 * state getting "new" (so the count is that of a single-threaded run):
 *
 * Direct (one state word per slot, or exact mode when the layout leaves bit
 * 31 of every word after the first unused: `tagged`, the usual case). The
 * other words are stored with bit 31 set, so a stored word is never 0.
 * Insert: CAS word 0 from 0 to the state's word 0, then write the other
 * words. A reader that matches word 0 and reads another word as 0 knows it
 * is not written yet, and re-reads it (Atomics.load) until it is: a few
 * stores long.
 *
 * Two-step (fingerprints, and layouts that use bit 31 of a later word).
 * Word 0 is 0 = empty, 1 = being written, else the state's word 0. Insert:
 * claim by CAS 0 -> 1, write the other words, then publish word 0 with
 * Atomics.store; a reader that finds 1 spins until it is published.
 *
 * The direct way saves the publishing store: Atomics.store is a builtin
 * call of ~22 ns in Node 20, once per new state. Dropping it on N=6 P=2 K=1
 * sync, 2 workers, made 4 of 5 alternating pairs 1.5-4.5 % faster
 * (4.65-4.92 s against 4.71-5.16 s).
 *
 * Probes read slots with plain loads: Atomics.load is a builtin call in
 * Node 20 (~14 ns against ~1 ns), and it was 13 % of a participant's time.
 * That is sound because plain Int32Array accesses are tear-free
 * (ECMAScript memory model: a read returns some value written, never a mix)
 * and a slot's words change only as described above: word 0 goes
 * 0 -> (1 ->) the state's word 0, every other word once from 0 to its final
 * value. So word 0 read as 0 goes to the CAS, which sees the true value;
 * read as 1 it is re-read with Atomics.load until published; read as
 * another state's word 0 it is final; read as ours, a nonzero other word
 * read is final too. A word read as 0 is "not written yet" when tagged;
 * in the two-step way it is ambiguous (not yet visible, or truly 0): then
 * Atomics.load of word 0, which reads the publishing Atomics.store and so
 * makes the words written before it visible, and the words are read again.
 *
 * Home slot = fastrange(h1, capacity) (monotone in h1, any capacity), with
 * wrap-around. The table never grows while a round runs: the coordinator
 * (parallel.ts) pauses the participants after a batch when the load
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

/** How a state is stored in a slot. */
export interface SlotFormat {
  readonly kind: StoreKind;
  /** Words per packed state. */
  readonly W: number;
  /** Exact mode, and words 1.. are stored with bit 31 set (never 0): the layout leaves it unused. */
  readonly tagged: boolean;
}

/** The bit set on stored words 1.. of a tagged slot. */
export const TAG = 0x80000000;

/** The slot format for a layout's packed states (leaves fill each word from bit 0 up: layout.ts). */
export function slotFormat(kind: StoreKind, layout: { readonly words: number; readonly leaves: readonly { word: number; shift: number; bits: number }[] }): SlotFormat {
  const W = layout.words;
  const tagged = kind === 'exact' && W > 1 && layout.leaves.every((l) => l.word === 0 || l.shift + l.bits <= 31);
  return { kind, W, tagged };
}

/** Load at which the coordinator grows the table, and the growth factor. */
export function loadPolicy(kind: StoreKind): { maxLoad: number; growth: number } {
  return kind === 'fingerprint' ? { maxLoad: FP_MAX_LOAD, growth: FP_GROWTH } : { maxLoad: 0.7, growth: 2 };
}

export function createSharedTable(format: SlotFormat, hash: Hash): SharedTable {
  const { kind, W, tagged } = format;
  const S = slotWords(kind, W);
  const fp = kind === 'fingerprint';
  const direct = S === 1 || tagged;
  // k0..k{S-1}: the slot's words for the state at b[bo..] (k0 = word 0, never 0 or 1).
  const keys = fp
    ? 'let k0 = h >>> 0; if (k0 < 2) k0 += 2; const home = k0; k0 |= 0; let k1 = 0, have1 = false;'
    : `const home = h >>> 0; ${Array.from({ length: W }, (_, k) => `const k${k} = b[bo + ${k}] | ${k > 0 && tagged ? TAG : 0};`).join(' ')}`;
  // Fingerprints: the low half (a second hash) only when the high half matches or the state is new.
  const need1 = fp ? 'if (!have1) { k1 = hash(b, bo, FP_SEED) | 0; have1 = true; }' : '';
  const write = Array.from({ length: S - 1 }, (_, k) => `T[o + ${k + 1}] = k${k + 1};`).join(' ');
  const others = Array.from({ length: S - 1 }, (_, k) => k + 1);
  // The other words of a slot whose word 0 matched, read plainly. Tagged:
  // a word read as 0 is not written yet, so it is re-read until it is.
  // Two-step: a word read as 0 may be one not yet visible (see the header),
  // so then word 0 is read with Atomics.load, which orders the words'
  // writes before the re-read.
  const rest =
    S === 1
      ? 'return false;'
      : direct
        ? `${others.map((j) => `let r${j} = T[o + ${j}]; while (r${j} === 0) r${j} = settle(T, o + ${j}, 0);`).join(' ')}
          if (${others.map((j) => `r${j} === k${j}`).join(' && ')}) return false;`
        : `${others.map((j) => `let r${j} = T[o + ${j}];`).join(' ')}
          if (${others.map((j) => `r${j} === 0`).join(' || ')}) {
            Atomics.load(T, o);
            ${others.map((j) => `r${j} = T[o + ${j}];`).join(' ')}
          }
          if (${others.map((j) => `r${j} === k${j}`).join(' && ')}) return false;`;
  const claim = direct
    ? `x = Atomics.compareExchange(T, o, 0, k0);
          if (x === 0) {
            ${write}
            return true;
          }`
    : `x = Atomics.compareExchange(T, o, 0, 1);
          if (x === 0) {
            ${write}
            Atomics.store(T, o, k0);
            return true;
          }`;
  const probe = (fill: string) => `
      let i = (home * scale) >>> 0;
      for (;;) {
        const o = i * ${S};
        let x = T[o];
        if (x === 0) {
          ${fill}
          ${claim}
        }
        ${direct ? '' : 'while (x === 1) x = settle(T, o, 1);'}
        if (x === k0) {
          ${fill}
          ${rest}
        }
        if (++i === cap) i = 0;
      }`;
  const homeOf = fp ? '((h >>> 0) < 2 ? (h >>> 0) + 2 : (h >>> 0))' : '(h >>> 0)';
  const src = `
    let T = new Int32Array(0), cap = 0, scale = 0, warming = false;
    function attach(buf, c) { T = new Int32Array(buf); cap = c; scale = c / 4294967296; }
    // T[o] once it is no longer \`was\` (a word being written by another thread).
    function settle(T, o, was) {
      let x;
      do x = Atomics.load(T, o); while (x === was && !warming);
      return warming ? 2 : x;
    }
    function insert(b, bo, h) {
      ${keys}
      ${probe(need1)}
    }
    function touch(hs, n) {
      let acc = 0;
      for (let j = 0; j < n; j++) { const h = hs[j]; acc |= T[((${homeOf}) * scale >>> 0) * ${S}]; }
      return acc;
    }
    function warm(b) {
      warming = true;
      try { insert(b, 0, 0); } finally { warming = false; }
    }
    return { S: ${S}, attach, insert, touch, warm };`;
  const t = new Function('hash', 'FP_SEED', src)(hash, FP_SEED) as SharedTable & { warm(b: Uint32Array): void };
  warmRacePaths(t, format);
  return t;
}

/*
 * The paths of insert() that only a race takes (a slot's other words not
 * written yet, a slot being written) run here once, on a private table
 * staged to look like it. Why: insert() is inlined into the participant's
 * round loop, and the optimizing compiler turns a call it has never seen
 * run (Atomics.load) into a deoptimization. Two participants race a few
 * times per run, at random moments, and each first race on a path threw
 * away the round loop's compiled code in that thread, which then ran slow
 * until it was compiled again (60-100 ms of compiling each time).
 */
function warmRacePaths(t: SharedTable & { warm(b: Uint32Array): void }, format: SlotFormat): void {
  const S = slotWords(format.kind, format.W);
  const b = new Uint32Array(format.W).fill(0x5a5a5a5a);
  const buf = new SharedArrayBuffer(4 * S * 4);
  const T = new Int32Array(buf);
  t.attach(buf, 4);
  // Home slot 0 (hash 0). Staged: slot 0 matches word 0 with the other words
  // unwritten; slot 1 is being written (two-step); slot 2 is free.
  const k0 = format.kind === 'fingerprint' ? 2 : b[0]! | 0;
  T[0] = k0;
  if (S > 1) T[S] = 1;
  t.warm(b);
  T.fill(0);
  if (S > 1) {
    T[0] = 1; // being written: settle() (two-step)
    t.warm(b);
  }
  t.attach(new SharedArrayBuffer(0), 0);
}

/**
 * The home hash of the entry at a[o..]: fingerprints keep it as word 0; an
 * exact entry is hashed as the packed state, tags cleared (into `u`).
 */
function entryHome(format: SlotFormat, hash: Hash, a: Uint32Array, o: number, u: Uint32Array): number {
  if (format.kind === 'fingerprint') return a[o]!;
  if (!format.tagged) return hash(a, o, HASH_SEED);
  u[0] = a[o]!;
  for (let k = 1; k < format.W; k++) u[k] = a[o + k]! & ~TAG;
  return hash(u, 0, HASH_SEED);
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
export function rehashShare(format: SlotFormat, hash: Hash, m: { from: SharedArrayBuffer; fromCap: number; to: SharedArrayBuffer; toCap: number }, part: number, parts: number): number[] {
  const S = slotWords(format.kind, format.W);
  const u = new Uint32Array(format.W);
  const a = new Uint32Array(m.from);
  const t = new Uint32Array(m.to);
  const scale = m.toCap / 4294967296;
  const r0 = Math.floor((part * m.toCap) / parts);
  const r1 = Math.floor(((part + 1) * m.toCap) / parts);
  const s0 = Math.floor((part * m.fromCap) / parts);
  const s1 = Math.floor(((part + 1) * m.fromCap) / parts);
  const left: number[] = [];
  prefault(m.to, r0 * S * 4, r1 * S * 4);
  for (let o = s0 * S, end = s1 * S; o < end; o += S) {
    const w0 = a[o]!;
    if (w0 === 0) continue;
    let i = (entryHome(format, hash, a, o, u) * scale) >>> 0;
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
export function finishRehash(format: SlotFormat, hash: Hash, m: { from: SharedArrayBuffer; to: SharedArrayBuffer; toCap: number }, left: readonly number[]): void {
  const S = slotWords(format.kind, format.W);
  const u = new Uint32Array(format.W);
  const a = new Uint32Array(m.from);
  const t = new Uint32Array(m.to);
  const scale = m.toCap / 4294967296;
  for (const o of left) {
    let i = (entryHome(format, hash, a, o, u) * scale) >>> 0;
    while (t[i * S] !== 0) if (++i === m.toCap) i = 0;
    for (let k = 0; k < S; k++) t[i * S + k] = a[o + k]!;
  }
}
