/**
 * The tree-compressed exact store (src/engine/tree-store.ts) against the flat
 * one (store.ts): the same answers to every insert (new id or duplicate), the
 * same set when decoded, checkpoints that either store can restore, a memory
 * budget that makes it full instead of crashing, and on shipped models the
 * same search (counts, depth, violations, traces) at half the bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import syncModel from '../models/sync.ts';
import asyncModel from '../models/async.ts';
import concurrentModel from '../models/concurrent.ts';
import { instantiate } from '../src/index.ts';
import { check } from '../src/index.ts';
import { explore } from '../src/engine/explore.ts';
import { compileLayout } from '../src/engine/layout.ts';
import { createExactStore, HASH_SEED, type StateStore } from '../src/engine/store.ts';
import { createTreeStore, treeOf, type Tree, type TreeStoreInternals } from '../src/engine/tree-store.ts';
import { array, int } from '../src/engine/types.ts';

const layoutOf = (W: number) => compileLayout({ x: array(W, int(0, 2 ** 31 - 1)) });

/** Every state of a store, as sorted strings. */
function contents(st: StateStore): string[] {
  const sn = st.snapshot();
  const W = st.words;
  const out: string[] = [];
  for (let o = 0; o < sn.table.length; o += W) if (sn.table[o] !== 0) out.push(Array.from(sn.table.subarray(o, o + W)).join(','));
  return out.sort();
}

const leaves = (t: Tree): number[] => (t.left && t.right ? [...leaves(t.left), ...leaves(t.right)] : [t.lo]);

describe('tree store', () => {
  it('pairs words bottom-up: every word is one leaf, in order, and the left subtree is a power of two', () => {
    for (let W = 2; W <= 40; W++) {
      const t = treeOf(0, W);
      expect(leaves(t)).toEqual([...Array(W).keys()]);
      const half = t.left!.hi - t.left!.lo;
      expect(half & (half - 1)).toBe(0);
      expect(half).toBeLessThan(W);
      expect(half * 2).toBeGreaterThanOrEqual(W);
    }
  });

  it('answers every insert as the flat store does (ids in order, duplicates -1), and decodes to the same set', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 12 }),
        // Few distinct values per word, so subtrees are shared and states repeat.
        fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 12, maxLength: 12 }), { minLength: 1, maxLength: 400 }),
        (W, rows) => {
          const { hash } = layoutOf(W);
          const tree = createTreeStore(W, hash, { actionCount: 7 });
          const flat = createExactStore(W, hash, { actionCount: 7 });
          const b = new Uint32Array(W);
          rows.forEach((r, i) => {
            for (let k = 0; k < W; k++) b[k] = r[k]! * 0x01010101;
            b[0] = (b[0]! | 0x80000000) >>> 0;
            const h = hash(b, 0, HASH_SEED);
            const a = tree.insert(b, 0, h, i - 1, i % 7);
            expect(a).toBe(flat.insert(b, 0, h, i - 1, i % 7));
          });
          expect(tree.count()).toBe(flat.count());
          for (let id = 0; id < tree.count(); id++) {
            expect(tree.parentOf(id)).toBe(flat.parentOf(id));
            expect(tree.actionOf(id)).toBe(flat.actionOf(id));
          }
          expect(contents(tree)).toEqual(contents(flat));
          const seen: string[] = [];
          (tree as StateStore & TreeStoreInternals).decodeAll((w) => seen.push(Array.from(w).join(',')));
          expect(seen.sort()).toEqual(contents(flat));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('prepare() (a batch interned level by level) changes no answer: batches with skipped (dup) successors, siblings alike', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 11 }),
        fc.array(fc.tuple(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 11, maxLength: 11 }), fc.boolean()), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 40 }),
        (W, rows, batchSize) => {
          const { hash } = layoutOf(W);
          const tree = createTreeStore(W, hash, { actionCount: 3 });
          const flat = createExactStore(W, hash, { actionCount: 3 });
          for (let s = 0; s < rows.length; s += batchSize) {
            const part = rows.slice(s, s + batchSize);
            const out = new Uint32Array(part.length * W);
            const dup = new Uint8Array(part.length);
            part.forEach(([r, skip], i) => {
              for (let k = 0; k < W; k++) out[i * W + k] = r[k]! * 0x01000193;
              out[i * W] = (out[i * W]! | 0x80000000) >>> 0;
              dup[i] = skip ? 1 : 0;
            });
            tree.prepare!(out, dup, part.length);
            part.forEach((_, i) => {
              if (dup[i] === 1) return;
              const h = hash(out, i * W, HASH_SEED);
              expect(tree.insert(out, i * W, h, s + i, i % 3)).toBe(flat.insert(out, i * W, h, s + i, i % 3));
            });
          }
          expect(contents(tree)).toEqual(contents(flat));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('grows through 200,000 states with fewer bytes than the flat table, and a checkpoint of either restores into the other', () => {
    const W = 6;
    const { hash } = layoutOf(W);
    const tree = createTreeStore(W, hash, { actionCount: 10 });
    const flat = createExactStore(W, hash, { actionCount: 10 });
    const b = new Uint32Array(W);
    const n = 200_000;
    let wrongIds = 0;
    for (let i = 0; i < n; i++) {
      // Words 0-3 vary slowly (shared subtrees), 4-5 fast: as a model's page tables and TLBs do.
      b[0] = 0x80000000 | (i >>> 12);
      b[1] = 7;
      b[2] = (i >>> 8) & 3;
      b[3] = 1;
      b[4] = i & 0xff;
      b[5] = (i * 2654435761) >>> 28;
      const h = hash(b, 0, HASH_SEED);
      if (tree.insert(b, 0, h, i - 1, i % 10) !== i) wrongIds++;
      flat.insert(b, 0, h, i - 1, i % 10);
    }
    expect(wrongIds).toBe(0);
    b[0] = 0x80000000;
    b.fill(0, 1);
    b[1] = 7;
    b[3] = 1;
    b[5] = 0;
    expect(tree.insert(b, 0, hash(b, 0, HASH_SEED), 0, 0)).toBe(-1);
    expect(tree.stats().bytes).toBeLessThan(flat.stats().bytes * 0.6);
    expect(tree.stats().bytes / n).toBeLessThan(30);

    const fromTree = createExactStore(W, hash, { actionCount: 10 });
    fromTree.restore(tree.snapshot());
    const fromFlat = createTreeStore(W, hash, { actionCount: 10 });
    fromFlat.restore(flat.snapshot());
    for (const st of [fromTree, fromFlat]) {
      expect(st.count()).toBe(n);
      expect(st.parentOf(177_777)).toBe(177_776);
      expect(st.actionOf(177_777)).toBe(7);
      expect(st.insert(b, 0, hash(b, 0, HASH_SEED), 0, 0)).toBe(-1);
    }
    expect(contents(fromFlat)).toEqual(contents(flat));
  });

  it('hands its states to a flat store when sharing does not pay, and goes on with the same answers', () => {
    // Every word changes with every state: as many inner nodes as states.
    const W = 4;
    const { hash } = layoutOf(W);
    const tree = createTreeStore(W, hash, { actionCount: 10 }) as StateStore & TreeStoreInternals;
    const flat = createExactStore(W, hash, { actionCount: 10 });
    const b = new Uint32Array(W);
    const n = 150_000;
    let differ = 0;
    tree.keep(5, new Uint32Array([0x80000005, 1, 2, 3]), 0);
    for (let i = 0; i < n; i++) {
      b[0] = 0x80000000 | i;
      b[1] = Math.imul(i, 0x9e3779b1) >>> 0;
      b[2] = Math.imul(i, 0x85ebca6b) >>> 0;
      b[3] = Math.imul(i, 0xc2b2ae35) >>> 0;
      const h = hash(b, 0, HASH_SEED);
      if (tree.insert(b, 0, h, i - 1, i % 10) !== flat.insert(b, 0, h, i - 1, i % 10)) differ++;
      if (i % 3 === 0 && tree.insert(b, 0, h, 0, 0) !== -1) differ++;
    }
    expect(differ).toBe(0);
    expect(tree.handedOver()).toBe(true);
    expect(tree.count()).toBe(n);
    expect(tree.stats().bytes).toBe(flat.stats().bytes);
    expect(contents(tree)).toEqual(contents(flat));
    expect([tree.parentOf(123_456), tree.actionOf(123_456)]).toEqual([123_455, 6]);
    expect(Array.from(tree.table().subarray(tree.offsetOf(5), tree.offsetOf(5) + 4))).toEqual([0x80000005, 1, 2, 3]);
  });

  it('a memory budget makes it full (no crash, within the budget), and a run ends incomplete', () => {
    const W = 4;
    const { hash } = layoutOf(W);
    const st = createTreeStore(W, hash, { actionCount: 10, memoryLimitBytes: 1 << 20 });
    const b = new Uint32Array(W);
    let i = 0;
    for (; i < 400_000 && !st.full(); i++) {
      b[0] = 0x80000000 | i;
      b[1] = i * 3;
      b[2] = i >>> 3;
      b[3] = i * 5;
      st.insert(b, 0, hash(b, 0, HASH_SEED), 0, 0);
    }
    expect(st.full()).toBe(true);
    expect(i).toBeLessThan(400_000);
    expect(st.stats().bytes).toBeLessThanOrEqual(1 << 20);
    const r = check(syncModel, { N: 3, P: 2, OPS: 2 }, { memoryLimitBytes: 1 << 20, exactStore: 'tree' });
    expect([r.verdict, r.limit]).toEqual(['incomplete', 'memory']);
  });

  it('gives the flat store’s search on shipped models: counts, depth, violations and their traces, through a hand-over too', () => {
    for (const [def, params, all] of [
      [syncModel, { N: 3, P: 1, OPS: 1 }, false],
      [syncModel, { N: 2, P: 1, OPS: 1, dirtySetRechecksPte: false }, true],
      // Hands over to the flat table at 65,536 states, mid-level: the frontier's root pairs become packed states.
      [concurrentModel, { N: 3, P: 2, OPS: 1 }, false],
      [asyncModel, { N: 2, P: 2, OPS: 2 }, false],
      [syncModel, { N: 2, P: 2, OPS: 2 }, false],
    ] as const) {
      const runs = (['tree', 'flat'] as const).map((exactStore) => {
        const m = instantiate(def, params);
        expect(m.layout.words).toBeGreaterThanOrEqual(3);
        const ex = explore(m, { exactStore, all });
        if (exactStore === 'tree' && def === concurrentModel) expect((ex.store as StateStore & TreeStoreInternals).handedOver()).toBe(true);
        const traces = ex.violations.map((v) => {
          const path: number[] = [];
          for (let id = v.stateId; id > 0; id = ex.store.parentOf(id)) path.push(ex.store.actionOf(id));
          return `${v.name}: ${path.reverse().join(' ')}`;
        });
        return { states: ex.states, transitions: ex.transitions, depth: ex.depth, traces, bytes: ex.storeBytes };
      });
      expect({ ...runs[0], bytes: 0 }).toEqual({ ...runs[1], bytes: 0 });
      // (Bytes: the 200,000-state case above; these runs are small or hand over.)
    }
  });
});
