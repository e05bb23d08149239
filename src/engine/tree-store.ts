/**
 * The exact visited set for states of three words or more: tree compression
 * (Blom, Lisser, van de Pol and Weber, "A database approach to distributed
 * state space generation", 2007; LTSmin's tree database). A state's W words
 * are the leaves of a balanced binary tree; every inner node below the root
 * is a pair of 32-bit values interned once in a node table and named by its
 * id, so a subtree that many states share (the page tables while the TLBs
 * change, three CPUs while the fourth moves) is stored once. The root pair
 * (left id, right id) is the state's entry in the root table, which is the
 * set itself. Per state that is
 *
 *   8 B / load (root table)  +  new inner nodes x (8 B data + 4 B / load index)
 *   +  4 B parent id  +  1 B action id (<= 256 instances)
 *
 * and successors differ from their parent in a few words, so most of their
 * inner nodes exist already (0.2 new inner nodes per state on
 * models/sync.ts N=3 P=2 OPS=2, against 24 B of words in the flat table).
 *
 * Both tables probe linearly from a home slot fastrange(mix of the pair),
 * monotone in the mix, so a rehash reads the old table and writes the new
 * one nearly in order with no decoding. The root table grows by fpGrow like
 * the fingerprint table (fingerprint-store.ts) and runs at 76-87 % load:
 * one 8-byte compare per probe. The node index holds slots (a, b, id) at
 * 40-80 % load (it doubles); the pairs are also kept by id in chunks, since
 * ids must not move, for decoding.
 *
 * An insert looks up a node per inner position, and a key depends on the
 * ids below it, so one state's lookups cannot be loaded ahead: prepare()
 * takes a whole batch of successors level by level instead, loading each
 * level's slots in one pass before probing them (overlapped cache misses),
 * then the roots' slots; insert() uses the root pairs it prepared.
 *
 * An entry is never 0: node ids start at 1, and a single-word left subtree
 * (W = 3) is word 0 of the state, whose bit 31 is always set (layout.ts).
 * States the explorer needs later (violations) are kept aside (keep()), as
 * in the flat store; snapshot() decodes the set into the flat table format
 * (store.ts), so a checkpoint does not depend on which exact store wrote it.
 */
import { FP_GROWTH, FP_MAX_LOAD, fpGrow } from './fingerprint-store.js';
import { createExactStore, FLAT_MAX_LOAD, generatedStore, HASH_SEED, Links, type StateStore, type StoreSnapshot } from './store.js';

/** The node index doubles at this load (a rehash reads every slot: growing by less costs more time than the bytes it saves). */
const NODE_MAX_LOAD = 0.8;
/** Inner node pairs are kept in chunks of this many (no copying, no slack). */
const NODE_CHUNK_BITS = 16;
/** An inner node's bytes on average: its pair and its index slot (a, b, id). */
const NODE_BYTES = 8 + 12 / ((NODE_MAX_LOAD + NODE_MAX_LOAD / 2) / 2);
/**
 * Between these counts, each time the root table grows, the store compares
 * its average bytes per state with the flat table's and hands its states
 * over to a flat store when it would not save a fifth: words whose values
 * do not repeat across states (a layout whose every word changes together)
 * make as many inner nodes as states. The choice depends only on the states
 * inserted, so a run is as reproducible as with either store alone.
 */
const HAND_OVER_FROM = 1 << 16;
const HAND_OVER_UNTIL = 1 << 22;
const HAND_OVER_AT = 0.8;

/** The tree over words lo..hi-1: a leaf (one word) or a pair of subtrees split at the middle. */
export type Tree = { readonly lo: number; readonly hi: number; readonly left?: Tree; readonly right?: Tree };

/**
 * Words paired bottom-up, (w0 w1) (w2 w3) ..., then those pairs paired, and
 * so on: the left subtree covers the largest power of two of words below W.
 */
export function treeOf(lo: number, hi: number): Tree {
  if (hi - lo === 1) return { lo, hi };
  let half = 1;
  while (half * 2 < hi - lo) half *= 2;
  return { lo, hi, left: treeOf(lo, lo + half), right: treeOf(lo + half, hi) };
}

/** A 32-bit mix of a pair (murmur3's finaliser over a ^ rotated b). */
export function mixPair(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ ((b << 13) | (b >>> 19));
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function createTreeStore(
  words: number,
  hash: (w: Uint32Array, off: number, seed: number) => number,
  opts: { actionCount: number; memoryLimitBytes?: number; initialCapacity?: number },
): StateStore {
  if (words < 3) throw new RangeError(`tree store: ${words} words (needs at least 3; use the flat store)`);
  const W = words;
  const root = treeOf(0, W);
  // Generated with the tree unrolled: insert computes the inner node ids
  // bottom-up, decode walks them top-down.
  const enc: string[] = [];
  let nv = 0;
  // Each inner position remembers its last pair and id: consecutive inserts
  // are successors of one state and share most subtrees, found without a probe.
  const memo: string[] = [];
  const encode = (t: Tree): string => {
    if (!t.left || !t.right) return `b[bo + ${t.lo}]`;
    const l = encode(t.left);
    const r = encode(t.right);
    const v = `n${nv++}`;
    memo.push(`let ${v}a = 0, ${v}b = 0, ${v}i = 0;`);
    enc.push(
      `const ${v}l = ${l}, ${v}r = ${r};`,
      `if (${v}l !== ${v}a || ${v}r !== ${v}b || ${v}i === 0) { ${v}i = node(${v}l, ${v}r); if (${v}i === 0) return -1; ${v}a = ${v}l; ${v}b = ${v}r; }`,
      `const ${v} = ${v}i;`,
    );
    return v;
  };
  const rootL = encode(root.left!);
  const rootR = encode(root.right!);
  const dec: string[] = [];
  let dv = 0;
  const decode = (t: Tree, v: string): void => {
    if (!t.left || !t.right) {
      dec.push(`out[oo + ${t.lo}] = ${v};`);
      return;
    }
    const l = `d${dv++}`;
    const r = `d${dv++}`;
    dec.push(`const ${l} = pairA(${v}), ${r} = pairB(${v});`);
    decode(t.left, l);
    decode(t.right, r);
  };
  decode(root.left!, 'L');
  decode(root.right!, 'R');
  // The inner positions for prepare(), lowest first: a child is a position
  // (>= 0) or word -(c + 1).
  const posL: number[] = [];
  const posR: number[] = [];
  const height: number[] = [];
  const place = (t: Tree): { c: number; h: number } => {
    if (!t.left || !t.right) return { c: -(t.lo + 1), h: 0 };
    const l = place(t.left);
    const r = place(t.right);
    posL.push(l.c);
    posR.push(r.c);
    height.push(Math.max(l.h, r.h) + 1);
    return { c: posL.length - 1, h: height[height.length - 1]! };
  };
  const rootLc = place(root.left!).c;
  const rootRc = place(root.right!).c;
  const levelOrder = [...posL.keys()].sort((a, b) => height[a]! - height[b]! || a - b);

  const cap0 = Math.max(4096, Math.ceil((opts.initialCapacity ?? 0) / FP_MAX_LOAD));
  const src = `
    // ---- inner nodes: their pairs by id (id 0 unused) in chunks, for decoding,
    // and an index of slots (a, b, id) for interning (one cache line per probe)
    let nd = [], nodes = 0;
    const CH = 2 ** NODE_CHUNK_BITS, CM = CH - 1;
    const pairA = (id) => nd[id >>> NODE_CHUNK_BITS][(id & CM) * 2];
    const pairB = (id) => nd[id >>> NODE_CHUNK_BITS][(id & CM) * 2 + 1];
    let ncap = 4096, nscale = ncap / 4294967296, nlimit = Math.floor(ncap * NODE_MAX_LOAD);
    let ni = new Uint32Array(ncap * 3);
    // ---- roots: pairs (L, R) inline, home slot by a mix of the pair
    let cap = cap0, scale = cap / 4294967296, limit = Math.floor(cap * MAX_LOAD);
    let rt = new Uint32Array(cap * 2);
    let count = 0, isFull = false;
    ${memo.join(' ')}
    const bytes = () => nd.length * CH * 8 + ni.byteLength + rt.byteLength + extraBytes();
    // Growing by \`grow\` bytes would pass the memory budget (refused growth sets isFull).
    const refuse = (grow) => memoryLimit > 0 && (bytes() + grow > memoryLimit || rss() + grow > memoryLimit);
    function growIndex() {
      const c2 = ncap * 2;
      if (refuse(c2 * 12)) { isFull = true; nlimit = ncap - 2; return; }
      let t;
      try { t = new Uint32Array(c2 * 3); } catch (e) { isFull = true; nlimit = ncap - 2; return; }
      const s2 = c2 / 4294967296;
      for (let o = 0; o < ni.length; o += 3) {
        if (ni[o + 2] === 0) continue;
        const a = ni[o], b = ni[o + 1];
        let j = (mix(a, b) * s2) >>> 0;
        while (t[j * 3 + 2] !== 0) if (++j === c2) j = 0;
        t[j * 3] = a; t[j * 3 + 1] = b; t[j * 3 + 2] = ni[o + 2];
      }
      ni = t; ncap = c2; nscale = s2; nlimit = Math.floor(ncap * NODE_MAX_LOAD);
      epoch++;
    }
    // ---- batched interning (prepare): a batch's successors level by level,
    // each level's home slots loaded in one pass before its probes, so the
    // cache misses of different successors overlap (as the explorer's touch
    // pass does for the roots). insert() then takes the roots from here.
    let epoch = 0, gen = 0, preOut = null, room = 0;
    let idx = new Int32Array(0), preGen = new Int32Array(0), preL = new Uint32Array(0), preR = new Uint32Array(0);
    let va = new Uint32Array(0), vb = new Uint32Array(0), home = new Uint32Array(0), ids = new Uint32Array(0);
    const P = posL.length, SAME = 0xffffffff;
    function prepare(out, dup, n) {
      if (flat !== null) return;
      if (n > room) {
        room = n;
        idx = new Int32Array(n); preGen = new Int32Array(n); preL = new Uint32Array(n); preR = new Uint32Array(n);
        va = new Uint32Array(n); vb = new Uint32Array(n); home = new Uint32Array(n); ids = new Uint32Array(n * P);
      }
      gen++;
      preOut = out;
      let m = 0;
      for (let i = 0; i < n; i++) if (dup[i] !== 1) idx[m++] = i;
      const child = (c, k) => (c < 0 ? out[idx[k] * ${W} - c - 1] : ids[c * room + k]);
      let sink = 0;
      for (let q = 0; q < P; q++) {
        const p = levelOrder[q], cl = posL[p], cr = posR[p], base = p * room;
        // Siblings come one after another and share most subtrees: a pair
        // equal to the one before it takes its id (home SAME), no probe.
        for (let k = 0; k < m; k++) {
          const a = child(cl, k), b = child(cr, k);
          va[k] = a; vb[k] = b; // every k's own pair, so k + 1 compares with the right one
          if (k > 0 && a === va[k - 1] && b === vb[k - 1]) { home[k] = SAME; continue; }
          const hm = (mix(a, b) * nscale) >>> 0;
          home[k] = hm;
          sink |= ni[hm * 3 + 2];
        }
        const ep = epoch;
        for (let k = 0; k < m; k++) {
          if (home[k] === SAME) { ids[base + k] = ids[base + k - 1]; continue; }
          const id = epoch === ep ? nodeAt(va[k], vb[k], home[k]) : node(va[k], vb[k]);
          if (id === 0) return sink; // full: insert() finds out itself
          ids[base + k] = id;
        }
      }
      for (let k = 0; k < m; k++) {
        const i = idx[k], L = child(rootLc, k), R = child(rootRc, k);
        preL[i] = L; preR[i] = R; preGen[i] = gen;
        sink |= rt[((mix(L, R) * scale) >>> 0) * 2];
      }
      return sink;
    }
    // The id of pair (a, b), interned on first sight; 0 = the node table is full.
    function node(a, b) {
      return nodeAt(a, b, (mix(a, b) * nscale) >>> 0);
    }
    // node(a, b) probing from slot i, its home under the current index size.
    function nodeAt(a, b, i) {
      for (;;) {
        const o = i * 3;
        const id = ni[o + 2];
        if (id === 0) {
          if (nodes >= nlimit) {
            if (isFull) return 0;
            growIndex();
            if (isFull) return 0;
            return node(a, b);
          }
          const nid = nodes + 1;
          if (nid >>> NODE_CHUNK_BITS >= nd.length) {
            if (refuse(CH * 8)) { isFull = true; return 0; }
            nd.push(new Uint32Array(CH * 2));
          }
          nodes = nid;
          const c = nd[nid >>> NODE_CHUNK_BITS], co = (nid & CM) * 2;
          c[co] = a; c[co + 1] = b;
          ni[o] = a; ni[o + 1] = b; ni[o + 2] = nid;
          return nid;
        }
        if (ni[o] === a && ni[o + 1] === b) return id;
        if (++i === ncap) i = 0;
      }
    }
    function growRoots() {
      const c2 = nextCap(cap);
      if (refuse(c2 * 8)) { isFull = true; limit = Math.floor(cap * 0.97); return; }
      let t;
      try { t = new Uint32Array(c2 * 2); } catch (e) { isFull = true; limit = Math.floor(cap * 0.97); return; }
      prefault(t.buffer);
      const s2 = c2 / 4294967296;
      for (let o = 0; o < rt.length; o += 2) {
        const L = rt[o];
        if (L === 0) continue;
        const R = rt[o + 1];
        let j = (mix(L, R) * s2) >>> 0;
        while (t[j * 2] !== 0) if (++j === c2) j = 0;
        t[j * 2] = L; t[j * 2 + 1] = R;
      }
      rt = t; cap = c2; scale = s2; limit = Math.floor(cap * MAX_LOAD);
      considerHandOver();
    }
    // ---- the flat store takes over when sharing does not pay (see the header)
    let flat = null;
    let lastL = 0, lastR = 0;
    function considerHandOver() {
      if (flat !== null || count < HAND_OVER_FROM || count > HAND_OVER_UNTIL) return;
      const treePerState = ROOT_BYTES + (nodes / count) * NODE_BYTES;
      if (treePerState <= HAND_OVER_AT * FLAT_BYTES) return;
      // The flat table is built beside this one: only within the budget.
      if (memoryLimit > 0 && rss() + (count / FLAT_MAX_LOAD) * 2 * ${W} * 4 > memoryLimit) return;
      handOver();
    }
    let handOverHooks = [];
    function handOver() {
      for (const f of handOverHooks) f();
      const sn = snapshot();
      const f = makeFlat(links);
      f.restore(sn);
      flat = f;
      nd = []; ni = new Uint32Array(0); rt = new Uint32Array(0);
    }
    function insert(b, bo, h, par, act) {
      if (flat !== null) return flat.insert(b, bo, h, par, act);
      let L, R;
      const si = (bo / ${W}) | 0;
      if (b === preOut && si < room && preGen[si] === gen) { L = preL[si]; R = preR[si]; }
      else {
        ${enc.join('\n        ')}
        L = ${rootL}; R = ${rootR};
      }
      let i = (mix(L, R) * scale) >>> 0;
      for (;;) {
        const o = i * 2;
        const x = rt[o];
        if (x === 0) {
          // Full (growth refused): keep the last free slots free, so probes end.
          if (count >= cap - 2) return -1;
          rt[o] = L; rt[o + 1] = R;
          lastL = L; lastR = R;
          const id = count++;
          parent.set(id, par); action.set(id, act);
          if (count > limit && !isFull) growRoots();
          return id;
        }
        if (x === L && rt[o + 1] === R) return -1;
        if (++i === cap) i = 0;
      }
    }
    function decodeRoot(L, R, out, oo) {
      ${dec.join('\n      ')}
    }
    // The root's home depends on its pair, not on the state's hash: prepare() loads it.
    function touch(hs, n) {
      if (flat !== null) return flat.touch(hs, n);
      return 0;
    }
    function snapshot() {
      if (flat !== null) return flat.snapshot();
      // The flat table of store.ts: power-of-two capacity, home slot = the hash's high bits.
      let bits = 12;
      while (2 ** bits * FLAT_MAX_LOAD < count) bits++;
      const fcap = 2 ** bits, shift = 32 - bits, mask = fcap - 1;
      const table = new Uint32Array(fcap * ${W});
      const w = new Uint32Array(${W});
      for (let o = 0; o < rt.length; o += 2) {
        if (rt[o] === 0) continue;
        decodeRoot(rt[o], rt[o + 1], w, 0);
        let i = (hash(w, 0, SEED) >>> shift) & mask;
        while (table[i * ${W}] !== 0) i = (i + 1) & mask;
        table.set(w, i * ${W});
      }
      return { capacity: fcap, count, table, ...links.snapshot(count) };
    }
    function restore(sn) {
      if (flat !== null) return flat.restore(sn);
      if (sn.table.length !== sn.capacity * ${W}) throw new Error('checkpoint: the table does not fit this state layout');
      const n = sn.count;
      // The table is read in home-slot order, so these inserts come sorted
      // by hash: into a table still growing they would pile up in one run
      // of slots (quadratic probing). Size it for all of them first.
      if (n > limit) {
        cap = Math.ceil(n / (MAX_LOAD * 0.9)); scale = cap / 4294967296; limit = Math.floor(cap * MAX_LOAD);
        rt = new Uint32Array(cap * 2);
      }
      let put = 0;
      for (let o = 0; o < sn.table.length; o += ${W}) {
        if (sn.table[o] === 0) continue;
        if (insert(sn.table, o, hash(sn.table, o, SEED), -1, 0) < 0) throw new Error('checkpoint: a state is stored twice');
        put++;
      }
      if (put !== n) throw new Error('checkpoint: ' + put + ' states in the table, ' + n + ' in its header');
      count = n;
      links.restore(sn);
      considerHandOver();
    }
    return {
      words: ${W},
      touch,
      count: () => (flat !== null ? flat.count() : count),
      insert,
      prepare,
      ...linkAccessors,
      full: () => (flat !== null ? flat.full() : isFull),
      stats: () => (flat !== null ? flat.stats() : { bytes: bytes(), capacity: cap }),
      snapshot,
      restore,
      decodeAll(f) {
        const w = new Uint32Array(${W});
        for (let o = 0; o < rt.length; o += 2) if (rt[o] !== 0) { decodeRoot(rt[o], rt[o + 1], w, 0); f(w); }
      },
      nodeCount: () => nodes,
      handedOver: () => flat !== null,
      frontier: {
        compact: () => flat === null,
        entryOfLast(f, fo) { f[fo] = lastL; f[fo + 1] = lastR; },
        decode(f, fo, n, out, oo) {
          for (let i = 0; i < n; i++) decodeRoot(f[fo + 2 * i], f[fo + 2 * i + 1], out, oo + i * ${W});
        },
        onHandOver(f) { handOverHooks.push(f); },
      },
    };`;
  const links = new Links(W, opts.actionCount);
  const makeFlat = (l: Links) => createExactStore(W, hash, { actionCount: opts.actionCount, memoryLimitBytes: opts.memoryLimitBytes, links: l });
  return generatedStore(
    src,
    {
      cap0,
      MAX_LOAD: FP_MAX_LOAD,
      NODE_MAX_LOAD,
      FLAT_MAX_LOAD,
      nextCap: fpGrow,
      memoryLimit: opts.memoryLimitBytes ?? 0,
      hash,
      SEED: HASH_SEED,
      mix: mixPair,
      NODE_CHUNK_BITS,
      posL,
      posR,
      levelOrder,
      rootLc,
      rootRc,
      makeFlat,
      HAND_OVER_FROM,
      HAND_OVER_UNTIL,
      HAND_OVER_AT,
      ROOT_BYTES: 8 / ((FP_MAX_LOAD + FP_MAX_LOAD / FP_GROWTH) / 2),
      NODE_BYTES,
      FLAT_BYTES: (W * 4) / ((FLAT_MAX_LOAD + FLAT_MAX_LOAD / 2) / 2),
    },
    links,
  );
}

/** What a tree store has beyond StateStore (tests and the bench look inside). */
export interface TreeStoreInternals {
  /** Every stored state's words (before a hand-over only). */
  decodeAll(f: (w: Uint32Array) => void): void;
  nodeCount(): number;
  /** The states went to a flat store (sharing did not pay). */
  handedOver(): boolean;
}

export type { StoreSnapshot };
