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
import { defineSbKind, forwarded, loc, lockedStore, storeTo, type SbLoc } from './store-buffer.js';

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

// ------------------------------------------------------- TSO (store-buffer.ts)

/** A whole PTE as one store-buffer value: P, W, A, D bits, frame (< 16), ghost version. */
export function encodePte(p: Pte): number {
  return (p.present ? 1 : 0) | (p.writable ? 2 : 0) | (p.accessed ? 4 : 0) | (p.dirty ? 8 : 0) | (p.frame << 4) | (p.ver << 8);
}
export function decodePte(v: number): Pte {
  return { present: (v & 1) !== 0, writable: (v & 2) !== 0, accessed: (v & 4) !== 0, dirty: (v & 8) !== 0, frame: (v >> 4) & 15, ver: v >> 8 };
}
/** Largest encoded PTE of a shape (the store-buffer value range). */
export const pteValueMax = (sh: Pick<HwShape, 'versions'>): number => (sh.versions + 1) * 256 - 1;

export const pteLoc = (t: number, va: number): SbLoc => loc('pte', { idx: t, page: va });
export const pmdLoc = (root: number): SbLoc => loc('pmd', { idx: root });

function pteWrite(s: PageTableView, t: number, va: number, p: Pte): void {
  s.ptePresent[t]![va] = p.present;
  s.pteWritable[t]![va] = p.writable;
  s.pteAccessed[t]![va] = p.accessed;
  s.pteDirty[t]![va] = p.dirty;
  s.pteFrame[t]![va] = p.frame;
  s.pteVer[t]![va] = p.ver;
}
defineSbKind('pte', {
  read: (s: PageTableView, l) => encodePte(pteRead(s, l.idx, l.page)),
  write: (s: PageTableView, l, v) => pteWrite(s, l.idx, l.page, decodePte(v)),
  show: (l, v) => {
    const p = decodePte(v);
    return `PTE(PT page ${l.idx}, va${l.page})=${p.present ? `pfn${p.frame}${p.writable ? ' W' : ''}${p.dirty ? ' D' : ''}` : 'none'} (v${p.ver})`;
  },
});
defineSbKind('pmd', {
  read: (s: PageTableView, l) => s.pmd[l.idx]!,
  write: (s: PageTableView, l, v) => void (s.pmd[l.idx] = v),
  show: (l, v) => `PMD(root ${l.idx})=${v === NONE ? 'none' : `PT page ${v}`}`,
});

/** The PTE as CPU c sees it: its own newest buffered store, else memory (also the page walker's view). */
export function pteSeen(s: PageTableView, c: number, t: number, va: number): Pte {
  const v = forwarded(s, c, pteLoc(t, va));
  return v === undefined ? pteRead(s, t, va) : decodePte(v);
}
/** The upper entry of `root` as CPU c sees it. */
export function pmdSeen(s: PageTableView, c: number, root: number): number {
  return forwarded(s, c, pmdLoc(root)) ?? s.pmd[root]!;
}

/**
 * A kernel store of a whole PTE by CPU c (bumps the ghost version of what c
 * sees): `plain` = set_pte()/pte_clear() (a MOV, buffered under TSO), `locked`
 * = an xchg/cmpxchg such as ptep_get_and_clear() (drains c's buffer first).
 * Without store buffers both are pteStore().
 */
export function pteStoreBy(s: PageTableView, c: number, t: number, va: number, v: Omit<Pte, 'ver'>, how: 'plain' | 'locked'): void {
  const p: Pte = { ...v, frame: v.present ? v.frame : 0, ver: pteSeen(s, c, t, va).ver + 1 };
  if (how === 'locked') lockedStore(s, c, pteLoc(t, va), encodePte(p));
  else storeTo(s, c, pteLoc(t, va), encodePte(p));
}
/** pmd_clear()/pmd_populate() by CPU c: a plain store. */
export function pmdStoreBy(s: PageTableView, c: number, root: number, table: number): void {
  storeTo(s, c, pmdLoc(root), table);
}
