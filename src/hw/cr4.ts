/**
 * CR4.PGE and CR4.PCIDE as per-CPU state, for models whose race depends on
 * them. Opt-in: a model that does not spread `cr4Fields()` into its state
 * runs every CPU with PGE=1 and PCIDE=1, as Linux does from boot.
 *
 * The rules (Intel SDM Vol. 3A):
 * - §4.10.4.1: MOV to CR4 invalidates all TLB entries, global ones included,
 *   and all paging-structure-cache entries of all PCIDs when it changes
 *   CR4.PGE, or when it changes CR4.PCIDE from 1 to 0.
 * - §4.10.2.4: with PGE=0 the G bit is ignored: no TLB entry is global.
 * - §4.10.1: with PCIDE=0 the current PCID is always 000H, and a MOV to CR3
 *   always invalidates the non-global entries of PCID 000H (bit 63 of the
 *   source is reserved then).
 * - MOV to CR4 (Vol. 2B): setting PCIDE needs CR3[11:0] = 000H (#GP
 *   otherwise). A model that does that is wrong, so it gets an error.
 *
 * The MOV to CR4 itself, and Linux's global flush without INVPCID
 * (native_flush_tlb_global(): toggle PGE twice with IRQs off), are
 * `cr4Write` and `nativeFlushTlbGlobal` in invalidate.ts.
 */
import { array, bool } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from './shape.js';

export function cr4Fields(sh: Pick<HwShape, 'CPU'>, init: { pge?: boolean; pcide?: boolean } = {}) {
  return {
    cr4Pge: array(sh.CPU, bool({ init: init.pge ?? true })),
    cr4Pcide: array(sh.CPU, bool({ init: init.pcide ?? true })),
  };
}
export type Cr4View = View<ReturnType<typeof cr4Fields>>;

export interface Cr4 {
  pge: boolean;
  pcide: boolean;
}

/** CPU c's CR4.PGE (on when the model has no CR4 fields). For walks and fills: no allocation. */
export const cr4PgeOf = (s: unknown, c: number): boolean => (s as Partial<Cr4View>).cr4Pge?.[c] ?? true;
/** CPU c's CR4.PCIDE (on when the model has no CR4 fields). */
export const cr4PcideOf = (s: unknown, c: number): boolean => (s as Partial<Cr4View>).cr4Pcide?.[c] ?? true;

/** CPU c's CR4.PGE and CR4.PCIDE. */
export function cr4Of(s: unknown, c: number): Cr4 {
  return { pge: cr4PgeOf(s, c), pcide: cr4PcideOf(s, c) };
}
