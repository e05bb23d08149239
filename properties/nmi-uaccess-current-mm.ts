import { NONE, ref, type Sort, type StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';

/**
 * nmi-uaccess-current-mm: an NMI handler's user-memory access that
 * nmi_uaccess_okay() allowed (copy_from_user_nmi) translates the address
 * through the page tables of the interrupted task's mm (current->mm): the
 * TLB entry it uses, or the walk that fills one, came from a page-table page
 * of current->mm. This is what nmi_uaccess_okay() promises in
 * arch/x86/include/asm/tlbflush.h ("The condition we want to check is
 * current_mm->pgd == __va(read_cr3_pa())"), checked conservatively as
 * loaded_mm == current->mm, relying on switch_mm_irqs_off() setting loaded_mm
 * to LOADED_MM_SWITCHING before it writes CR3.
 *
 * During switch_mm_irqs_off() (context_switch() runs it before switch_to())
 * `current` is still the previous task, so current->mm is prev's mm while CR3
 * may already point at next's page tables.
 *
 * Ghost: the model latches `wrongMmUaccess` with the CPU of the first NMI
 * access through another mm's page-table page (`wrongMmUaccessFields`).
 */
export function wrongMmUaccessFields(CPU: Sort) {
  return { wrongMmUaccess: ref(CPU, { none: true }) };
}
type G = { wrongMmUaccess: number };

export function nmiUaccessCurrentMm<D extends StateDecl>(): InvariantDef<D> {
  const g = (s: unknown) => s as G;
  return {
    doc: "An NMI's user access allowed by nmi_uaccess_okay() goes through current->mm's page tables.",
    holds: (s) => g(s).wrongMmUaccess === NONE,
    explain: (s) => `CPU${g(s).wrongMmUaccess}: an NMI read user memory through another mm's page tables while nmi_uaccess_okay() said current->mm was loaded`,
  };
}
