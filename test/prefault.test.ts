/**
 * prefault() (src/engine/prefault.ts) maps a fresh table's pages before a
 * rehash: it must leave the buffer all zeros (0 = empty slot in every table)
 * whatever its size, shared or not.
 */
import { describe, expect, it } from 'vitest';
import { prefault } from '../src/engine/prefault.ts';

describe('prefault', () => {
  it('leaves fresh buffers of any size all zeros', () => {
    for (const bytes of [0, 4, 4096, 4100, 3 * 4096 + 8, 1 << 20]) {
      for (const buf of [new ArrayBuffer(bytes), new SharedArrayBuffer(bytes)]) {
        prefault(buf);
        expect(new Uint8Array(buf).every((b) => b === 0)).toBe(true);
      }
    }
  });

  it('writes one word per 4 KiB page, so it would clobber data: only ever called on fresh tables', () => {
    const buf = new ArrayBuffer(3 * 4096);
    new Int32Array(buf).fill(7);
    prefault(buf);
    const a = new Int32Array(buf);
    expect([a[0], a[1], a[1024], a[2048], a[2049]]).toEqual([0, 7, 0, 0, 7]);
  });

  it('with a byte range, writes only inside it: each participant of a rehash maps just its own region', () => {
    const buf = new SharedArrayBuffer(5 * 4096);
    const a = new Int32Array(buf);
    for (const [from, to] of [[0, 5 * 4096], [100, 3 * 4096 + 8], [4096, 8192], [4097 * 4, 4097 * 4 + 4], [8000, 8000]]) {
      a.fill(7);
      prefault(buf, from, to);
      const zero = [...a.keys()].filter((i) => a[i] === 0);
      // One word per page the range covers, and none outside it.
      for (const i of zero) expect(i * 4 >= from && i * 4 < to).toBe(true);
      const pages = new Set(zero.map((i) => i >> 10));
      for (let p = Math.floor(from / 4096); from < to && p * 4096 < to; p++) expect(pages.has(p)).toBe(true);
      expect(zero.length).toBe(pages.size);
    }
  });
});

