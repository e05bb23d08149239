/**
 * Page tables in memory, two levels: per root one upper entry (the PMD that
 * covers all modelled user pages) pointing to a page-table page, and in each
 * page-table page one leaf PTE per virtual page with present, writable,
 * accessed, dirty and frame. Page-table pages can be unhooked (pmd cleared),
 * freed (`tableFreed`, the allocator's view) and hooked again.
 *
 * `pteVer` is ghost: which kernel PTE store produced the current contents.
 */
import { array, bool, int, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from './shape.js';

export function pageTableFields(sh: HwShape) {
  const { PAGE, roots, tables, frames, versions } = sh;
  return {
    /** Upper entry of each root: the page-table page it points to, NONE = not present. */
    pmd: array(roots, int(NONE, tables - 1, { init: NONE })),
    ptePresent: array(tables, array(PAGE, bool())),
    pteWritable: array(tables, array(PAGE, bool())),
    pteAccessed: array(tables, array(PAGE, bool())),
    pteDirty: array(tables, array(PAGE, bool())),
    pteFrame: array(tables, array(PAGE, int(0, frames - 1))),
    /** ghost: number of kernel stores to this PTE so far (the PTE "write" an entry came from). */
    pteVer: array(tables, array(PAGE, int(0, versions))),
    /** The page-table page has been freed to the page allocator (its contents are garbage). */
    tableFreed: array(tables, bool()),
  };
}
export type PageTableView = View<ReturnType<typeof pageTableFields>>;

export interface Pte {
  present: boolean;
  writable: boolean;
  accessed: boolean;
  dirty: boolean;
  frame: number;
  ver: number;
}

export function pteRead(s: PageTableView, t: number, va: number): Pte {
  return {
    present: s.ptePresent[t]![va]!,
    writable: s.pteWritable[t]![va]!,
    accessed: s.pteAccessed[t]![va]!,
    dirty: s.pteDirty[t]![va]!,
    frame: s.pteFrame[t]![va]!,
    ver: s.pteVer[t]![va]!,
  };
}

/** A kernel store of a whole PTE (set_pte_at / pte_clear): bumps the ghost version. */
export function pteStore(s: PageTableView, t: number, va: number, v: Omit<Pte, 'ver'>): void {
  s.ptePresent[t]![va] = v.present;
  s.pteWritable[t]![va] = v.writable;
  s.pteAccessed[t]![va] = v.accessed;
  s.pteDirty[t]![va] = v.dirty;
  s.pteFrame[t]![va] = v.present ? v.frame : 0;
  s.pteVer[t]![va] = s.pteVer[t]![va]! + 1;
}

/** Initial (version 0) mapping va → frame in page-table page t (for a model's init). */
export function pteInit(s: PageTableView, t: number, va: number, frame: number, writable = true): void {
  s.ptePresent[t]![va] = true;
  s.pteWritable[t]![va] = writable;
  s.pteFrame[t]![va] = frame;
}
