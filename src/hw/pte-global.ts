/**
 * The G (global) bit of leaf PTEs, for models that map kernel pages that may
 * be global (SDM §4.10.2.4: with CR4.PGE=1 a TLB entry filled from a leaf
 * with G=1 is global and may be used under any PCID; MOV to CR3 and INVPCID
 * types 1/3 keep it, INVLPG of its address and INVPCID type 2 drop it).
 * A model that spreads `pteGlobalFields()` into its state gets G from the
 * walker (walk.ts, access.ts); without it every leaf is non-global, as user
 * PTEs always are.
 */
import { array, bool } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from './shape.js';

export function pteGlobalFields(sh: Pick<HwShape, 'PAGE' | 'tables'>) {
  return {
    /** G bit of each leaf PTE (set by the kernel's store of the PTE; CR4.PGE assumed on). */
    pteGlobal: array(sh.tables, array(sh.PAGE, bool())),
  };
}
export type PteGlobalView = View<ReturnType<typeof pteGlobalFields>>;

/** The G bit a walk of page-table page t for va reads (false when the model has no G bits). */
export function pteGlobalOf(s: unknown, t: number, va: number): boolean {
  return (s as Partial<PteGlobalView>).pteGlobal?.[t]?.[va] ?? false;
}

/** Part of a kernel PTE store: set the leaf's G bit (the model must have pteGlobalFields to set it). */
export function setPteGlobal(s: unknown, t: number, va: number, g: boolean): void {
  const a = (s as Partial<PteGlobalView>).pteGlobal;
  if (a) a[t]![va] = g;
  else if (g) throw new Error('setPteGlobal: the model has no pteGlobal field (spread pteGlobalFields into its state)');
}
