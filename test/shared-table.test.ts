/**
 * The multi-core visited set (src/engine/shared-table.ts). Its probes read
 * slots with plain loads and fall back to Atomics.load only when a word of a
 * matching slot reads as 0; these tests pin what that must still guarantee,
 * in every slot format (direct one-CAS claims with tagged words, the
 * two-step claim, fingerprints): every distinct state is "new" exactly
 * once, also for states whose other words are 0, under colliding hashes,
 * with two threads inserting the same states at once, and after a rehash.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createSharedTable, finishRehash, rehashShare, slotFormat, type SlotFormat } from '../src/engine/shared-table.ts';
import { FP_SEED } from '../src/engine/fingerprint-store.ts';
import { HASH_SEED } from '../src/engine/store.ts';

/** A hash that puts every state in one of `buckets` homes (long probe runs, many word-0 matches). */
const clumpy = (buckets: number, W: number) => (w: Uint32Array, off: number, seed: number) => {
  let h = seed | 0;
  for (let k = 0; k < W; k++) h = Math.imul(h ^ (w[off + k] ?? 0), 0x9e3779b1);
  return (((h >>> 0) % buckets) * 0x01000193) >>> 0;
};

/** A well-mixed hash (for the fingerprint's second half). */
const mixed = (W: number) => (w: Uint32Array, off: number, seed: number) => {
  let h = seed | 0;
  for (let k = 0; k < W; k++) h = Math.imul((h ^ (w[off + k] ?? 0)) + 0x7f4a7c15, 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
};

/**
 * n states of W words: word 0 has bit 31 set (as packed states do), the
 * others are often 0, and some states repeat. Returns them and how many are
 * distinct.
 */
function states(n: number, W: number): { s: Uint32Array; distinct: number } {
  const s = new Uint32Array(n * W);
  for (let i = 0; i < n; i++) {
    s[i * W] = (0x80000000 | (i % 5)) >>> 0;
    const q = Math.floor(i / 5);
    for (let k = 1; k < W; k++) s[i * W + k] = q % 4 === 0 ? 0 : k === 1 ? q : q % 3;
  }
  const seen = new Set(Array.from({ length: n }, (_, i) => s.subarray(i * W, i * W + W).join()));
  return { s, distinct: seen.size };
}

/** Every slot format the engine uses: direct claims (W=1, tagged) and two-step (untagged exact, fingerprints). */
const FORMATS: SlotFormat[] = [
  { kind: 'exact', W: 1, tagged: false },
  { kind: 'exact', W: 2, tagged: false },
  { kind: 'exact', W: 2, tagged: true },
  { kind: 'exact', W: 3, tagged: false },
  { kind: 'exact', W: 3, tagged: true },
  { kind: 'fingerprint', W: 3, tagged: false },
];
const name = (f: SlotFormat) => `${f.kind} W=${f.W}${f.tagged ? ' tagged' : ''}`;

describe('shared table', () => {
  for (const format of FORMATS) {
    const { kind, W } = format;
    it(`${name(format)}: each distinct state is new exactly once, zero words and colliding homes included`, () => {
      const n = W === 1 ? 12 : 300;
      // Homes in 7 places; a fingerprint's second half is well mixed, so
      // distinct states keep distinct fingerprints.
      const home = clumpy(7, W);
      const second = mixed(W);
      const hash = (w: Uint32Array, off: number, seed: number) => (seed === FP_SEED ? second(w, off, seed) : home(w, off, seed));
      const t = createSharedTable(format, hash);
      const cap = 1024;
      t.attach(new SharedArrayBuffer(cap * t.S * 4), cap);
      const { s, distinct } = states(n, W);
      expect(distinct).toBeLessThan(n);
      let fresh = 0;
      for (let pass = 0; pass < 3; pass++)
        for (let i = 0; i < n; i++) {
          const isNew = t.insert(s, i * W, hash(s, i * W, HASH_SEED));
          if (pass > 0) expect(isNew).toBe(false);
          if (isNew) fresh++;
        }
      expect(fresh).toBe(distinct);
    });

    it(`${name(format)}: after a rehash by two participants every state is found again, in as many slots`, () => {
      // Well mixed; the seed tells the home hash from a fingerprint's second half.
      const hash = mixed(W);
      const n = W === 1 ? 12 : 3000;
      const { s, distinct } = states(n, W);
      const fromCap = 4096;
      const t = createSharedTable(format, hash);
      const from = new SharedArrayBuffer(fromCap * t.S * 4);
      t.attach(from, fromCap);
      for (let i = 0; i < n; i++) t.insert(s, i * W, hash(s, i * W, HASH_SEED));
      for (const toCap of [8192, 5000]) {
        const to = new SharedArrayBuffer(toCap * t.S * 4);
        const m = { from, fromCap, to, toCap };
        const left = [...rehashShare(format, hash, m, 1, 2), ...rehashShare(format, hash, m, 0, 2)];
        finishRehash(format, hash, m, left);
        const words = new Int32Array(to);
        expect(words.filter((x, i) => i % t.S === 0 && x !== 0).length).toBe(distinct);
        const moved = createSharedTable(format, hash);
        moved.attach(to, toCap);
        for (let i = 0; i < n; i++) expect(moved.insert(s, i * W, hash(s, i * W, HASH_SEED))).toBe(false);
      }
    });
  }

  it('slotFormat tags exact states only when no leaf after word 0 reaches bit 31', () => {
    const leaves = (...ls: [number, number, number][]) => ls.map(([word, shift, bits]) => ({ word, shift, bits }));
    expect(slotFormat('exact', { words: 2, leaves: leaves([0, 0, 31], [1, 0, 20], [1, 20, 11]) }).tagged).toBe(true);
    expect(slotFormat('exact', { words: 2, leaves: leaves([0, 0, 31], [1, 0, 20], [1, 20, 12]) }).tagged).toBe(false);
    expect(slotFormat('exact', { words: 1, leaves: leaves([0, 0, 31]) }).tagged).toBe(false);
    expect(slotFormat('fingerprint', { words: 2, leaves: leaves([0, 0, 5], [1, 0, 5]) }).tagged).toBe(false);
  });

  for (const tagged of [false, true]) {
    it(`two threads inserting the same states at once${tagged ? ' (tagged: direct claims)' : ''}: every state is new exactly once in all`, async () => {
      const W = 2;
      const n = 200_000;
      const cap = 1 << 19;
      const buf = new SharedArrayBuffer(cap * W * 4);
      const go = new SharedArrayBuffer(4);
      const url = new URL('../src/engine/shared-table.ts', import.meta.url).href;
      // Each thread inserts all n states (states 0..n-1, word 1 zero for a third
      // of them), in the same order, so both race for the same fresh slots.
      const code = `
        const { workerData, parentPort } = require('node:worker_threads');
        (async () => {
          const { register } = await import('tsx/esm/api');
          register();
          const { createSharedTable } = await import(workerData.url);
          const { W, n, cap, buf, go } = workerData;
          const hash = (w, off) => Math.imul(w[off] ^ Math.imul(w[off + 1], 0x85ebca6b), 0x9e3779b1) >>> 0;
          const t = createSharedTable({ kind: 'exact', W, tagged: workerData.tagged }, hash);
          t.attach(buf, cap);
          const s = new Uint32Array(W);
          const flag = new Int32Array(go);
          Atomics.add(flag, 0, 1);
          while (Atomics.load(flag, 0) < 2) {}
          let fresh = 0;
          for (let i = 0; i < n; i++) {
            s[0] = (0x80000000 | (i >>> 2)) >>> 0;
            s[1] = i % 3 === 0 ? 0 : i & 3;
            if (t.insert(s, 0, hash(s, 0))) fresh++;
          }
          parentPort.postMessage(fresh);
        })();`;
      const run = () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { url, W, n, cap, buf, go, tagged } });
          w.once('message', (m: number) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
        });
      const [a, b] = await Promise.all([run(), run()]);
      // Distinct states: word 0 = i >>> 2 and word 1 = (i % 3 ? i & 3 : 0) for i < n.
      const distinct = new Set(Array.from({ length: n }, (_, i) => `${i >>> 2},${i % 3 === 0 ? 0 : i & 3}`)).size;
      expect(a + b).toBe(distinct);
    });
  }
});
