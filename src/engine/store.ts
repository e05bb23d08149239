/**
 * The visited set for exact mode: open addressing with linear probing over one
 * Uint32Array that holds the full packed states inline (one cache miss per
 * probe), plus per-state chunked arrays in discovery order:
 *   parent[id] the state it was first reached from (-1 for the initial state),
 *   action[id] the action instance that reached it.
 * The table is only a set: the explorer keeps the BFS frontier as packed
 * states of its own (explore.ts), so there is no id -> slot array (4 bytes
 * per state saved, and growing never has to update one).
 *
 * The home slot is the hash's *high* bits, so doubling maps slot i to 2i or
 * 2i+1: the rehash reads the old table and writes the new one almost
 * sequentially. Word 0 of a stored state always has bit 31 set (layout.ts),
 * so 0 = empty. The table doubles at 70% load; a memory budget turns growth
 * into a clean "full" flag the explorer reports as an incomplete run.
 *
 * States whose words a caller needs later (violations: trace.ts verifies a
 * replay against them) are kept aside with keep(); table()/offsetOf() answer
 * for those ids only.
 *
 * The insert routine is generated with the word count unrolled.
 */

import { prefault } from './prefault.js';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
/** The flat table's load at which it doubles (the tree store writes checkpoints in this format). */
export const FLAT_MAX_LOAD = 0.7;

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
  /** Remember state `id`'s words (for table()/offsetOf()). */
  keep(id: number, b: Uint32Array, bo: number): void;
  /** The array and offset where a kept state's words can be read. */
  table(): Uint32Array;
  offsetOf(id: number): number;
  parentOf(id: number): number;
  actionOf(id: number): number;
  /** Set once growing would exceed the memory budget. */
  full(): boolean;
  stats(): StoreStats;
  /** The set and the links as arrays, for a checkpoint (checkpoint.ts); restore() puts them back into an empty store of the same kind. */
  snapshot(): StoreSnapshot;
  restore(s: StoreSnapshot): void;
  /**
   * Called after touch() with the batch's successors (out, W words each) and
   * the recent filter's dup[]: a store may do the work of the inserts to come
   * for all of them at once (tree-store.ts interns their nodes level by level).
   */
  prepare?(out: Uint32Array, dup: Uint8Array, n: number): number;
  /** A store that can name its states in fewer words than W gives the BFS frontier that form (tree-store.ts). */
  readonly frontier?: CompactFrontier;
}

/**
 * Frontier entries of two words (a tree store's root pair) instead of the
 * state's W: the explorer keeps the levels it has yet to expand in this form
 * and decodes a batch before expanding it.
 */
export interface CompactFrontier {
  /** Entries are pairs now (false once the states went to a flat table: entries are then the W words). */
  compact(): boolean;
  /** Write the pair of the state the last insert() added at f[fo], f[fo + 1]. */
  entryOfLast(f: Uint32Array, fo: number): void;
  /** Decode the n pairs at f[fo..] into states (W words each) at out[oo..]. */
  decode(f: Uint32Array, fo: number, n: number, out: Uint32Array, oo: number): void;
  /** Run `f` when the states are handed over to a flat table, before the pairs lose their meaning. */
  onHandOver(f: () => void): void;
}

export interface StoreSnapshot {
  /** The table's capacity in slots, and the states stored. */
  readonly capacity: number;
  readonly count: number;
  readonly table: Uint32Array;
  readonly parent: Int32Array;
  readonly action: Uint8Array | Uint16Array | Uint32Array;
}

export class Chunked {
  chunks: (Int32Array | Uint32Array | Uint16Array | Uint8Array)[] = [];
  constructor(private readonly make: (n: number) => Int32Array | Uint32Array | Uint16Array | Uint8Array) {}
  set(i: number, v: number): void {
    const c = i >>> CHUNK_BITS;
    while (c >= this.chunks.length) this.chunks.push(this.make(CHUNK));
    this.chunks[c]![i & (CHUNK - 1)] = v;
  }
  get(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]![i & (CHUNK - 1)]!;
  }
  /** Entries 0..n-1 as one array of the chunks' type. */
  flat(n: number): Int32Array | Uint32Array | Uint16Array | Uint8Array {
    const out = this.make(n);
    for (let c = 0; c * CHUNK < n; c++) out.set(this.chunks[c]!.subarray(0, Math.min(CHUNK, n - c * CHUNK)), c * CHUNK);
    return out;
  }
  /** Replace the contents with a flat array (the inverse of flat). */
  load(a: ArrayLike<number> & { subarray(b: number, e: number): ArrayLike<number> }, n: number): void {
    this.chunks = [];
    for (let c = 0; c * CHUNK < n; c++) {
      const ch = this.make(CHUNK);
      ch.set(a.subarray(c * CHUNK, Math.min(n, (c + 1) * CHUNK)));
      this.chunks.push(ch);
    }
  }
  bytes(): number {
    return this.chunks.reduce((a, c) => a + c.byteLength, 0);
  }
}

/** The narrowest array type for action instance ids. */
export function actionArray(actionCount: number): (n: number) => Uint8Array | Uint16Array | Uint32Array {
  return actionCount <= 0x100 ? (n) => new Uint8Array(n) : actionCount <= 0x10000 ? (n) => new Uint16Array(n) : (n) => new Uint32Array(n);
}

/** Keeps the words of a few states by id (violating states). */
export class Kept {
  private ids = new Map<number, number>();
  private buf = new Uint32Array(0);
  constructor(private readonly W: number) {}
  keep(id: number, b: Uint32Array, bo: number): void {
    if (this.ids.has(id)) return;
    const off = this.buf.length;
    const nb = new Uint32Array(off + this.W);
    nb.set(this.buf);
    for (let k = 0; k < this.W; k++) nb[off + k] = b[bo + k]!;
    this.buf = nb;
    this.ids.set(id, off);
  }
  table(): Uint32Array {
    return this.buf;
  }
  offsetOf(id: number): number {
    const o = this.ids.get(id);
    if (o === undefined) throw new Error(`state ${id} was not kept`);
    return o;
  }
}

/** The StateStore members that read per-state links and kept states. */
export type LinkAccessors = Pick<StateStore, 'keep' | 'table' | 'offsetOf' | 'parentOf' | 'actionOf'>;

/**
 * What every store keeps beside its set, in discovery order: parent[id],
 * action[id] (chunked, the narrowest array type) and the few kept states.
 */
export class Links {
  readonly parent = new Chunked((n) => new Int32Array(n));
  readonly action: Chunked;
  readonly kept: Kept;
  constructor(words: number, actionCount: number) {
    this.action = new Chunked(actionArray(actionCount));
    this.kept = new Kept(words);
  }
  bytes(): number {
    return this.parent.bytes() + this.action.bytes();
  }
  snapshot(count: number): Pick<StoreSnapshot, 'parent' | 'action'> {
    return { parent: this.parent.flat(count) as Int32Array, action: this.action.flat(count) as StoreSnapshot['action'] };
  }
  restore(s: StoreSnapshot): void {
    this.parent.load(s.parent, s.count);
    this.action.load(s.action, s.count);
  }
  accessors(): LinkAccessors {
    const { parent, action, kept } = this;
    return {
      keep: (id, b, bo) => kept.keep(id, b, bo),
      table: () => kept.table(),
      offsetOf: (id) => kept.offsetOf(id),
      parentOf: (id) => parent.get(id),
      actionOf: (id) => action.get(id),
    };
  }
}

export function createExactStore(
  words: number,
  hash: (w: Uint32Array, off: number, seed: number) => number,
  /** `links`: the per-state links and kept states to use (a tree store handing its states over keeps its own). */
  opts: { actionCount: number; memoryLimitBytes?: number; initialCapacity?: number; links?: Links },
): StateStore {
  const W = words;
  const cmp = Array.from({ length: W }, (_, k) => `tab[o + ${k}] === b[bo + ${k}]`).join(' && ');
  const put = Array.from({ length: W }, (_, k) => `tab[o + ${k}] = b[bo + ${k}];`).join(' ');
  const src = `
    let bits = initialBits, cap = 2 ** bits, shift = 32 - bits, mask = cap - 1, limit = Math.floor(cap * MAX_LOAD);
    let tab = new Uint32Array(cap * ${W});
    let count = 0, isFull = false;
    function grow() {
      const ncap = cap * 2;
      const need = ncap * ${W} * 4 + tab.byteLength + extraBytes();
      if (bits >= 31 || (memoryLimit > 0 && (need > memoryLimit || rss() + ncap * ${W} * 4 > memoryLimit))) { isFull = true; limit = Math.floor(cap * 0.9); return; }
      let nt;
      try { nt = new Uint32Array(ncap * ${W}); } catch (e) { isFull = true; limit = Math.floor(cap * 0.9); return; }
      prefault(nt.buffer);
      const nshift = shift - 1, nmask = ncap - 1;
      for (let o = 0; o < tab.length; o += ${W}) {
        if (tab[o] === 0) continue;
        let i = (hash(tab, o, SEED) >>> nshift) & nmask;
        while (nt[i * ${W}] !== 0) i = (i + 1) & nmask;
        for (let k = 0; k < ${W}; k++) nt[i * ${W} + k] = tab[o + k];
      }
      tab = nt; cap = ncap; bits++; shift = nshift; mask = nmask; limit = Math.floor(cap * MAX_LOAD);
    }
    function insert(b, bo, h, par, act) {
      let i = (h >>> shift) & mask;
      for (;;) {
        const o = i * ${W};
        if (tab[o] === 0) {
          // Full (growth refused): never fill the last free slots, or a probe
          // would not end. The explorer stops the run at once (full()).
          if (count >= cap - 2) return -1;
          ${put}
          const id = count++;
          parent.set(id, par); action.set(id, act);
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
      for (let i = 0; i < n; i++) acc |= tab[((hs[i] >>> shift) & mask) * ${W}];
      return acc;
    }
    return {
      words: ${W},
      touch,
      count: () => count,
      insert,
      ...linkAccessors,
      full: () => isFull,
      stats: () => ({ bytes: tab.byteLength + extraBytes(), capacity: cap }),
      snapshot: () => ({ capacity: cap, count, table: tab, ...links.snapshot(count) }),
      restore(sn) {
        if (sn.table.length !== sn.capacity * ${W} || (sn.capacity & (sn.capacity - 1)) !== 0) throw new Error('checkpoint: the table does not fit this state layout');
        bits = Math.log2(sn.capacity); cap = sn.capacity; shift = 32 - bits; mask = cap - 1; limit = Math.floor(cap * MAX_LOAD);
        tab = sn.table; count = sn.count; isFull = false;
        links.restore(sn);
      },
    };`;
  const links = opts.links ?? new Links(W, opts.actionCount);
  let bits = 12;
  while (2 ** bits < (opts.initialCapacity ?? 0)) bits++;
  return generatedStore(src, { initialBits: bits, MAX_LOAD: FLAT_MAX_LOAD, memoryLimit: opts.memoryLimitBytes ?? 0, hash, SEED: HASH_SEED }, links);
}

/**
 * A store whose routines are generated source (word counts unrolled, all
 * state in one scope): `own` names its constants; every store's source also
 * sees the links (parent, action, linkAccessors, links, extraBytes = their
 * bytes), prefault and rss.
 */
export function generatedStore(src: string, own: Record<string, unknown>, links: Links): StateStore {
  const env: Record<string, unknown> = {
    ...own,
    parent: links.parent,
    action: links.action,
    extraBytes: () => links.bytes(),
    linkAccessors: links.accessors(),
    prefault,
    rss: () => process.memoryUsage.rss(),
    links,
  };
  return new Function(...Object.keys(env), src)(...Object.values(env)) as StateStore;
}

export const HASH_SEED = 0x2545f491;
