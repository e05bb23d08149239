/**
 * Page ownership: each data frame's reference count (folio_ref_count). A
 * mapping (a present PTE) and the page cache each hold a reference;
 * folio_put() of the last one gives the frame back to the page allocator,
 * which may hand it to a new owner at once. From then on any access through
 * a stale TLB entry reads or corrupts someone else's memory
 * (properties/no-use-after-free.ts). A model sets the initial counts in its
 * init (e.g. 2 for a file page: the page cache and one mapping).
 */
import { array, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from '../hw/shape.js';
import type { HwView } from '../hw/walk.js';
import { freeFrame } from './free.js';

export function folioRefFields(sh: Pick<HwShape, 'frames'>, maxRefs: number) {
  return { pageRefs: array(sh.frames, int(0, maxRefs)) };
}
export type FolioRefView = View<ReturnType<typeof folioRefFields>>;

/** folio_get(). */
export function folioGet(s: FolioRefView, frame: number): void {
  s.pageRefs[frame] = s.pageRefs[frame]! + 1;
}

/** folio_put(): the last reference frees the frame. Returns whether it did. */
export function folioPut(s: FolioRefView & HwView, frame: number): boolean {
  const n = s.pageRefs[frame]!;
  if (n <= 0) throw new Error(`folio_put of pfn${frame} with no reference left`);
  s.pageRefs[frame] = n - 1;
  if (n > 1) return false;
  freeFrame(s, frame);
  return true;
}
