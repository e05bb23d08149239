/**
 * mremap() moving one page (mm/mremap.c move_page_tables() → move_ptes()):
 * under the PTL of the old and the new PT page, the old PTE is cleared
 * (ptep_get_and_clear, a locked xchg) and the same frame is mapped at the
 * new address (set_pte_at; move_pte() keeps the D bit). The mapping's page
 * reference moves with it: mremap frees nothing. Stale TLB entries of the
 * old address must be flushed before the PTL is released, since only the
 * lock keeps the page alive (eb66ae030829, "mremap: properly flush TLB
 * before releasing the page", 2018, CVE-2018-18281).
 */
import { NONE } from '../engine/types.js';
import { pmdSeen, pmdSlotOf, pteSeen, pteStoreBy } from '../hw/pagetable.js';
import type { HwView } from '../hw/walk.js';

/**
 * move_ptes() for one PTE by CPU c in mm, from the PT page of oldVa's PMD to
 * the PT page of newVa's (the same one when they share a PMD): the moved frame (NONE if the old
 * PTE was not present) and its D bit. Before eb66ae030829 a dirty PTE was
 * still flushed under the PTL (`force_flush`, 5d1904204c99 "mremap: fix race
 * between mremap() and page cleanning"): only clean PTEs had the flush
 * deferred past the unlock.
 */
export function movePte(s: HwView, c: number, mm: number, oldVa: number, newVa: number): { frame: number; dirty: boolean } {
  const t = pmdSeen(s, c, mm, pmdSlotOf(s, oldVa));
  if (t === NONE) return { frame: NONE, dirty: false };
  const old = pteSeen(s, c, t, oldVa);
  if (!old.present) return { frame: NONE, dirty: false };
  const to = pmdSeen(s, c, mm, pmdSlotOf(s, newVa));
  if (to === NONE) throw new Error(`move_ptes on CPU${c}: va${newVa}'s PMD in mm${mm} is not present (the model must populate it first, as alloc_new_pmd does)`);
  pteStoreBy(s, c, t, oldVa, { present: false, writable: false, accessed: false, dirty: false, frame: 0 }, 'locked');
  pteStoreBy(s, c, to, newVa, { present: true, writable: old.writable, accessed: old.accessed, dirty: old.dirty, frame: old.frame }, 'plain');
  return { frame: old.frame, dirty: old.dirty };
}
