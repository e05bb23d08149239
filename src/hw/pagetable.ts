/**
 * Page tables in memory, two levels: per root `pmds` upper entries (PMDs),
 * each covering a run of consecutive user pages (pmdSlotOf) and pointing to
 * a page-table page, and in each page-table page one leaf PTE per virtual
 * page with present, writable, accessed, dirty and frame (a page-table page
 * under slot k only uses the entries of slot k's pages). Page-table pages can
 * be unhooked (pmd cleared), freed (`tableFreed`, the allocator's view: from
 * then on the page is someone else's memory, and any walk through it is a
 * violation) and hooked again.
 *
 * `pteVer` is ghost: which kernel PTE store produced the current contents.
 */
import { array, bool, int, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { pmdsOf, type HwShape } from './shape.js';
import { defineSbKind, forwarded, loc, lockedStore, storeTo, type SbLoc } from './store-buffer.js';

export function pageTableFields(sh: HwShape) {
  const { PAGE, roots, tables, frames, versions } = sh;
  const pmds = pmdsOf(sh);
  if (!Number.isInteger(pmds) || pmds < 1 || pmds > PAGE.size) throw new Error(`page tables: pmds must be an integer from 1 to the number of pages (${PAGE.size}); got ${pmds}`);
  if (pmds > 1 && PAGE.symmetric) throw new Error('page tables: with more than one PMD per root pages are not interchangeable: declare the page sort with symmetric: false');
  return {
    /** The upper entries (PMDs) of each root: the page-table page each points to, NONE = not present. */
    pmd: array(roots, array(pmds, int(NONE, tables - 1, { init: NONE }))),
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

/** The PMD slot of va: which of a root's upper entries covers it (consecutive pages share one). */
export function pmdSlotOf(s: PageTableView, va: number): number {
  const n = s.pmd[0]!.length;
  if (n === 1) return 0;
  const P = s.ptePresent[0]!.length;
  if (!(Number.isInteger(va) && va >= 0 && va < P)) throw new Error(`pmdSlotOf: va${va} is not a page (va0..va${P - 1})`);
  return Math.floor((va * n) / P);
}
/** The PMD slot a block was given, or the only one: with several PMDs per root the caller must say which. */
export function slotOrOnly(s: PageTableView, root: number, slot: number | undefined, what: string): number {
  if (slot !== undefined) return slot;
  if (s.pmd[root]!.length > 1) throw new Error(`${what}: root ${root} has ${s.pmd[root]!.length} PMDs; say which slot`);
  return 0;
}
/** The pages PMD slot `slot` covers. */
export function pmdSlotPages(s: PageTableView, slot: number): number[] {
  const P = s.ptePresent[0]!.length;
  return Array.from({ length: P }, (_, va) => va).filter((va) => pmdSlotOf(s, va) === slot);
}
/** The page-table page that maps va in `root` now (memory), NONE if its PMD is not present. */
export const tableOf = (s: PageTableView, root: number, va: number): number => s.pmd[root]![pmdSlotOf(s, va)]!;

/** A kernel store of a whole PTE (set_pte_at / pte_clear): bumps the ghost version. */
export function pteStore(s: PageTableView, t: number, va: number, v: Omit<Pte, 'ver'>): void {
  s.ptePresent[t]![va] = v.present;
  s.pteWritable[t]![va] = v.writable;
  s.pteAccessed[t]![va] = v.accessed;
  s.pteDirty[t]![va] = v.dirty;
  s.pteFrame[t]![va] = v.present ? v.frame : 0;
  s.pteVer[t]![va] = s.pteVer[t]![va]! + 1;
}

/** Initial PMD: `root`'s upper entry at `slot` points to page-table page t (for a model's init). */
export function pmdInit(s: PageTableView, root: number, t: number, slot?: number): void {
  s.pmd[root]![slotOrOnly(s, root, slot, 'pmdInit')] = t;
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
/** The PMD of `root` at `slot` as a store-buffer location (the slot in the page coordinate; slot 0 has none). */
export const pmdLoc = (root: number, slot = 0): SbLoc => loc('pmd', slot === 0 ? { idx: root } : { idx: root, page: slot });
const slotOfLoc = (l: SbLoc): number => (l.page === NONE ? 0 : l.page);

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
  read: (s: PageTableView, l) => s.pmd[l.idx]![slotOfLoc(l)]!,
  write: (s: PageTableView, l, v) => void (s.pmd[l.idx]![slotOfLoc(l)] = v),
  show: (l, v) => `PMD(root ${l.idx}${l.page === NONE ? '' : `, slot ${l.page}`})=${v === NONE ? 'none' : `PT page ${v}`}`,
});

/** The PTE as CPU c sees it: its own newest buffered store, else memory (also the page walker's view). */
export function pteSeen(s: PageTableView, c: number, t: number, va: number): Pte {
  const v = forwarded(s, c, pteLoc(t, va));
  return v === undefined ? pteRead(s, t, va) : decodePte(v);
}
/** The upper entry of `root` at `slot` as CPU c sees it. */
export function pmdSeen(s: PageTableView, c: number, root: number, slot: number): number {
  return forwarded(s, c, pmdLoc(root, slot)) ?? s.pmd[root]![slot]!;
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
/** pmd_clear()/pmd_populate() of `root` at `slot` by CPU c: a plain store. */
export function pmdStoreBy(s: PageTableView, c: number, root: number, slot: number, table: number): void {
  storeTo(s, c, pmdLoc(root, slot), table);
}
