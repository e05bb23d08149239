/**
 * What a multi-core run (parallel.ts) needs to write and resume checkpoints
 * in the one-thread format (checkpoint.ts), so that either kind of run goes
 * on from the other's.
 *
 * The tables are the same hash set in two encodings: both probe linearly
 * from the home slot fastrange(h, capacity) (for the one-thread exact table,
 * whose capacity is a power of two, that is h >>> (32 - bits)) with the same
 * hashes, so a slot's position carries over as it is. Only the encoding of
 * a slot differs: a tagged shared slot (shared-table.ts) stores words 1..
 * with bit 31 set. Fingerprint slots [h1, h2] are identical.
 */
import { slotWords, TAG, type SlotFormat } from './shared-table.js';

/** Set (or clear) the tag of words 1.. of every used slot of a tagged format, in place. */
function retag(format: SlotFormat, t: Uint32Array, set: boolean): void {
  if (!format.tagged) return;
  const S = slotWords(format.kind, format.W);
  for (let o = 0; o < t.length; o += S) {
    if (t[o] === 0) continue;
    for (let k = 1; k < S; k++) t[o + k] = set ? t[o + k]! | TAG : t[o + k]! & ~TAG;
  }
}

/** The shared table's slots in the one-thread store's encoding (a copy). */
export function sharedToFlat(format: SlotFormat, table: SharedArrayBuffer, cap: number): Uint32Array {
  const t = new Uint32Array(table, 0, cap * slotWords(format.kind, format.W)).slice();
  retag(format, t, false);
  return t;
}

/** A checkpoint's table as the shared table's slots (a new buffer of the same capacity). */
export function flatToShared(format: SlotFormat, table: Uint32Array, cap: number): SharedArrayBuffer {
  const n = cap * slotWords(format.kind, format.W);
  if (table.length !== n) throw new Error('checkpoint: the table does not fit this state layout');
  const buf = new SharedArrayBuffer(n * 4);
  const t = new Uint32Array(buf);
  t.set(table);
  retag(format, t, true);
  return buf;
}

/**
 * The states of a level of n still to expand, in level order: every index
 * except those before b0 and those in the [from, to) ranges of `expanded`.
 */
export function pendingOf(n: number, b0: number, expanded: Int32Array): Int32Array {
  const done = new Uint8Array(n);
  done.fill(1, 0, Math.min(b0, n));
  for (let i = 0; i + 1 < expanded.length; i += 2) done.fill(1, expanded[i]!, Math.min(expanded[i + 1]!, n));
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (!done[i]) out.push(i);
  return Int32Array.from(out);
}

/** The inverse: b0 (the first state still to expand) and the expanded ranges after it, for a level of n with `pending` (a 0/1 mask) still to expand. */
export function expandedOf(pending: Uint8Array): { b0: number; expanded: Int32Array } {
  const n = pending.length;
  let b0 = 0;
  while (b0 < n && !pending[b0]) b0++;
  const ranges: number[] = [];
  for (let i = b0; i < n; ) {
    if (pending[i]) {
      i++;
      continue;
    }
    const from = i;
    while (i < n && !pending[i]) i++;
    ranges.push(from, i);
  }
  return { b0, expanded: Int32Array.from(ranges) };
}
