/**
 * TLB/PSC invalidation instructions (Intel SDM Vol. 3A §4.10.4.1; INVPCID in
 * Vol. 2). Each drops what the SDM REQUIRES it to drop and nothing more: the
 * CPU may drop more, which a model covers with the eviction actions (walk.ts),
 * so the adversarial "drops exactly the minimum" case is the one explored.
 * All of these are serializing (SDM §9.3): with store buffers they drain the
 * CPU's buffer first (store-buffer.ts).
 */
import { NONE } from '../engine/types.js';
import type { CpuView } from './cpu.js';
import { pageCount, pcidCount, pscDrop, tlbDrop, type TlbView } from './tlb.js';
import type { HwOptions } from './options.js';
import { fence } from './store-buffer.js';

type V = TlbView & CpuView;

function dropWhere(s: TlbView, c: number, keep: (pcid: number, va: number, global: boolean) => boolean): void {
  const P = pageCount(s);
  const n = pcidCount(s);
  for (let p = 0; p < n; p++)
    for (let va = 0; va < P; va++)
      if (s.tlbVer[c]![p]![va] !== NONE && !keep(p, va, s.tlbGlobal[c]![p]![va]!)) tlbDrop(s, c, p, va);
}

/**
 * INVLPG va: the entries for va in the current PCID, global entries for va in
 * any PCID, and ALL paging-structure-cache entries of the current PCID,
 * whatever address they map (Intel). With AMD EFER.TCE only the PSC entries
 * covering va (here: the single upper entry, so the same).
 */
export function invlpg(s: V, c: number, va: number, _opts?: Pick<HwOptions, 'amdTce'>): void {
  fence(s, c);
  const cur = s.cr3Pcid[c]!;
  dropWhere(s, c, (p, v, g) => !(v === va && (p === cur || g)));
  pscDrop(s, c, cur);
}

export type InvpcidType = 0 | 1 | 2 | 3;

/**
 * INVPCID. 0: one address in `pcid`, non-global; 1: all non-global entries of
 * `pcid`; 2: everything, globals included, all PCIDs; 3: everything except
 * globals. Each also drops the PSC entries of the PCIDs it covers.
 * (With CR4.PCIDE=0 types 0/1 need pcid 0 and 2/3 touch only PCID 0 — the
 * caller passes pcid 0 then; review item 8.)
 */
export function invpcid(s: TlbView, c: number, type: InvpcidType, pcid = 0, va = 0): void {
  fence(s, c);
  const n = pcidCount(s);
  switch (type) {
    case 0:
      dropWhere(s, c, (p, v, g) => !(p === pcid && v === va && !g));
      pscDrop(s, c, pcid);
      return;
    case 1:
      dropWhere(s, c, (p, _v, g) => !(p === pcid && !g));
      pscDrop(s, c, pcid);
      return;
    case 2:
      dropWhere(s, c, () => false);
      for (let p = 0; p < n; p++) pscDrop(s, c, p);
      return;
    case 3:
      dropWhere(s, c, (_p, _v, g) => g);
      for (let p = 0; p < n; p++) pscDrop(s, c, p);
      return;
  }
}

/**
 * MOV to CR3 with PCIDE=1: load root and PCID. noflush (bit 63) = 0 drops the
 * new PCID's non-global TLB entries and its PSC entries; noflush = 1 drops
 * nothing required. Other PCIDs and globals are not required to go (so they
 * stay here). With PCIDE=0 pass pcid 0 and noflush=false.
 */
export function cr3Write(s: V, c: number, root: number, pcid: number, noflush: boolean): void {
  fence(s, c);
  s.cr3Root[c] = root;
  s.cr3Pcid[c] = pcid;
  if (noflush) return;
  dropWhere(s, c, (p, _v, g) => p !== pcid || g);
  pscDrop(s, c, pcid);
}

/** MOV to CR4 toggling PGE (or PCIDE 1→0): everything, globals and all PSCs. */
export function cr4PgeToggle(s: TlbView, c: number): void {
  invpcid(s, c, 2);
}

/**
 * A #PF on va invalidates va's TLB entries and the PSC entries used for it,
 * in the current PCID (SDM §4.10.4.1, last paragraph).
 */
export function pageFaultInvalidate(s: V, c: number, va: number): void {
  const cur = s.cr3Pcid[c]!;
  tlbDrop(s, c, cur, va);
  pscDrop(s, c, cur);
}
