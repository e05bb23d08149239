/**
 * The first half of the explorer's inner loop, shared by the single-threaded
 * explorer (explore.ts) and every participant of a multi-core run
 * (parallel-round.ts): expand a batch of frontier states into one buffer of
 * packed successors, canonicalise them under symmetry, hash them, drop those
 * a recent lookup already saw (recent-filter.ts) and touch the home slots of
 * the rest, so that the visited-set probes that follow (in order, by the
 * caller) mostly hit the cache.
 */
import type { CompiledModel } from './compile.js';
import { createRecentFilter } from './recent-filter.js';
import { HASH_SEED } from './store.js';
import { makeCanonicalizer, symmetryChecker } from './symmetry.js';
import { BAIL, type BitExpand, type BitInvariants } from './tabulate.js';

/**
 * States whose tabulated successors (tabulate.ts) are cross-checked against
 * the view path: the first CHECK_FIRST of a batch object's life, then one in
 * CHECK_EVERY. A mismatch (a guard or effect that depends on something
 * besides the state) drops the tables for the rest of the run.
 */
const CHECK_FIRST = 512;
const CHECK_EVERY = 4096;
/**
 * States expanded through the views before the model is tabulated: building
 * the tables costs up to a few hundred ms on the TLB models (tabulate.ts),
 * which only a long run pays back; the benchmark model takes ~3 ms. So a
 * first, cheap attempt (at most TABULATE_EARLY_NODES tree nodes, a few ms)
 * is made after the first batch (TABULATE_EARLY states), and the full one
 * after TABULATE_AFTER: a small model skips nearly all of the view path's
 * JIT warm-up, a large one pays only on long runs. After the first batch
 * rather than after 1,000 states, N=5 P=2 K=1 sync is ~5 % faster
 * (docs/performance.md, "Tabulated successors").
 */
export const TABULATE_AFTER = 20000;
const TABULATE_EARLY_NODES = 1000;

/**
 * States expanded together: their successors are hashed and their home slots
 * touched in one pass. 96 beat 48 by 2-10 % in 10 of 11 side-by-side runs
 * on the benchmark (and 24 or 192 did not).
 */
export const BATCH = 96;
/**
 * A batch's successor buffer holds at most this many words: a model with
 * hundreds of fields and actions expands fewer states per batch (down to
 * one), so a batch stays a bounded piece of work and memory. Every shipped
 * model keeps the full BATCH (actions × words ≤ 1,000).
 */
const BATCH_WORDS = 1 << 17;
/** A batch that took longer than this halves Batch.size (one under an eighth of it doubles it back): the explorers look at their limits between batches. */
const BATCH_MS = 10;
/** The cheap tabulation attempt comes after the first batch (see TABULATE_AFTER). */
const TABULATE_EARLY = BATCH;

/** An effect wrote a value outside its leaf's declared range (while expanding state `Batch.at`). */
export class RangeFault extends Error {
  constructor(
    readonly instance: number,
    readonly leaf: number,
  ) {
    super(`action instance ${instance} wrote leaf ${leaf} outside its declared range`);
  }
}

/** An effect replaced one of the view's arrays instead of writing into it. */
export class ShapeFault extends Error {
  constructor() {
    super('an effect replaced an array of the state');
  }
}

export interface Batch {
  /** Successors of the last batch: W words each, the action instance that made it, its hash, 1 = certainly visited. */
  readonly out: Uint32Array;
  readonly ks: Uint32Array;
  readonly hs: Uint32Array;
  readonly dup: Uint8Array;
  /** ends[j - b0] = index in out after the successors of state j. */
  readonly ends: Int32Array;
  /**
   * Expand states b0..b1-1 of `cur` (ids idBase + j); returns the number of
   * successors. While it runs, `at` is the state being expanded, so a caller
   * catching a model's exception knows which one threw.
   */
  expand(cur: Uint32Array, b0: number, b1: number, idBase: number): number;
  /** Hash the n successors, mark recent duplicates in dup[], touch the others' home slots with `touch`. */
  prepareLookups(n: number, touch: (hs: Uint32Array, n: number) => number): void;
  /**
   * Resize the recent-duplicate filter to `bytes` (sized by
   * recent-filter.ts: recentFilterBytesFor, filterBytesWithin). Cheap to
   * call often: it allocates only when the size changes.
   */
  fitFilter(bytes: number): void;
  /** Bytes the recent-duplicate filter takes. */
  filterBytes(): number;
  /**
   * The invariants on the new state at w[o..] through the tabulated checks:
   * -1 = not known here (no tables yet, or a case fails or threw), so the
   * caller checks it on a view; else the mask of invariants whose premise
   * holds (bit i = invariant i). Cross-checked against the views like the
   * successors.
   */
  invariantsHold(w: Uint32Array, o: number): number;
  at: number;
  /** States to expand per call (≤ BATCH): smaller for wide states, halved while a batch takes over BATCH_MS, grown back when fast. */
  size: number;
}

export function createBatch(model: CompiledModel, sym: ReturnType<typeof makeCanonicalizer>, tabulateAfter = TABULATE_AFTER): Batch {
  const { layout, expand } = model;
  const W = layout.words;
  const nInst = model.instances.length;
  const hash = layout.hash;
  const base = layout.makeView();
  const work = layout.makeView();
  const shape = layout.containers(work);
  const size = Math.max(1, Math.min(BATCH, Math.floor(BATCH_WORDS / (Math.max(nInst, 1) * Math.max(W, 1)))));
  const maxSucc = Math.max(nInst, 1) * size;
  const out = new Uint32Array(maxSucc * W);
  const ks = new Uint32Array(maxSucc);
  const hs = new Uint32Array(maxSucc);
  const dup = new Uint8Array(maxSucc);
  const miss = new Uint32Array(maxSucc);
  const ends = new Int32Array(size);
  const fault = new Int32Array(2);
  const recent = createRecentFilter(W);
  let bits: BitExpand | undefined;
  /** bits / invBits are the lazily grown tables (the whole trees may still come). */
  let lazyBits = false;
  let lazyInv = false;
  let expanded = 0;
  /** Tabulation is over: tried with the full budget, or both tables built (a table dropped after a mismatch stays dropped). */
  let settled = false;
  let dropped = false;
  let invDropped = false;
  const early = tabulateAfter === Infinity ? Infinity : Math.min(TABULATE_EARLY, tabulateAfter);
  const vout = new Uint32Array(Math.max(nInst, 1) * W);
  const vks = new Uint32Array(Math.max(nInst, 1));
  let checked = 0;
  let invBits: BitInvariants | undefined;
  let invChecked = 0;
  const invView = layout.makeView();
  const holds = model.invariants.map((i) => i.holds);
  const premises = model.invariants.map((i) => i.premise);
  /** The view path's answer in BitInvariants' terms. */
  const viaViewsInv = (w: Uint32Array, o: number): number => {
    layout.unpack(w, o, invView);
    let m = 0;
    for (let i = 0; i < holds.length; i++) if (!holds[i]!(invView)) return -1;
    for (let i = 0; i < premises.length; i++) if (premises[i]?.(invView)) m |= 1 << i;
    return m;
  };
  /** The view path's successors of the state at cur[co..] into out[n0..]; returns the new count. */
  const viaViews = (cur: Uint32Array, co: number, o: Uint32Array, k: Uint32Array, n0: number): number => {
    layout.unpack2(cur, co, base, work);
    const n = expand(base, work, cur, co, o, k, fault, n0);
    if (n < 0) throw new RangeFault(fault[0]!, fault[1]!);
    return n;
  };
  /** Do the tabulated successors of state cur[co..] (out[n0..n)) equal the view path's? */
  const agrees = (cur: Uint32Array, co: number, n0: number, n: number): boolean => {
    const m = viaViews(cur, co, vout, vks, 0);
    if (m !== n - n0) return false;
    for (let i = 0; i < m; i++) if (vks[i] !== ks[n0 + i]) return false;
    for (let i = 0; i < m * W; i++) if (vout[i] !== out[n0 * W + i]) return false;
    return true;
  };
  // Symmetry is only sound when the model is invariant under the
  // permutations: sampled states are checked (symmetry.ts).
  const checkSymmetry = sym ? symmetryChecker(layout, sym, expand, invariantsOf(model), nInst) : undefined;
  const sameShape = (): boolean => {
    const now = layout.containers(work);
    return now.length === shape.length && now.every((x, i) => x === shape[i]);
  };
  const batch: Batch = {
    out,
    ks,
    hs,
    dup,
    ends,
    at: 0,
    size,
    expand(cur, b0, b1, idBase) {
      const t0 = performance.now();
      let total = 0;
      if (!settled && expanded >= early) {
        // The cheap attempt, then (for what it did not tabulate) the full
        // one; the model caches the tables and the budgets it tried. Until
        // the whole trees are built (or for good when they are past the
        // budget), the lazily grown ones stand in (lazy-tables.ts).
        const full = expanded >= tabulateAfter;
        const budget = full ? undefined : TABULATE_EARLY_NODES;
        const lazy = model.lazyTabulated();
        if ((!bits || lazyBits) && !dropped) {
          const eager = model.tabulated(budget);
          if (eager) [bits, lazyBits] = [eager, false];
          else if (!bits && lazy) [bits, lazyBits] = [lazy.expand, true];
        }
        if ((!invBits || lazyInv) && !invDropped) {
          const eager = model.tabulatedInvariants(budget);
          if (eager) [invBits, lazyInv] = [eager, false];
          else if (!invBits && lazy?.invariants) [invBits, lazyInv] = [lazy.invariants, true];
        }
        settled = full || (bits !== undefined && !lazyBits && invBits !== undefined && !lazyInv);
      }
      expanded += b1 - b0;
      for (let j = b0; j < b1; j++) {
        batch.at = j;
        if (bits) {
          const n = bits(cur, j * W, out, ks, total);
          if (n !== BAIL) {
            if (checked < CHECK_FIRST || checked % CHECK_EVERY === 0) {
              if (!agrees(cur, j * W, total, n)) {
                model.tabulationMiss(JSON.stringify(layout.toPlain(base)));
                bits = undefined;
                dropped = true;
              }
            }
            checked++;
            if (bits) {
              ends[j - b0] = total = n;
              continue;
            }
          }
        }
        total = viaViews(cur, j * W, out, ks, total);
        ends[j - b0] = total;
      }
      if (!sameShape()) throw new ShapeFault();
      if (sym) {
        checkSymmetry!(cur, b0, b1, idBase + b0);
        for (let i = 0; i < total; i++) sym.canon(out, i * W, out, i * W);
      }
      // Halve while batches are slow (wide states); grow back once they are
      // fast again, so one pause (a GC, the VM host) does not shrink them for good.
      const dt = performance.now() - t0;
      if (dt > BATCH_MS) batch.size = Math.max(1, batch.size >> 1);
      else if (dt < BATCH_MS / 8 && batch.size < size) batch.size = Math.min(size, batch.size * 2);
      return total;
    },
    prepareLookups(n, touch) {
      for (let i = 0; i < n; i++) hs[i] = hash(out, i * W, HASH_SEED);
      touch(miss, recent.filter(out, hs, n, dup, miss));
    },
    fitFilter(bytes) {
      recent.resize(bytes);
    },
    filterBytes: () => recent.bytes(),
    invariantsHold(w, o) {
      if (!invBits) return -1;
      const r = invBits(w, o);
      if (r >= 0 && (invChecked++ < CHECK_FIRST || invChecked % CHECK_EVERY === 0)) {
        let v: number;
        try {
          v = viaViewsInv(w, o);
        } catch {
          v = -1;
        }
        if (v !== r) {
          layout.unpack(w, o, invView);
          model.invariantTabulationMiss(JSON.stringify(layout.toPlain(invView)));
          invBits = undefined;
          invDropped = true;
          return -1;
        }
      }
      return r;
    },
  };
  return batch;
}

/** Add a BitInvariants premise mask (bit i = invariant i's premise holds) to per-invariant counts. */
export function countPremiseMask(mask: number, counts: number[]): void {
  for (let i = 0; i < counts.length; i++) if (mask & (1 << i)) counts[i]!++;
}

const invariantsOf = (model: CompiledModel) => model.invariants.map((i) => i.holds);
