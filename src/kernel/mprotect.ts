/**
 * mprotect() of one page (mm/mprotect.c change_protection() →
 * change_pte_range(), under the PTE lock) and the promise it makes when it
 * returns:
 *   changePteRange      a present PTE becomes read-only
 *                       (ptep_modify_prot_start/commit: same frame, D kept;
 *                       one locked store here, the old value gone at once);
 *                       a PTE that is not present is skipped: there is nothing
 *                       to change and nothing to flush
 *   permissionNarrowed  ghost: the operation returns; no old TLB entry may be
 *                       used with more permission than the PTE now grants
 *                       (properties/no-wider-permission.ts)
 * The flush in between (flush_tlb_range when a PTE changed) is the model's.
 */
import type { AccessGhostView } from '../hw/ghost.js';
import { pteSeen, pteStoreBy } from '../hw/pagetable.js';
import type { HwView } from '../hw/walk.js';
import { NONE } from '../engine/types.js';
import { pmdSeen, pmdSlotOf } from '../hw/pagetable.js';

/** change_pte_range() on mm's va by CPU c, write-protecting: whether a PTE changed. */
export function changePteRange(s: HwView, c: number, mm: number, va: number): boolean {
  const t = pmdSeen(s, c, mm, pmdSlotOf(s, va));
  if (t === NONE) return false;
  const pte = pteSeen(s, c, t, va);
  if (!pte.present || !pte.writable) return false;
  pteStoreBy(s, c, t, va, { ...pte, writable: false }, 'locked'); // the xchg of ptep_modify_prot_start, then the commit
  return true;
}

/**
 * Ghost: the narrowing operation on `va` (in page-table pages `tables`)
 * returns: entries older than the version c sees now (its own store
 * included) are bound by what it left, `to`: 'read' (PROT_READ: old entries
 * may still be read) or 'none' (PROT_NONE).
 */
export function permissionNarrowed(s: HwView & AccessGhostView, c: number, tables: readonly number[], va: number, to: 'read' | 'none'): void {
  for (const t of tables) {
    const v = pteSeen(s, c, t, va).ver;
    if (v > s.permNarrowedUpTo[t]![va]!) s.permNarrowedUpTo[t]![va] = v;
    if (to === 'none') s.permNoRead[t]![va] = true;
  }
}
