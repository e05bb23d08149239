/**
 * Per-CPU struct tlb_state (cpu_tlbstate) and tlb_state_shared (is_lazy):
 * loaded_mm (LOADED_MM_SWITCHING while switch_mm_irqs_off runs),
 * loaded_mm_asid, next_asid, ctxs[asid] = {ctx_id, tlb_gen}.
 * ctxs[asid].tlb_gen is the kernel's invariant: this CPU's TLB holds no entry
 * for that ASID older than that generation (arch/x86/include/asm/tlbflush.h).
 */
import { array, bool, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { defineSbKind, forwarded, loc, storeTo } from '../hw/store-buffer.js';
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

// ---------------------------------------------------- TSO (hw/store-buffer.ts)
// loaded_mm and is_lazy are written with plain per-CPU stores
// (this_cpu_write) and read remotely by should_flush_tlb(): under TSO the
// owner's stores sit in its store buffer. Their owner reads them through
// the helpers below (store forwarding); remote readers read the fields.

const mmName = (v: number) => (v === LOADED_MM_SWITCHING ? 'LOADED_MM_SWITCHING' : `mm${v}`);
defineSbKind('loaded_mm', {
  read: (s: TlbStateView, l) => s.loadedMm[l.cpu]!,
  write: (s: TlbStateView, l, v) => void (s.loadedMm[l.cpu] = v),
  show: (_l, v) => `loaded_mm=${mmName(v)}`,
});
defineSbKind('is_lazy', {
  read: (s: TlbStateView, l) => (s.isLazy[l.cpu] ? 1 : 0),
  write: (s: TlbStateView, l, v) => void (s.isLazy[l.cpu] = v !== 0),
  show: (_l, v) => `is_lazy=${v}`,
});
const loadedMmLoc = (c: number) => loc('loaded_mm', { cpu: c });
const isLazyLoc = (c: number) => loc('is_lazy', { cpu: c });

/** this_cpu_read(cpu_tlbstate.loaded_mm) on CPU c. */
export function ownLoadedMm(s: TlbStateView, c: number): number {
  return forwarded(s, c, loadedMmLoc(c)) ?? s.loadedMm[c]!;
}
/** this_cpu_read(cpu_tlbstate_shared.is_lazy) on CPU c. */
export function ownIsLazy(s: TlbStateView, c: number): boolean {
  const v = forwarded(s, c, isLazyLoc(c));
  return v === undefined ? s.isLazy[c]! : v !== 0;
}
/** this_cpu_write(cpu_tlbstate.loaded_mm, mm) on CPU c. */
export function setLoadedMm(s: TlbStateView, c: number, mm: number): void {
  storeTo(s, c, loadedMmLoc(c), mm);
}
/** this_cpu_write(cpu_tlbstate_shared.is_lazy, v) on CPU c. */
export function setIsLazy(s: TlbStateView, c: number, v: boolean): void {
  storeTo(s, c, isLazyLoc(c), v ? 1 : 0);
}

/**
 * nmi_uaccess_okay(): an NMI may touch user memory only if the loaded mm is
 * current's mm (so not lazy in a kernel thread, not mid-switch).
 * `currentMm` is the mm of the task the NMI interrupted (NONE for a kthread).
 */
export function nmiUaccessOkay(s: TlbStateView, c: number, currentMm: number): boolean {
  const lm = ownLoadedMm(s, c);
  return lm !== LOADED_MM_SWITCHING && lm === currentMm && !ownIsLazy(s, c);
}
