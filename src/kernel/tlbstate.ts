/**
 * Per-CPU struct tlb_state (cpu_tlbstate) and tlb_state_shared (is_lazy):
 * loaded_mm (LOADED_MM_SWITCHING while switch_mm_irqs_off runs),
 * loaded_mm_asid, next_asid, ctxs[asid] = {ctx_id, tlb_gen}.
 * ctxs[asid].tlb_gen is the kernel's invariant: this CPU's TLB holds no entry
 * for that ASID older than that generation (arch/x86/include/asm/tlbflush.h).
 */
import { array, bool, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { KernelShape } from './shape.js';

/** (struct mm_struct *)1UL in the kernel. */
export const LOADED_MM_SWITCHING = -1;

export function tlbStateFields(k: KernelShape, init: { loadedMm?: number } = {}) {
  const { CPU, mms, asids, maxGen } = k;
  return {
    loadedMm: array(CPU, int(LOADED_MM_SWITCHING, mms - 1, { init: init.loadedMm ?? 0 })),
    loadedAsid: array(CPU, int(0, asids - 1)),
    nextAsid: array(CPU, int(0, asids - 1)),
    /** ctxs[asid].ctx_id (0 = slot unused). */
    ctxCtxId: array(CPU, array(asids, int(0, mms))),
    ctxTlbGen: array(CPU, array(asids, int(0, maxGen))),
    /** cpu_tlbstate_shared.is_lazy: read remotely by should_flush_tlb(). */
    isLazy: array(CPU, bool()),
  };
}
export type TlbStateView = View<ReturnType<typeof tlbStateFields>>;

/**
 * nmi_uaccess_okay(): an NMI may touch user memory only if the loaded mm is
 * current's mm (so not lazy in a kernel thread, not mid-switch).
 * `currentMm` is the mm of the task the NMI interrupted (NONE for a kthread).
 */
export function nmiUaccessOkay(s: TlbStateView, c: number, currentMm: number): boolean {
  const lm = s.loadedMm[c]!;
  return lm !== LOADED_MM_SWITCHING && lm === currentMm && !s.isLazy[c];
}
