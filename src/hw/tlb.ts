/**
 * Per-CPU TLB and paging-structure cache (PSC).
 *
 * TLB entry (cpu, pcid, va): frame, writable, dirty-as-cached, global, plus the
 * ghost identity of the PTE write it was filled from (page-table page + version).
 * `tlbVer = NONE` means "no entry". SDM §4.10.2.2: an entry caches the AND of
 * R/W over the levels and the leaf's D bit; any entry may be dropped at any time.
 *
 * PSC entry (cpu, pcid, PMD slot): the cached upper entry (which page-table
 * page that PMD pointed to). PCID-tagged, never global (G exists only in leaf
 * entries, SDM §4.10.3.1).
 */
import { array, bool, int, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { pmdsOf, type HwShape } from './shape.js';

export function tlbFields(sh: HwShape) {
  const { CPU, PAGE, pcids, tables, frames, versions } = sh;
  const perEntry = <T extends Parameters<typeof array>[1]>(t: T) => array(CPU, array(pcids, array(PAGE, t)));
  return {
    /** ghost+valid: version of the PTE write this entry came from; NONE = no entry. */
    tlbVer: perEntry(int(NONE, versions, { init: NONE })),
    /** ghost: the page-table page the PTE was read from. */
    tlbTable: perEntry(int(0, tables - 1)),
    tlbFrame: perEntry(int(0, frames - 1)),
    tlbWritable: perEntry(bool()),
    tlbDirty: perEntry(bool()),
    tlbGlobal: perEntry(bool()),
    /** Paging-structure cache: cached PMD → page-table page, per PCID and PMD slot; NONE = empty. */
    psc: array(CPU, array(pcids, array(pmdsOf(sh), int(NONE, tables - 1, { init: NONE })))),
  };
}
export type TlbView = View<ReturnType<typeof tlbFields>>;

export interface TlbEntry {
  pcid: number;
  ver: number;
  table: number;
  frame: number;
  writable: boolean;
  dirty: boolean;
  global: boolean;
}

export function tlbEntry(s: TlbView, c: number, pcid: number, va: number): TlbEntry | null {
  const ver = s.tlbVer[c]![pcid]![va]!;
  if (ver === NONE) return null;
  return {
    pcid,
    ver,
    table: s.tlbTable[c]![pcid]![va]!,
    frame: s.tlbFrame[c]![pcid]![va]!,
    writable: s.tlbWritable[c]![pcid]![va]!,
    dirty: s.tlbDirty[c]![pcid]![va]!,
    global: s.tlbGlobal[c]![pcid]![va]!,
  };
}

/**
 * The entry a translation of va would use under `pcid`: the entry of that
 * PCID, else a global entry of any PCID (SDM §4.10.2.4: "may use").
 */
export function tlbLookup(s: TlbView, c: number, pcid: number, va: number): TlbEntry | null {
  const own = tlbEntry(s, c, pcid, va);
  if (own) return own;
  const n = s.tlbVer[c]!.length;
  for (let p = 0; p < n; p++) {
    const e = tlbEntry(s, c, p, va);
    if (e && e.global) return e;
  }
  return null;
}

export function tlbFill(s: TlbView, c: number, pcid: number, va: number, e: Omit<TlbEntry, 'pcid'>): void {
  s.tlbVer[c]![pcid]![va] = e.ver;
  s.tlbTable[c]![pcid]![va] = e.table;
  s.tlbFrame[c]![pcid]![va] = e.frame;
  s.tlbWritable[c]![pcid]![va] = e.writable;
  s.tlbDirty[c]![pcid]![va] = e.dirty;
  s.tlbGlobal[c]![pcid]![va] = e.global;
}

/** Drop one TLB entry (fields reset so that equal TLB contents pack equally). */
export function tlbDrop(s: TlbView, c: number, pcid: number, va: number): void {
  s.tlbVer[c]![pcid]![va] = NONE;
  s.tlbTable[c]![pcid]![va] = 0;
  s.tlbFrame[c]![pcid]![va] = 0;
  s.tlbWritable[c]![pcid]![va] = false;
  s.tlbDirty[c]![pcid]![va] = false;
  s.tlbGlobal[c]![pcid]![va] = false;
}

/** Drop CPU c's PSC entries of `pcid`: all of them, or only the one of PMD `slot`. */
export function pscDrop(s: TlbView, c: number, pcid: number, slot?: number): void {
  const e = s.psc[c]![pcid]!;
  if (slot !== undefined) e[slot] = NONE;
  else for (let k = 0; k < e.length; k++) e[k] = NONE;
}

export function pcidCount(s: TlbView): number {
  return s.psc[0]!.length;
}
export function pageCount(s: TlbView): number {
  return s.tlbVer[0]![0]!.length;
}
