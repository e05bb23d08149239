/**
 * TLB/PSC invalidation instructions (Intel SDM Vol. 3A §4.10.4.1; INVPCID in
 * Vol. 2). Each drops what the SDM REQUIRES it to drop and nothing more: the
 * CPU may drop more, which a model covers with the eviction actions (walk.ts),
 * so the adversarial "drops exactly the minimum" case is the one explored.
 * All of these are serializing (SDM §9.3): with store buffers they drain the
 * CPU's buffer first (store-buffer.ts). CR4's state is in cr4.ts.
 */
import { NONE } from '../engine/types.js';
import type { CpuView } from './cpu.js';
import { pageCount, pcidCount, pscDrop, tlbDrop, type TlbView } from './tlb.js';
import { fence } from './store-buffer.js';
import { cr4Of, cr4PcideOf, cr4PgeOf, type Cr4, type Cr4View } from './cr4.js';
import { eferTceOf } from './efer.js';
import { pmdSlotOf, type PageTableView } from './pagetable.js';

type V = TlbView & CpuView;

function dropWhere(s: TlbView, c: number, keep: (pcid: number, va: number, global: boolean) => boolean): void {
  const P = pageCount(s);
  const n = pcidCount(s);
  for (let p = 0; p < n; p++)
    for (let va = 0; va < P; va++)
      if (s.tlbVer[c]![p]![va] !== NONE && !keep(p, va, s.tlbGlobal[c]![p]![va]!)) tlbDrop(s, c, p, va);
}

/**
 * The PSC entries an invalidation of va in `pcid` must drop: all of the
 * PCID's (Intel, and AMD with EFER.TCE=0), or with EFER.TCE=1 only the one
 * of va's PMD slot (efer.ts).
 */
function pscDropFor(s: TlbView, c: number, pcid: number, va: number): void {
  if (eferTceOf(s, c)) pscDrop(s, c, pcid, pmdSlotOf(s as unknown as PageTableView, va));
  else pscDrop(s, c, pcid);
}

/**
 * INVLPG va: the entries for va in the current PCID, global entries for va in
 * any PCID, and ALL paging-structure-cache entries of the current PCID,
 * whatever address they map (Intel; AMD with EFER.TCE=1: only those of va's
 * PMD).
 */
export function invlpg(s: V, c: number, va: number): void {
  fence(s, c);
  const cur = s.cr3Pcid[c]!;
  dropWhere(s, c, (p, v, g) => !(v === va && (p === cur || g)));
  pscDropFor(s, c, cur, va);
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
  if ((type === 0 || type === 1) && pcid !== 0 && !cr4PcideOf(s, c)) throw new Error(`INVPCID type ${type} for PCID ${pcid} on CPU${c} with CR4.PCIDE=0: #GP`);
  fence(s, c);
  const n = pcidCount(s);
  switch (type) {
    case 0:
      dropWhere(s, c, (p, v, g) => !(p === pcid && v === va && !g));
      pscDropFor(s, c, pcid, va);
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
 * stay here). With PCIDE=0 (cr4.ts) the PCID must be 0 and bit 63 clear:
 * anything else is a model error.
 */
export function cr3Write(s: V, c: number, root: number, pcid: number, noflush: boolean): void {
  if (!cr4PcideOf(s, c) && (pcid !== 0 || noflush))
    throw new Error(`MOV to CR3 on CPU${c} with CR4.PCIDE=0 but ${pcid !== 0 ? `PCID ${pcid}` : 'bit 63 (no flush) set'}: only PCID 0 and a flushing write exist then`);
  fence(s, c);
  s.cr3Root[c] = root;
  s.cr3Pcid[c] = pcid;
  if (noflush) return;
  dropWhere(s, c, (p, _v, g) => p !== pcid || g);
  pscDrop(s, c, pcid);
}

/** MOV to CR4 on CPU c, changing PGE and/or PCIDE to `next` (serializing). Returns the phrase. */
export function cr4Write(s: TlbView & CpuView & Cr4View, c: number, next: Partial<Cr4>): string {
  if ((s as Partial<Cr4View>).cr4Pge === undefined) throw new Error('MOV to CR4: the model has no CR4 state (spread cr4Fields into its state)');
  const cur = cr4Of(s, c);
  const pge = next.pge ?? cur.pge;
  const pcide = next.pcide ?? cur.pcide;
  if (pcide && !cur.pcide && s.cr3Pcid[c] !== 0) throw new Error(`CR4.PCIDE 0→1 on CPU${c} with CR3 PCID ${s.cr3Pcid[c]}: #GP (CR3[11:0] must be 0)`);
  fence(s, c);
  s.cr4Pge[c] = pge;
  s.cr4Pcide[c] = pcide;
  if (!pcide) s.cr3Pcid[c] = 0; // §4.10.1: with PCIDE=0 the current PCID is 000H (CR3[11:0] are PWT/PCD then)
  const all = pge !== cur.pge || (cur.pcide && !pcide);
  if (all) invpcid(s, c, 2); // everything: globals and every PCID's PSC entries
  const what = [pge !== cur.pge ? `PGE ${cur.pge ? 1 : 0}→${pge ? 1 : 0}` : '', pcide !== cur.pcide ? `PCIDE ${cur.pcide ? 1 : 0}→${pcide ? 1 : 0}` : ''].filter(Boolean).join(', ');
  return `MOV to CR4 (${what || 'no change'})${all ? ': all TLB entries, globals included, and all PSC entries dropped' : ''}`;
}

/**
 * __flush_tlb_global(): INVPCID type 2 when the CPU has it, else
 * native_flush_tlb_global(): CR4 ^= PGE; CR4 ^= PGE (IRQs off around it).
 */
export function nativeFlushTlbGlobal(s: TlbView & CpuView & Partial<Cr4View>, c: number, o: { invpcid: boolean }): string {
  if (o.invpcid) {
    invpcid(s, c, 2);
    return 'invpcid_flush_all (INVPCID type 2)';
  }
  if ((s as Partial<Cr4View>).cr4Pge === undefined) {
    invpcid(s, c, 2); // no CR4 state in the model: PGE stays 1, and each of the two writes drops everything
    invpcid(s, c, 2);
  } else {
    const pge = cr4PgeOf(s, c);
    cr4Write(s as TlbView & CpuView & Cr4View, c, { pge: !pge });
    cr4Write(s as TlbView & CpuView & Cr4View, c, { pge });
  }
  return 'native_flush_tlb_global: CR4.PGE toggled off and on (each MOV to CR4 drops every entry)';
}

/**
 * A #PF on va invalidates va's TLB entries and the PSC entries that would be
 * used for it, in the current PCID (SDM §4.10.4.1, last paragraph): those of
 * va's PMD slot.
 */
export function pageFaultInvalidate(s: V, c: number, va: number): void {
  const cur = s.cr3Pcid[c]!;
  tlbDrop(s, c, cur, va);
  pscDrop(s, c, cur, pmdSlotOf(s as unknown as PageTableView, va));
}
