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
});
